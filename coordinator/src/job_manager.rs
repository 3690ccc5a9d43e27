//! Jobs from submission to commit, and the scheduler that hands their tasks to worker slots.
//!
//! All state sits behind one mutex that is never held across an await: handlers and the
//! scheduler loop take it, decide, release it, and only then make RPCs or do I/O.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use fathom_core::ids::{JobId, TaskId, WorkerId};
use fathom_core::job::{JobState, JobStatus, StageProgress};
use fathom_core::plan::{PlanOptions, plan};
use fathom_core::spec::JobSpec;
use fathom_core::storage;
use fathom_core::task::{TaskDefinition, TaskOutput};
use fathom_proto::{MAX_MESSAGE_BYTES, WorkerServiceClient, pb};
use tokio::sync::Notify;
use tonic::transport::Endpoint;
use tracing::{error, info, warn};

use crate::error::CoordinatorError;
use crate::execution_graph::{ExecutionGraph, FailureOutcome};
use crate::lake_commit;
use crate::worker_registry::{WorkerEntry, WorkerRegistry};

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Partitions per shuffle; default: twice the registered slots, at least 2.
    pub partitions: Option<u32>,
    /// A worker silent this long is considered dead and its tasks re-run elsewhere.
    pub worker_timeout: Duration,
    /// A job with work to do and no worker at all fails after this long.
    pub no_worker_timeout: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self { partitions: None, worker_timeout: Duration::from_secs(10), no_worker_timeout: Duration::from_secs(60) }
    }
}

struct Job {
    name: String,
    state: JobState,
    error: Option<String>,
    graph: Option<ExecutionGraph>,
    submitted: Instant,
    finished: Option<Instant>,
    commit_started: Option<Instant>,
    commit_finished: Option<Instant>,
    /// Since when runnable tasks have found no worker at all.
    starved_since: Option<Instant>,
}

impl Job {
    fn fail(&mut self, reason: String) {
        if !self.state.is_terminal() {
            warn!(job = %self.name, %reason, "job failed");
            self.state = JobState::Failed;
            self.error = Some(reason);
            self.finished = Some(Instant::now());
        }
    }
}

#[derive(Default)]
struct State {
    jobs: BTreeMap<JobId, Job>,
    /// Submission order, for first-in first-out scheduling.
    order: Vec<JobId>,
    registry: WorkerRegistry,
}

pub struct JobManager {
    state: Mutex<State>,
    wake: Notify,
    config: SchedulerConfig,
}

fn new_job_id(name: &str) -> JobId {
    let now = chrono::Utc::now();
    let nanos = now.timestamp_subsec_nanos() ^ std::process::id().rotate_left(16);
    JobId::new(format!("{name}-{}-{:04x}", now.format("%Y%m%dT%H%M%S"), nanos & 0xffff))
}

impl JobManager {
    pub fn new(config: SchedulerConfig) -> Arc<Self> {
        Arc::new(Self { state: Mutex::new(State::default()), wake: Notify::new(), config })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a bug; keep serving the state rather than cascade.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Validates and records a job; planning continues in the background.
    pub fn submit(self: &Arc<Self>, spec_toml: &str) -> Result<JobId, CoordinatorError> {
        let mut spec = JobSpec::from_toml(spec_toml).map_err(|error| CoordinatorError::InvalidSpec(Box::new(error)))?;
        absolutize_locations(&mut spec)?;
        if spec.window.is_none() {
            return Err(CoordinatorError::InvalidRequest {
                reason: "window: required to run a job (set [window] start and end)".to_string(),
            });
        }
        let job_id = new_job_id(&spec.name);
        info!(%job_id, "job submitted");
        let job = Job {
            name: spec.name.clone(),
            state: JobState::Planning,
            error: None,
            graph: None,
            submitted: Instant::now(),
            finished: None,
            commit_started: None,
            commit_finished: None,
            starved_since: None,
        };
        {
            let mut state = self.lock();
            state.jobs.insert(job_id.clone(), job);
            state.order.push(job_id.clone());
        }
        let manager = self.clone();
        let planned_id = job_id.clone();
        tokio::spawn(async move { manager.plan_job(planned_id, spec).await });
        Ok(job_id)
    }

    async fn plan_job(self: Arc<Self>, job_id: JobId, spec: JobSpec) {
        let planned = async {
            let files = storage::list_files(&spec.source.uri, &[".parquet"])
                .await
                .map_err(|error| CoordinatorError::ListInput(Box::new(error)))?;
            let total_bytes: u64 = files.iter().map(|file| file.size_bytes).sum();
            let slots = self.lock().registry.total_slots().max(1);
            let partitions = self.config.partitions.unwrap_or((slots * 2).max(2));
            // Enough scan tasks to keep every slot busy a few times over, none too large.
            let target_scan_bytes = (total_bytes / (u64::from(slots) * 4)).clamp(1 << 20, 256 << 20);
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
                job.graph = Some(ExecutionGraph::new(
                    job_id.clone(),
                    plan,
                    spec.source.timestamp.clone(),
                    spec.source.value.clone(),
                ));
                job.state = JobState::Running;
            }
            Err(error) => job.fail(error.report()),
        }
        drop(state);
        self.wake.notify_one();
    }

    pub fn status(&self, job_id: &JobId) -> Result<JobStatus, CoordinatorError> {
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
        // A worker that registers again has restarted: whatever it was running is gone.
        requeue_worker_tasks(&mut state, &worker_id);
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

    /// Returns false if the worker must register again.
    pub fn heartbeat(&self, worker_id: &WorkerId) -> bool {
        self.lock().registry.heartbeat(worker_id)
    }

    pub fn report_task(
        self: &Arc<Self>,
        worker_id: WorkerId,
        task_id: TaskId,
        attempt: u32,
        outcome: Result<TaskOutput, (String, bool)>,
    ) {
        let mut state = self.lock();
        state.registry.release_slot(&worker_id);
        let Some(job) = state.jobs.get_mut(&task_id.job_id) else {
            return;
        };
        if job.state != JobState::Running {
            return;
        }
        let Some(graph) = job.graph.as_mut() else {
            return;
        };
        match outcome {
            Ok(output) => {
                if graph.succeed(&task_id, attempt, worker_id, output) && graph.is_complete() {
                    job.state = JobState::Committing;
                    job.commit_started = Some(Instant::now());
                    let manager = self.clone();
                    let job_id = task_id.job_id.clone();
                    tokio::spawn(async move { manager.commit_job(job_id).await });
                }
            }
            Err((message, retryable)) => match graph.fail(&task_id, attempt, retryable) {
                FailureOutcome::Retrying => warn!(task_id = %task_id, attempt, %message, "task failed, retrying"),
                FailureOutcome::JobFailed => {
                    let attempts = attempt + 1;
                    job.fail(format!("task {task_id} failed after {attempts} attempt(s): {message}"));
                }
                FailureOutcome::Stale => {}
            },
        }
        drop(state);
        self.wake.notify_one();
    }

    async fn commit_job(self: Arc<Self>, job_id: JobId) {
        let work = {
            let state = self.lock();
            let Some(graph) = state.jobs.get(&job_id).and_then(|job| job.graph.as_ref()) else {
                return;
            };
            let columns: BTreeMap<String, Vec<String>> = graph.plan.tables().into_iter().collect();
            graph
                .lake_files()
                .into_iter()
                .map(|(table, files)| {
                    let table_columns = columns.get(&table).cloned().unwrap_or_default();
                    (table, table_columns, files)
                })
                .collect::<Vec<_>>()
        };
        let mut outcome = Ok(());
        for (table, columns, files) in &work {
            match lake_commit::commit(table, columns, job_id.as_str(), files).await {
                Ok(version) => info!(%job_id, %table, version, files = files.len(), "lake table committed"),
                Err(error) => {
                    outcome = Err(error.report());
                    break;
                }
            }
        }
        let mut state = self.lock();
        if let Some(job) = state.jobs.get_mut(&job_id) {
            job.commit_finished = Some(Instant::now());
            match outcome {
                Ok(()) => {
                    job.state = JobState::Succeeded;
                    job.finished = Some(Instant::now());
                    info!(%job_id, "job succeeded");
                }
                Err(reason) => {
                    error!(%job_id, %reason, "commit failed");
                    job.fail(reason);
                }
            }
        }
    }

    /// The scheduler: assigns runnable tasks to free slots whenever something changes, and
    /// checks worker liveness on a tick.
    pub async fn run_scheduler(self: Arc<Self>) {
        loop {
            let _ = tokio::time::timeout(Duration::from_millis(250), self.wake.notified()).await;
            self.expire_workers();
            let launches = self.assign();
            for (job_id, worker_id, mut client, definition) in launches {
                let manager = self.clone();
                tokio::spawn(async move {
                    let request = pb::LaunchTaskRequest { task: Some((&definition).into()) };
                    if let Err(status) = client.launch_task(request).await {
                        warn!(task_id = %definition.task_id, %worker_id, %status, "task launch failed, requeueing");
                        {
                            let mut state = manager.lock();
                            state.registry.release_slot(&worker_id);
                            if let Some(graph) = state.jobs.get_mut(&job_id).and_then(|job| job.graph.as_mut()) {
                                graph.launch_failed(&definition.task_id, definition.attempt);
                            }
                        }
                        // Back off a little so a broken worker does not spin the scheduler.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        manager.wake.notify_one();
                    }
                });
            }
        }
    }

    fn expire_workers(&self) {
        let mut state = self.lock();
        for worker_id in state.registry.expire(self.config.worker_timeout) {
            warn!(%worker_id, "worker missed heartbeats, removing it");
            requeue_worker_tasks(&mut state, &worker_id);
        }
    }

    fn assign(&self) -> Vec<(JobId, WorkerId, WorkerServiceClient<tonic::transport::Channel>, TaskDefinition)> {
        let mut state = self.lock();
        let State { jobs, order, registry } = &mut *state;
        let mut launches = Vec::new();
        let no_workers = registry.is_empty();
        for job_id in order.iter() {
            let Some(job) = jobs.get_mut(job_id) else {
                continue;
            };
            if job.state != JobState::Running {
                continue;
            }
            let Some(graph) = job.graph.as_mut() else {
                continue;
            };
            let runnable = graph.runnable();
            if runnable.is_empty() || !no_workers {
                job.starved_since = None;
            } else if job.starved_since.get_or_insert_with(Instant::now).elapsed() > self.config.no_worker_timeout {
                job.fail(format!(
                    "no workers available for {}s; start workers with `fathom-worker --coordinator URL`",
                    self.config.no_worker_timeout.as_secs()
                ));
                continue;
            }
            for (stage, index) in runnable {
                let Some((worker_id, client)) = registry.take_slot() else {
                    return launches;
                };
                let definition = graph.launch(stage, index, &worker_id);
                launches.push((job_id.clone(), worker_id, client, definition));
            }
        }
        launches
    }

    pub fn worker_count(&self) -> usize {
        self.lock().registry.len()
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
    for fathom_core::spec::SinkSpec::Lake(sink) in &mut spec.sinks {
        sink.uri = resolve(&sink.uri)?.trim_end_matches('/').to_string();
    }
    Ok(())
}

fn requeue_worker_tasks(state: &mut State, worker_id: &WorkerId) {
    for job in state.jobs.values_mut() {
        if let Some(graph) = job.graph.as_mut() {
            let requeued = graph.requeue_worker(worker_id);
            if requeued > 0 {
                warn!(job = %job.name, %worker_id, requeued, "re-running tasks of a lost worker");
            }
        }
    }
}
