//! Jobs from submission to commit; [`crate::scheduler`] hands their tasks to worker slots.
//!
//! All state sits behind one mutex that is never held across an await: handlers and the
//! scheduler loop take it, decide, release it, and only then make RPCs or do I/O.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use fathom_core::ids::{JobId, TaskId, WorkerId};
use fathom_core::job::{JobState, JobStatus, StageProgress};
use fathom_core::plan::{PlanOptions, plan};
use fathom_core::spec::{JobSpec, SinkSpec};
use fathom_core::storage;
use fathom_core::task::TaskOutput;
use fathom_proto::{MAX_MESSAGE_BYTES, WorkerServiceClient, pb};
use tokio::sync::Notify;
use tonic::transport::Endpoint;
use tracing::{info, warn};

use crate::error::CoordinatorError;
use crate::execution_graph::ExecutionGraph;
use crate::metrics;
use crate::scheduler::SchedulerConfig;
use crate::state_store::{Epoch, InMemoryStore, JobRecord, StateStore};
use crate::worker_registry::{WorkerEntry, WorkerRegistry};

pub(crate) struct Job {
    pub(crate) name: String,
    /// The spec as submitted, and its resolved locations: the durable definition of the job.
    pub(crate) spec_toml: String,
    pub(crate) source_uri: String,
    pub(crate) sink_uris: Vec<String>,
    /// The last record written to the state store (None: never written).
    pub(crate) persisted: Option<JobRecord>,
    /// Completed stages restored from the state store, applied once the job is planned.
    pub(crate) restored_stages: BTreeMap<u32, Vec<(String, TaskOutput)>>,
    pub(crate) state: JobState,
    pub(crate) error: Option<String>,
    pub(crate) graph: Option<ExecutionGraph>,
    pub(crate) submitted: Instant,
    pub(crate) finished: Option<Instant>,
    pub(crate) commit_started: Option<Instant>,
    pub(crate) commit_finished: Option<Instant>,
    /// Since when runnable tasks have found no worker at all.
    pub(crate) starved_since: Option<Instant>,
    /// Whether workers have been told to delete the job's shuffle files.
    pub(crate) cleaned_up: bool,
    /// The spec's alert sinks by sink index, parsed once.
    pub(crate) alert_sinks: BTreeMap<u32, fathom_core::spec::AlertSink>,
    /// The alert outbox (see [`crate::alert_delivery`]).
    pub(crate) pending_alerts: Vec<fathom_core::task::AlertEvent>,
    pub(crate) alerts_enqueued: bool,
    /// Alerts accepted by their sinks (this coordinator's count; the outbox is the durable part).
    pub(crate) alerts_delivered: u64,
}

impl Job {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        name: String,
        spec_toml: String,
        source_uri: String,
        sink_uris: Vec<String>,
        state: JobState,
        error: Option<String>,
        restored_stages: BTreeMap<u32, Vec<(String, TaskOutput)>>,
        submitted: Instant,
    ) -> Job {
        let finished = state.is_terminal().then_some(submitted);
        let alert_sinks = crate::alert_delivery::alert_sinks(&spec_toml);
        Job {
            alert_sinks,
            name,
            spec_toml,
            source_uri,
            sink_uris,
            persisted: None,
            restored_stages,
            state,
            error,
            graph: None,
            submitted,
            finished,
            commit_started: None,
            commit_finished: None,
            starved_since: None,
            cleaned_up: false,
            pending_alerts: Vec::new(),
            alerts_enqueued: false,
            alerts_delivered: 0,
        }
    }

    pub(crate) fn fail(&mut self, reason: String) {
        if !self.state.is_terminal() {
            metrics::increment(&metrics::JOBS_FAILED);
            warn!(job = %self.name, %reason, "job failed");
            self.state = JobState::Failed;
            self.error = Some(reason);
            self.finished = Some(Instant::now());
        }
    }
}

#[derive(Default)]
pub(crate) struct State {
    /// Our leadership, while we hold it; a standby or deposed coordinator has none and acts on nothing.
    pub(crate) epoch: Option<Epoch>,
    pub(crate) jobs: BTreeMap<JobId, Job>,
    /// Submission order, for first-in first-out scheduling.
    pub(crate) order: Vec<JobId>,
    pub(crate) registry: WorkerRegistry,
    /// Task attempts to stop, delivered to each worker with its next heartbeat.
    pub(crate) cancels: BTreeMap<WorkerId, Vec<(TaskId, u32)>>,
    /// Ended jobs whose shuffle files each worker should delete, delivered with its heartbeat.
    pub(crate) cleanups: BTreeMap<WorkerId, Vec<JobId>>,
}

/// What a worker learns from its heartbeat.
#[derive(Debug, Default)]
pub struct Heartbeat {
    /// False: the coordinator does not know the worker, which must register again.
    pub known: bool,
    /// Task attempts to stop.
    pub cancels: Vec<(TaskId, u32)>,
    /// Ended jobs whose shuffle files to delete.
    pub finished_jobs: Vec<JobId>,
}

/// One line of `fathom jobs`.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSummary {
    pub job_id: JobId,
    pub name: String,
    pub state: JobState,
    pub elapsed_ms: u64,
    pub error: Option<String>,
}

pub struct JobManager {
    state: Mutex<State>,
    pub(crate) wake: Notify,
    pub(crate) config: SchedulerConfig,
    store: Arc<dyn StateStore>,
    /// This coordinator's address, published as the leader's id.
    id: String,
}

fn new_job_id(name: &str) -> JobId {
    let now = chrono::Utc::now();
    let nanos = now.timestamp_subsec_nanos() ^ std::process::id().rotate_left(16);
    JobId::new(format!("{name}-{}-{:04x}", now.format("%Y%m%dT%H%M%S"), nanos & 0xffff))
}

impl JobManager {
    /// A manager that acts once it wins leadership in `store` (see [`Self::run_leadership`]).
    pub fn new(config: SchedulerConfig, store: Arc<dyn StateStore>, id: String) -> Arc<Self> {
        Arc::new(Self { state: Mutex::new(State::default()), wake: Notify::new(), config, store, id })
    }

    pub(crate) fn store(&self) -> &dyn StateStore {
        self.store.as_ref()
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// A manager with in-memory state that leads as soon as its leadership loop starts.
    pub fn in_memory(config: SchedulerConfig) -> Arc<Self> {
        Self::new(config, Arc::new(InMemoryStore::default()), "local".to_string())
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a bug; keep serving the state rather than cascade.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Validates and records a job; planning continues in the background.
    pub fn submit(self: &Arc<Self>, spec_toml: &str) -> Result<JobId, CoordinatorError> {
        self.require_leader()?;
        let mut spec = JobSpec::from_toml(spec_toml).map_err(|error| CoordinatorError::InvalidSpec(Box::new(error)))?;
        absolutize_locations(&mut spec)?;
        if spec.window.is_none() {
            return Err(CoordinatorError::InvalidRequest {
                reason: "window: required to run a job (set [window] start and end)".to_string(),
            });
        }
        let job_id = new_job_id(&spec.name);
        info!(%job_id, "job submitted");
        metrics::increment(&metrics::JOBS_SUBMITTED);
        let job = Job::new(
            spec.name.clone(),
            spec_toml.to_string(),
            spec.source.uri.clone(),
            sink_uris(&spec),
            JobState::Planning,
            None,
            BTreeMap::new(),
            Instant::now(),
        );
        {
            let mut state = self.lock();
            state.jobs.insert(job_id.clone(), job);
            state.order.push(job_id.clone());
        }
        let manager = self.clone();
        let planned_id = job_id.clone();
        tokio::spawn(async move { manager.plan_job(planned_id, spec, None).await });
        Ok(job_id)
    }

    /// Lists the input and plans the job; `partitions` is set when resuming a job whose plan
    /// must come out as it did before.
    pub(crate) async fn plan_job(self: Arc<Self>, job_id: JobId, spec: JobSpec, partitions: Option<u32>) {
        let planned = async {
            let files = storage::list_files(&spec.source.uri, &[spec.source.format.extension()])
                .await
                .map_err(|error| CoordinatorError::ListInput(Box::new(error)))?;
            let total_bytes: u64 = files.iter().map(|file| file.size_bytes).sum();
            let slots = self.lock().registry.total_slots().max(1);
            let partitions = partitions.or(self.config.partitions).unwrap_or((slots * 2).max(2));
            // Enough scan tasks to keep every slot busy a few times over, none too large.
            let target_scan_bytes = self
                .config
                .target_scan_bytes
                .unwrap_or((total_bytes / (u64::from(slots) * 4)).clamp(1 << 20, 256 << 20));
            plan(&spec, &files, PlanOptions { partitions, target_scan_bytes })
                .map_err(|error| CoordinatorError::Plan(Box::new(error)))
        }
        .await;
        let mut state = self.lock();
        let Some(job) = state.jobs.get_mut(&job_id) else {
            return;
        };
        match planned {
            Ok(plan) => {
                info!(%job_id, scan_tasks = plan.scan_tasks.len(), reduce_stages = plan.reduces.len(), "job planned");
                let mut graph =
                    ExecutionGraph::new(job_id.clone(), plan, spec.source.timestamp.clone(), spec.source.value.clone());
                for (stage, outputs) in std::mem::take(&mut job.restored_stages) {
                    let outputs = outputs.into_iter().map(|(worker, output)| (WorkerId::new(worker), output)).collect();
                    if graph.restore_stage(stage as usize, outputs) {
                        info!(%job_id, stage, "stage restored from the state store; not running it again");
                    }
                }
                let complete = graph.is_complete();
                job.graph = Some(graph);
                job.state = JobState::Running;
                if complete {
                    job.state = JobState::Committing;
                    job.commit_started = Some(Instant::now());
                    let manager = self.clone();
                    let job_id = job_id.clone();
                    tokio::spawn(async move { manager.commit_job(job_id).await });
                }
            }
            Err(error) => job.fail(error.report()),
        }
        drop(state);
        self.wake.notify_one();
    }

    pub fn status(&self, job_id: &JobId) -> Result<JobStatus, CoordinatorError> {
        self.require_leader()?;
        let state = self.lock();
        let job = state.jobs.get(job_id).ok_or_else(|| CoordinatorError::UnknownJob { job_id: job_id.to_string() })?;
        let mut status = JobStatus {
            job_id: job_id.clone(),
            name: job.name.clone(),
            state: job.state,
            error: job.error.clone(),
            stages: Vec::new(),
            metrics: Default::default(),
            top_anomalies: Vec::new(),
            tables: Vec::new(),
            skipped_stages: Vec::new(),
            skipped_files: Vec::new(),
            alerts_delivered: job.alerts_delivered,
            alerts_pending: job.pending_alerts.len() as u64,
            elapsed_ms: job.finished.unwrap_or_else(Instant::now).duration_since(job.submitted).as_millis() as u64,
        };
        if let Some(graph) = &job.graph {
            graph.fill_status(&mut status);
            status.state = job.state;
            let commit_ms = job
                .commit_started
                .map(|started| {
                    job.commit_finished.unwrap_or_else(Instant::now).duration_since(started).as_millis() as u64
                })
                .unwrap_or(0);
            status.stages.push(StageProgress {
                name: "commit".to_string(),
                tasks_total: 1,
                tasks_done: u32::from(job.commit_finished.is_some()),
                tasks_running: u32::from(job.commit_started.is_some() && job.commit_finished.is_none()),
                elapsed_ms: commit_ms,
                done: job.commit_finished.is_some(),
                ..StageProgress::default()
            });
        }
        Ok(status)
    }

    pub fn register_worker(&self, request: pb::RegisterWorkerRequest) -> Result<(), CoordinatorError> {
        self.require_leader()?;
        if request.protocol_version != fathom_core::PROTOCOL_VERSION {
            return Err(CoordinatorError::ProtocolMismatch {
                worker: request.protocol_version,
                coordinator: fathom_core::PROTOCOL_VERSION,
            });
        }
        let invalid = |reason: String| CoordinatorError::InvalidRequest { reason };
        let endpoint = Endpoint::from_shared(format!("http://{}", request.address))
            .map_err(|error| invalid(format!("worker address {:?}: {error}", request.address)))?
            .connect_timeout(Duration::from_secs(5));
        let client = WorkerServiceClient::new(endpoint.connect_lazy())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let worker_id = WorkerId::new(request.worker_id);
        info!(%worker_id, address = %request.address, slots = request.slots, "worker registered");
        let mut state = self.lock();
        // A worker that registers again has restarted (or we are a new leader): whatever it
        // was running for us is gone; its shuffle output may well survive, so it is kept.
        for job in state.jobs.values_mut() {
            if let Some(graph) = job.graph.as_mut() {
                graph.requeue_running(&worker_id);
            }
        }
        state.registry.register(
            worker_id,
            WorkerEntry {
                address: request.address,
                slots: request.slots.max(1),
                running: 0,
                last_heartbeat: Instant::now(),
                client,
            },
        );
        drop(state);
        self.wake.notify_one();
        Ok(())
    }

    /// Returns whether the worker is known (else it must register again) and the task
    /// attempts it must stop.
    pub fn heartbeat(&self, worker_id: &WorkerId) -> Result<Heartbeat, CoordinatorError> {
        self.require_leader()?;
        let mut state = self.lock();
        let known = state.registry.heartbeat(worker_id);
        let cancels = state.cancels.remove(worker_id).unwrap_or_default();
        let finished_jobs = state.cleanups.remove(worker_id).unwrap_or_default();
        Ok(Heartbeat { known, cancels, finished_jobs })
    }

    /// Stops a job: no new tasks, running ones told to stop, nothing committed. A job that is
    /// already over keeps its state; one that is committing can no longer be stopped.
    pub fn cancel(&self, job_id: &JobId) -> Result<JobState, CoordinatorError> {
        self.require_leader()?;
        let mut state = self.lock();
        let State { jobs, cancels, .. } = &mut *state;
        let job = jobs.get_mut(job_id).ok_or_else(|| CoordinatorError::UnknownJob { job_id: job_id.to_string() })?;
        match job.state {
            JobState::Succeeded | JobState::Failed | JobState::Cancelled => return Ok(job.state),
            JobState::Committing => return Err(CoordinatorError::CommitInProgress { job_id: job_id.to_string() }),
            JobState::Planning | JobState::Running => {}
        }
        if let Some(graph) = &job.graph {
            for (worker, task_id, attempt) in graph.running_attempts() {
                cancels.entry(worker).or_default().push((task_id, attempt));
            }
        }
        info!(%job_id, "job cancelled");
        job.state = JobState::Cancelled;
        metrics::increment(&metrics::JOBS_CANCELLED);
        job.error = Some("cancelled by request".to_string());
        job.finished = Some(Instant::now());
        Ok(JobState::Cancelled)
    }

    /// Every job, newest first.
    pub fn list(&self) -> Result<Vec<JobSummary>, CoordinatorError> {
        self.require_leader()?;
        let state = self.lock();
        Ok(state
            .order
            .iter()
            .rev()
            .filter_map(|job_id| {
                let job = state.jobs.get(job_id)?;
                Some(JobSummary {
                    job_id: job_id.clone(),
                    name: job.name.clone(),
                    state: job.state,
                    elapsed_ms: job.finished.unwrap_or_else(Instant::now).duration_since(job.submitted).as_millis()
                        as u64,
                    error: job.error.clone(),
                })
            })
            .collect())
    }

    pub fn worker_count(&self) -> usize {
        self.lock().registry.len()
    }

    pub fn active_jobs(&self) -> usize {
        self.lock().jobs.values().filter(|job| !job.state.is_terminal()).count()
    }
}

/// Makes every location in the spec an absolute URL, so that workers and later runs read and
/// write the same places whatever their working directory.
fn absolutize_locations(spec: &mut JobSpec) -> Result<(), CoordinatorError> {
    let resolve = |uri: &str| {
        storage::resolve_url(uri)
            .map(|url| url.to_string())
            .map_err(|error| CoordinatorError::InvalidRequest { reason: error.to_string() })
    };
    spec.source.uri = resolve(&spec.source.uri)?;
    for (index, sink) in spec.sinks.iter_mut().enumerate() {
        match sink {
            SinkSpec::Lake(sink) => sink.uri = resolve(&sink.uri)?.trim_end_matches('/').to_string(),
            // The secret is read when alerts are sent; a job that could never sign them is refused now.
            SinkSpec::Alerts(sink) => {
                if let Some(variable) = &sink.secret_env
                    && std::env::var_os(variable).is_none()
                {
                    return Err(CoordinatorError::InvalidRequest {
                        reason: format!(
                            "sink[{index}].secret_env: {variable} is not set in the coordinator's environment"
                        ),
                    });
                }
            }
        }
    }
    Ok(())
}

/// The lake tables' URIs, in sink order (alert sinks have none).
fn sink_uris(spec: &JobSpec) -> Vec<String> {
    spec.sinks
        .iter()
        .filter_map(|sink| match sink {
            SinkSpec::Lake(sink) => Some(sink.uri.clone()),
            SinkSpec::Alerts(_) => None,
        })
        .collect()
}
