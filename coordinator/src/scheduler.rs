//! The scheduler: hands runnable tasks to free worker slots, takes the workers' reports of how
//! the attempts ended, and re-runs the work of workers that stop heartbeating.
//!
//! One scheduling pass assigns every free slot it can and sends each worker all of its new
//! attempts in one `LaunchTasks` call; workers report finished attempts in batches too. A stage
//! of thousands of short tasks therefore costs a few RPCs per worker per pass, not two per task.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fathom_core::ids::{JobId, TaskId, WorkerId};
use fathom_core::job::JobState;
use fathom_core::task::{TaskDefinition, TaskOutput};
use fathom_proto::{WorkerServiceClient, pb};
use tracing::warn;

use crate::execution_graph::FailureOutcome;
use crate::job_manager::{JobManager, State};
use crate::{CoordinatorError, metrics};

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Partitions per shuffle; default: twice the registered slots, at least 2.
    pub partitions: Option<u32>,
    /// A worker silent this long is considered dead and its tasks re-run elsewhere.
    pub worker_timeout: Duration,
    /// A job with work to do and no worker at all fails after this long.
    pub no_worker_timeout: Duration,
    /// Bytes of input per scan task; default: enough tasks to keep every slot busy a few times.
    pub target_scan_bytes: Option<u64>,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            partitions: None,
            worker_timeout: Duration::from_secs(10),
            no_worker_timeout: Duration::from_secs(60),
            target_scan_bytes: None,
        }
    }
}

/// Why a task attempt failed, as its worker reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFailure {
    pub message: String,
    pub retryable: bool,
    /// The worker whose shuffle output could not be fetched, if that is what failed.
    pub lost_worker: Option<WorkerId>,
}

/// How one task attempt ended.
#[derive(Debug, Clone)]
pub struct TaskReport {
    pub task_id: TaskId,
    pub attempt: u32,
    pub outcome: Result<TaskOutput, TaskFailure>,
}

/// The attempts of one scheduling pass that go to one worker.
struct LaunchBatch {
    worker_id: WorkerId,
    client: WorkerServiceClient<tonic::transport::Channel>,
    tasks: Vec<(JobId, TaskDefinition)>,
}

impl JobManager {
    /// Applies a worker's reports, all under one lock, then wakes the scheduler once.
    pub fn report_tasks(
        self: &Arc<Self>,
        worker_id: WorkerId,
        reports: Vec<TaskReport>,
    ) -> Result<(), CoordinatorError> {
        self.require_leader()?;
        let mut commits = Vec::new();
        {
            let mut state = self.lock();
            for report in reports {
                if let Some(job_id) = apply_report(&mut state, &worker_id, report) {
                    commits.push(job_id);
                }
            }
        }
        for job_id in commits {
            let manager = self.clone();
            tokio::spawn(async move { manager.commit_job(job_id).await });
        }
        self.wake.notify_one();
        Ok(())
    }

    /// The scheduler loop: assigns runnable tasks to free slots whenever something changes,
    /// and checks worker liveness on a tick.
    pub async fn run_scheduler(self: Arc<Self>) {
        loop {
            let _ = tokio::time::timeout(Duration::from_millis(250), self.wake.notified()).await;
            self.expire_workers();
            for batch in self.assign() {
                tokio::spawn(self.clone().launch(batch));
            }
        }
    }

    async fn launch(self: Arc<Self>, batch: LaunchBatch) {
        let LaunchBatch { worker_id, mut client, tasks } = batch;
        let request = pb::LaunchTasksRequest { tasks: tasks.iter().map(|(_, definition)| definition.into()).collect() };
        let Err(status) = client.launch_tasks(request).await else {
            return;
        };
        warn!(%worker_id, tasks = tasks.len(), %status, "task launch failed, requeueing");
        {
            let mut state = self.lock();
            for (job_id, definition) in &tasks {
                state.registry.release_slot(&worker_id);
                if let Some(graph) = state.jobs.get_mut(job_id).and_then(|job| job.graph.as_mut()) {
                    graph.launch_failed(&definition.task_id, definition.attempt);
                }
            }
        }
        // Back off a little so a broken worker does not spin the scheduler.
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.wake.notify_one();
    }

    fn expire_workers(&self) {
        let mut state = self.lock();
        if state.epoch.is_none() {
            return;
        }
        for worker_id in state.registry.expire(self.config.worker_timeout) {
            warn!(%worker_id, "worker missed heartbeats, removing it");
            metrics::increment(&metrics::WORKERS_LOST);
            requeue_worker_tasks(&mut state, &worker_id);
        }
    }

    fn assign(&self) -> Vec<LaunchBatch> {
        let mut state = self.lock();
        if state.epoch.is_none() {
            return Vec::new();
        }
        let State { jobs, order, registry, cleanups, .. } = &mut *state;
        // Ended jobs: every worker may hold shuffle files of theirs, which are now garbage.
        for (job_id, job) in jobs.iter_mut() {
            if job.state.is_terminal() && !job.cleaned_up {
                job.cleaned_up = true;
                for worker_id in registry.worker_ids() {
                    cleanups.entry(worker_id).or_default().push(job_id.clone());
                }
            }
        }
        let mut batches: Vec<LaunchBatch> = Vec::new();
        let no_workers = registry.is_empty();
        'jobs: for job_id in order.iter() {
            let Some(job) = jobs.get_mut(job_id) else {
                continue;
            };
            if job.state != JobState::Running {
                continue;
            }
            let Some(graph) = job.graph.as_mut() else {
                continue;
            };
            if !graph.has_runnable() || !no_workers {
                job.starved_since = None;
            } else if job.starved_since.get_or_insert_with(Instant::now).elapsed() > self.config.no_worker_timeout {
                job.fail(format!(
                    "no workers available for {}s; start workers with `fathom-worker --coordinator URL`",
                    self.config.no_worker_timeout.as_secs()
                ));
                continue;
            }
            for (stage, index) in graph.runnable(registry.free_slots()) {
                let Some((worker_id, client)) = registry.take_slot() else {
                    break 'jobs;
                };
                let definition = graph.launch(stage, index, &worker_id);
                metrics::increment(&metrics::TASKS_LAUNCHED);
                let task = (job_id.clone(), definition);
                match batches.iter_mut().find(|batch| batch.worker_id == worker_id) {
                    Some(batch) => batch.tasks.push(task),
                    None => batches.push(LaunchBatch { worker_id, client, tasks: vec![task] }),
                }
            }
        }
        batches
    }
}

/// Applies one report; returns the job if it is now complete and must be committed.
fn apply_report(state: &mut State, worker_id: &WorkerId, report: TaskReport) -> Option<JobId> {
    let TaskReport { task_id, attempt, outcome } = report;
    let State { jobs, registry, .. } = state;
    let job = jobs.get_mut(&task_id.job_id)?;
    let graph = job.graph.as_mut()?;
    // Only the report of an attempt still running there frees its slot: a report sent twice
    // (its first delivery's answer was lost) or one that lost a race with a requeue must not
    // free a slot that another attempt now holds.
    if !graph.is_running_on(&task_id, attempt, worker_id) {
        return None;
    }
    registry.release_slot(worker_id);
    if job.state != JobState::Running {
        // A cancelled or failed job: the attempt is over, nothing else to do.
        graph.attempt_ended(&task_id, attempt);
        return None;
    }
    match outcome {
        Ok(output) => {
            if graph.succeed(&task_id, attempt, worker_id.clone(), output) && graph.is_complete() {
                job.state = JobState::Committing;
                job.commit_started = Some(Instant::now());
                return Some(task_id.job_id.clone());
            }
        }
        Err(failure) => {
            metrics::increment(&metrics::TASK_FAILURES);
            let outcome = match &failure.lost_worker {
                Some(lost) => graph.fetch_failed(&task_id, attempt, lost),
                None => graph.fail(&task_id, attempt, failure.retryable),
            };
            let message = failure.message;
            match outcome {
                FailureOutcome::Retrying => warn!(task_id = %task_id, attempt, %message, "task failed, retrying"),
                FailureOutcome::JobFailed => {
                    let attempts = attempt + 1;
                    job.fail(format!("task {task_id} failed after {attempts} attempt(s): {message}"));
                }
                FailureOutcome::Stale => {}
            }
        }
    }
    None
}

pub(crate) fn requeue_worker_tasks(state: &mut State, worker_id: &WorkerId) {
    for job in state.jobs.values_mut() {
        if let Some(graph) = job.graph.as_mut() {
            let requeued = graph.worker_lost(worker_id);
            if requeued > 0 {
                warn!(job = %job.name, %worker_id, requeued, "re-running tasks of a lost worker");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tonic::transport::Endpoint;

    use super::*;
    use crate::job_manager::Job;
    use crate::test_support::{SPEC, graph};
    use crate::worker_registry::WorkerEntry;

    fn state_with_one_job() -> (State, JobId, WorkerId) {
        let job_id = JobId::new("j");
        let mut job = Job::new(
            "t".into(),
            SPEC.into(),
            "file:///raw/".into(),
            vec![],
            JobState::Running,
            None,
            BTreeMap::new(),
            Instant::now(),
        );
        job.graph = Some(graph());
        let mut state = State::default();
        state.jobs.insert(job_id.clone(), job);
        state.order.push(job_id.clone());
        let worker = WorkerId::new("w");
        let client = WorkerServiceClient::new(Endpoint::from_static("http://127.0.0.1:9").connect_lazy());
        state.registry.register(
            worker.clone(),
            WorkerEntry { address: "127.0.0.1:9".into(), slots: 1, running: 0, last_heartbeat: Instant::now(), client },
        );
        (state, job_id, worker)
    }

    #[tokio::test]
    async fn a_report_delivered_twice_frees_its_slot_once() {
        let (mut state, job_id, worker) = state_with_one_job();
        // Two attempts launched on the worker's room (one slot, two attempts per slot).
        let mut launched = Vec::new();
        for index in 0..2 {
            let (taken, _) = state.registry.take_slot().expect("room");
            assert_eq!(taken, worker);
            let graph = state.jobs.get_mut(&job_id).and_then(|job| job.graph.as_mut()).expect("graph");
            launched.push(graph.launch(0, index, &worker));
        }
        assert_eq!(state.registry.free_slots(), 0);
        let report = |definition: &fathom_core::task::TaskDefinition| TaskReport {
            task_id: definition.task_id.clone(),
            attempt: definition.attempt,
            outcome: Ok(TaskOutput::default()),
        };
        apply_report(&mut state, &worker, report(&launched[0]));
        assert_eq!(state.registry.free_slots(), 1);
        // The same report again (its first answer was lost): the other attempt keeps its room.
        apply_report(&mut state, &worker, report(&launched[0]));
        assert_eq!(state.registry.free_slots(), 1, "a duplicate report must not free a slot");
        apply_report(&mut state, &worker, report(&launched[1]));
        assert_eq!(state.registry.free_slots(), 2);
    }
}
