//! `fathom-coordinator`: accepts jobs, plans them, schedules their tasks on workers and
//! commits their results.
//!
//! - [`job_manager::JobManager`]: jobs from submission to commit.
//! - [`scheduler`]: tasks to free worker slots in batches, task reports, lost workers.
//! - [`execution_graph::ExecutionGraph`]: one job's stages and tasks as a state machine.
//! - [`worker_registry::WorkerRegistry`]: registered workers, free slots, liveness.
//! - [`lake_commit`]: one Delta Lake transaction per table per job.
//! - [`alert_delivery`]: the alert outbox, delivered to Alertmanager and webhooks.
//! - [`service`]: the gRPC surface ([`fathom_proto::CoordinatorService`]).
//!
//! [`run`] is the whole process; `main.rs` parses flags, and the embedded mode and tests call
//! `run` on a port-0 listener. State is in memory in this build.

pub mod alert_delivery;
pub mod error;
pub mod etcd_store;
pub mod execution_graph;
pub mod http;
pub mod job_manager;
pub mod lake_commit;
mod leadership;
pub mod metrics;
pub mod scheduler;
mod service;
pub mod state_store;
#[cfg(test)]
mod test_support;
pub mod worker_registry;

use std::future::Future;
use std::sync::Arc;

use fathom_proto::{CoordinatorServiceServer, MAX_MESSAGE_BYTES};
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tracing::info;

pub use error::CoordinatorError;
pub use job_manager::JobManager;
pub use scheduler::SchedulerConfig;

#[derive(Debug, Clone, Default)]
pub struct CoordinatorConfig {
    pub scheduler: SchedulerConfig,
}

/// Serves the coordinator on `listener` until `shutdown` resolves.
pub async fn run(
    config: CoordinatorConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    serve(JobManager::in_memory(config.scheduler), listener, shutdown).await
}

/// Like [`run`], with a job manager the caller keeps a handle on (the embedded mode uses it to
/// wait for its workers to register).
pub async fn serve(
    manager: Arc<JobManager>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let scheduler = tokio::spawn(manager.clone().run_scheduler());
    let leadership = tokio::spawn(manager.clone().run_leadership());
    let alerts = tokio::spawn(manager.clone().run_alert_delivery());
    let service = CoordinatorServiceServer::new(service::CoordinatorServiceImpl { manager })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    info!(address = ?listener.local_addr().ok(), "coordinator listening");
    let served = tonic::transport::Server::builder()
        .add_service(service)
        // Without TCP_NODELAY, small responses wait on the peer's delayed ACK (40 ms each):
        // a shuffle fetch or a task launch would take tens of milliseconds instead of one.
        .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), shutdown)
        .await;
    scheduler.abort();
    leadership.abort();
    alerts.abort();
    served
}
