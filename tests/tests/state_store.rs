//! The etcd state store passes the same conformance suite as the in-memory one, against a
//! real etcd server.

use std::sync::Arc;

use fathom_coordinator::etcd_store::EtcdStore;
use fathom_coordinator::state_store::{StateStore, conformance};
use fathom_tests::etcd::EtcdServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_store_conforms() -> anyhow::Result<()> {
    let etcd = EtcdServer::start()?;
    let endpoints = vec![etcd.endpoint.clone()];
    // Two connections, as two coordinators would have.
    let first: Arc<dyn StateStore> = Arc::new(EtcdStore::connect(&endpoints, "/fathom-test").await?);
    let second: Arc<dyn StateStore> = Arc::new(EtcdStore::connect(&endpoints, "/fathom-test").await?);
    conformance::run(first, second).await;
    Ok(())
}
