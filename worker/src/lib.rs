//! `fathom-worker`: executes tasks the coordinator assigns.
//!
//! A worker serves [`fathom_proto::WorkerService`] on a listener, registers with the
//! coordinator, heartbeats, and runs each launched task on a blocking thread:
//! - scan tasks ([`scan`]) read Parquet objects and write partitioned, pre-aggregated shuffle
//!   files ([`shuffle`]);
//! - reduce tasks ([`reduce`]) merge a partition into series, run sample/detect, and write
//!   Parquet files into the lake tables for the coordinator to commit.
//!
//! [`run`] is the whole process: `main.rs` only parses flags; tests and the embedded mode call
//! `run` on a port-0 listener.

pub mod error;
mod executor;
pub mod reduce;
pub mod scan;
mod service;
pub mod shuffle;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fathom_proto::{CoordinatorServiceClient, MAX_MESSAGE_BYTES, WorkerServiceServer, pb};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Channel, Endpoint};
use tracing::{info, warn};

pub use error::WorkerError;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub worker_id: String,
    /// `http://host:port` of the coordinator.
    pub coordinator_url: String,
    pub slots: u32,
    /// Where shuffle files are written; must be readable by the reducers.
    pub shuffle_dir: PathBuf,
    pub heartbeat_interval: Duration,
    /// `host:port` the coordinator dials; `None` means the listener's own address.
    pub advertise_address: Option<String>,
}

pub struct WorkerContext {
    pub config: WorkerConfig,
    pub slots: Arc<Semaphore>,
    pub coordinator: CoordinatorServiceClient<Channel>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("invalid coordinator url {url:?}")]
    CoordinatorUrl {
        url: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("cannot read the listener's address")]
    ListenerAddress(#[source] std::io::Error),
    #[error("worker grpc server failed")]
    Serve(#[source] tonic::transport::Error),
}

/// Runs a worker until `shutdown` resolves.
pub async fn run(
    config: WorkerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let address = listener.local_addr().map_err(RunError::ListenerAddress)?;
    let channel = Endpoint::from_shared(config.coordinator_url.clone())
        .map_err(|source| RunError::CoordinatorUrl { url: config.coordinator_url.clone(), source })?
        .connect_timeout(Duration::from_secs(5))
        .connect_lazy();
    let coordinator = CoordinatorServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let context =
        Arc::new(WorkerContext { slots: Arc::new(Semaphore::new(config.slots.max(1) as usize)), coordinator, config });

    let advertised = context.config.advertise_address.clone().unwrap_or_else(|| address.to_string());
    let heartbeat = tokio::spawn(register_and_heartbeat(context.clone(), advertised));
    let service = WorkerServiceServer::new(service::WorkerServiceImpl { context: context.clone() })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    info!(worker_id = %context.config.worker_id, %address, slots = context.config.slots, "worker listening");
    let served = tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await;
    heartbeat.abort();
    served.map_err(RunError::Serve)
}

async fn register(context: &WorkerContext, address: &str) -> bool {
    let request = pb::RegisterWorkerRequest {
        worker_id: context.config.worker_id.clone(),
        address: address.to_string(),
        slots: context.config.slots,
        protocol_version: fathom_core::PROTOCOL_VERSION,
    };
    match context.coordinator.clone().register_worker(request).await {
        Ok(_) => {
            info!(worker_id = %context.config.worker_id, "registered with coordinator");
            true
        }
        Err(status) => {
            warn!(%status, "cannot register with coordinator, retrying");
            false
        }
    }
}

async fn register_and_heartbeat(context: Arc<WorkerContext>, address: String) {
    let interval = context.config.heartbeat_interval;
    let mut registered = false;
    loop {
        if !registered {
            registered = register(&context, &address).await;
        } else {
            let running = context.config.slots as usize - context.slots.available_permits();
            let request =
                pb::HeartbeatRequest { worker_id: context.config.worker_id.clone(), running_tasks: running as u32 };
            match context.coordinator.clone().heartbeat(request).await {
                Ok(response) => registered = !response.into_inner().reregister,
                Err(status) => warn!(%status, "heartbeat failed"),
            }
        }
        tokio::time::sleep(if registered { interval } else { interval.min(Duration::from_millis(200)) }).await;
    }
}
