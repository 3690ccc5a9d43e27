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
mod reporter;
pub mod scan;
mod service;
pub mod shuffle;
mod shuffle_server;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fathom_proto::{CoordinatorServiceClient, MAX_MESSAGE_BYTES, WorkerServiceServer, pb};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint};
use tracing::{info, warn};

pub use error::WorkerError;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub worker_id: String,
    /// `http://host:port` of the coordinator; with several coordinators, all of them,
    /// comma-separated: the worker follows whichever leads.
    pub coordinator_url: String,
    pub slots: u32,
    /// Where shuffle files are written; must be readable by the reducers.
    pub shuffle_dir: PathBuf,
    pub heartbeat_interval: Duration,
    /// `host:port` the coordinator dials; `None` means the listener's own address.
    pub advertise_address: Option<String>,
}

/// Set when the coordinator asks a running attempt to stop; tasks check it between files,
/// batches and outputs.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<std::sync::atomic::AtomicBool>);

impl CancelFlag {
    pub fn cancel(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn check(&self) -> Result<(), WorkerError> {
        if self.0.load(std::sync::atomic::Ordering::Relaxed) { Err(WorkerError::Cancelled) } else { Ok(()) }
    }
}

type AttemptKey = (fathom_core::ids::TaskId, u32);

pub struct WorkerContext {
    /// Running attempts and their cancel flags.
    pub running: std::sync::Mutex<std::collections::HashMap<AttemptKey, CancelFlag>>,
    pub config: WorkerConfig,
    /// `host:port` the coordinator and other workers use to reach this worker.
    pub advertised_address: String,
    /// Permits to run: `slots` of them.
    pub slots: Arc<Semaphore>,
    /// Permits to hold an attempt, running or queued: `slots * TASKS_PER_SLOT` of them.
    pub admission: Arc<Semaphore>,
    /// Outcomes of finished attempts, sent to the coordinator by [`reporter::run_reporter`].
    pub reports: tokio::sync::mpsc::UnboundedSender<pb::TaskReport>,
    coordinators: Vec<CoordinatorServiceClient<Channel>>,
    /// Index of the coordinator believed to lead; moved on when it fails or refuses.
    current: std::sync::atomic::AtomicUsize,
}

impl WorkerContext {
    /// The coordinator believed to lead.
    pub fn coordinator(&self) -> CoordinatorServiceClient<Channel> {
        let index = self.current.load(std::sync::atomic::Ordering::Relaxed) % self.coordinators.len();
        self.coordinators[index].clone()
    }

    /// Moves on to the next coordinator after a failure or a standby's refusal.
    pub fn next_coordinator(&self) {
        self.current.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("invalid coordinator url {url:?}")]
    CoordinatorUrl {
        url: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("no coordinator url given")]
    NoCoordinator,
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
    let mut coordinators = Vec::new();
    for url in config.coordinator_url.split(',').map(str::trim).filter(|url| !url.is_empty()) {
        let channel = Endpoint::from_shared(url.to_string())
            .map_err(|source| RunError::CoordinatorUrl { url: url.to_string(), source })?
            .connect_timeout(Duration::from_secs(5))
            .connect_lazy();
        coordinators.push(
            CoordinatorServiceClient::new(channel)
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        );
    }
    if coordinators.is_empty() {
        return Err(RunError::NoCoordinator);
    }
    let advertised_address = config.advertise_address.clone().unwrap_or_else(|| address.to_string());
    let (reports, report_queue) = tokio::sync::mpsc::unbounded_channel();
    let context = Arc::new(WorkerContext {
        reports,
        slots: Arc::new(Semaphore::new(config.slots.max(1) as usize)),
        admission: Arc::new(Semaphore::new((config.slots.max(1) * fathom_core::TASKS_PER_SLOT) as usize)),
        coordinators,
        current: Default::default(),
        advertised_address: advertised_address.clone(),
        running: Default::default(),
        config,
    });

    let heartbeat = tokio::spawn(register_and_heartbeat(context.clone(), advertised_address));
    let reporter = tokio::spawn(reporter::run_reporter(context.clone(), report_queue));
    let flight = arrow_flight::flight_service_server::FlightServiceServer::new(shuffle_server::ShuffleFlightService {
        shuffle_root: context.config.shuffle_dir.clone(),
    })
    .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let service = WorkerServiceServer::new(service::WorkerServiceImpl { context: context.clone() })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    info!(worker_id = %context.config.worker_id, %address, slots = context.config.slots, "worker listening");
    let served = tonic::transport::Server::builder()
        .add_service(service)
        .add_service(flight)
        // Without TCP_NODELAY, small responses wait on the peer's delayed ACK (40 ms each):
        // a shuffle fetch or a task launch would take tens of milliseconds instead of one.
        .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), shutdown)
        .await;
    heartbeat.abort();
    reporter.abort();
    served.map_err(RunError::Serve)
}

async fn register(context: &WorkerContext, address: &str) -> bool {
    let request = pb::RegisterWorkerRequest {
        worker_id: context.config.worker_id.clone(),
        address: address.to_string(),
        slots: context.config.slots,
        protocol_version: fathom_core::PROTOCOL_VERSION,
    };
    match context.coordinator().register_worker(request).await {
        Ok(_) => {
            info!(worker_id = %context.config.worker_id, "registered with coordinator");
            true
        }
        Err(status) => {
            warn!(%status, "cannot register with coordinator, trying the next one");
            context.next_coordinator();
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
            match context.coordinator().heartbeat(request).await {
                Ok(response) => {
                    let response = response.into_inner();
                    registered = !response.reregister;
                    cancel_attempts(&context, response.cancel);
                    delete_shuffle_files(&context, response.finished_jobs);
                }
                Err(status) => {
                    warn!(%status, "heartbeat failed, trying the next coordinator");
                    context.next_coordinator();
                    registered = false;
                }
            }
        }
        tokio::time::sleep(if registered { interval } else { interval.min(Duration::from_millis(200)) }).await;
    }
}

fn cancel_attempts(context: &WorkerContext, attempts: Vec<pb::TaskAttempt>) {
    let running = context.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    for attempt in attempts {
        let Some(task_id) = attempt.task_id else {
            continue;
        };
        if let Some(flag) = running.get(&(task_id.into(), attempt.attempt)) {
            info!(attempt = attempt.attempt, "cancelling task");
            flag.cancel();
        }
    }
}

/// Deletes the shuffle files of ended jobs (on a blocking thread: it is file-system work).
fn delete_shuffle_files(context: &WorkerContext, jobs: Vec<String>) {
    for job in jobs {
        // Job ids are names the coordinator made; refuse anything that could leave the root.
        if job.is_empty() || job.contains('/') || job.contains("..") {
            continue;
        }
        let directory = context.config.shuffle_dir.join(&job);
        tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&directory) {
            Ok(()) => info!(directory = %directory.display(), "deleted shuffle files of an ended job"),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => warn!(%error, directory = %directory.display(), "cannot delete shuffle files"),
        });
    }
}
