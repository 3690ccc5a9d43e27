//! [`StateStore`] on etcd v3: a leader key held by a lease, and job records under a prefix.
//!
//! - Election: `campaign` creates `<prefix>/leader` only if absent (`create_revision == 0`),
//!   attached to a lease that a background task keeps alive. The key's create revision is the
//!   epoch. If the leader dies its lease expires after [`LEASE_TTL_SECS`] and a standby's
//!   campaign succeeds.
//! - Fencing: every job write is a transaction guarded by `create_revision(leader) == epoch`,
//!   so a deposed leader (paused, partitioned, or just slow to notice) cannot overwrite state.

use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{Client, Compare, CompareOp, ConnectOptions, GetOptions, PutOptions, Txn, TxnOp};
use tokio::sync::Mutex;
use tracing::{info, warn};

use crate::state_store::{Epoch, JobRecord, StateStore, StoreError};

/// Seconds a dead leader's key outlives it: the failover time is about this plus a retry.
pub const LEASE_TTL_SECS: i64 = 5;

pub struct EtcdStore {
    client: Client,
    prefix: String,
    /// The lease behind our leadership, if we hold it.
    lease: Mutex<Option<i64>>,
}

fn backend(doing: &'static str) -> impl FnOnce(etcd_client::Error) -> StoreError {
    move |error| StoreError::Backend { doing, reason: error.to_string() }
}

impl EtcdStore {
    /// Connects to the endpoints (`http://127.0.0.1:2379,...`); keys live under `prefix`.
    pub async fn connect(endpoints: &[String], prefix: &str) -> Result<Self, StoreError> {
        let options =
            ConnectOptions::new().with_connect_timeout(Duration::from_secs(5)).with_timeout(Duration::from_secs(5));
        let client = Client::connect(endpoints, Some(options)).await.map_err(backend("connect"))?;
        Ok(Self { client, prefix: prefix.trim_end_matches('/').to_string(), lease: Mutex::new(None) })
    }

    fn leader_key(&self) -> String {
        format!("{}/leader", self.prefix)
    }

    fn job_key(&self, job_id: &str) -> String {
        format!("{}/jobs/{job_id}", self.prefix)
    }

    async fn current_epoch(&self) -> Result<Option<(String, Epoch)>, StoreError> {
        let response =
            self.client.clone().get(self.leader_key(), None).await.map_err(backend("read the leader key"))?;
        Ok(response
            .kvs()
            .first()
            .map(|kv| (String::from_utf8_lossy(kv.value()).to_string(), Epoch(kv.create_revision()))))
    }
}

#[async_trait]
impl StateStore for EtcdStore {
    async fn campaign(&self, candidate: &str) -> Result<Epoch, StoreError> {
        let mut client = self.client.clone();
        loop {
            let lease = client.lease_grant(LEASE_TTL_SECS, None).await.map_err(backend("grant a lease"))?.id();
            let txn = Txn::new()
                .when([Compare::create_revision(self.leader_key(), CompareOp::Equal, 0)])
                .and_then([TxnOp::put(self.leader_key(), candidate, Some(PutOptions::new().with_lease(lease)))]);
            let response = client.txn(txn).await.map_err(backend("campaign"))?;
            if response.succeeded() {
                let epoch = Epoch(response.header().map(|header| header.revision()).unwrap_or_default());
                *self.lease.lock().await = Some(lease);
                let (mut keeper, mut responses) =
                    client.lease_keep_alive(lease).await.map_err(backend("keep the lease alive"))?;
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_secs((LEASE_TTL_SECS / 3).max(1) as u64)).await;
                        if keeper.keep_alive().await.is_err() {
                            break;
                        }
                        match responses.message().await {
                            Ok(Some(response)) if response.ttl() > 0 => {}
                            _ => break,
                        }
                    }
                    warn!("leader lease keep-alive stopped");
                });
                info!(candidate, epoch = epoch.0, "won the leader election");
                return Ok(epoch);
            }
            let _ = client.lease_revoke(lease).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn lost(&self, epoch: Epoch) {
        loop {
            match self.current_epoch().await {
                Ok(Some((_, current))) if current == epoch => {}
                Ok(_) => return,
                Err(error) => warn!(%error, "cannot check leadership"),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn resign(&self, epoch: Epoch) -> Result<(), StoreError> {
        let lease = self.lease.lock().await.take();
        if let (Some(lease), Ok(Some((_, current)))) = (lease, self.current_epoch().await)
            && current == epoch
        {
            self.client.clone().lease_revoke(lease).await.map_err(backend("resign"))?;
        }
        Ok(())
    }

    async fn leader(&self) -> Result<Option<String>, StoreError> {
        Ok(self.current_epoch().await?.map(|(id, _)| id))
    }

    async fn put_job(&self, epoch: Epoch, record: &JobRecord) -> Result<(), StoreError> {
        let value = serde_json::to_vec(record)
            .map_err(|error| StoreError::Corrupt { job_id: record.job_id.clone(), reason: error.to_string() })?;
        let txn = Txn::new()
            .when([Compare::create_revision(self.leader_key(), CompareOp::Equal, epoch.0)])
            .and_then([TxnOp::put(self.job_key(&record.job_id), value, None)]);
        let response = self.client.clone().txn(txn).await.map_err(backend("write a job record"))?;
        if response.succeeded() { Ok(()) } else { Err(StoreError::Fenced { epoch: epoch.0 }) }
    }

    async fn list_jobs(&self) -> Result<Vec<JobRecord>, StoreError> {
        let prefix = format!("{}/jobs/", self.prefix);
        let response = self
            .client
            .clone()
            .get(prefix, Some(GetOptions::new().with_prefix()))
            .await
            .map_err(backend("list job records"))?;
        response
            .kvs()
            .iter()
            .map(|kv| {
                serde_json::from_slice(kv.value()).map_err(|error| StoreError::Corrupt {
                    job_id: String::from_utf8_lossy(kv.key()).to_string(),
                    reason: error.to_string(),
                })
            })
            .collect()
    }
}
