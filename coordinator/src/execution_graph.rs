//! One job's stages and tasks as a state machine: which tasks can run, what each attempt
//! produced, when the job is ready to commit, and when it has failed.
//!
//! Stage 0 scans; stages 1..=R reduce (one per make_series a sink needs) and start only when the
//! scan stage is complete, because every reducer needs every map task's output.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use fathom_core::ids::{JobId, TaskId, WorkerId};
use fathom_core::job::{JobState, JobStatus, StageProgress};
use fathom_core::plan::PhysicalPlan;
use fathom_core::task::{
    LakeFile, ReduceTask, ScanTask, ShuffleLocation, TaskDefinition, TaskKind, TaskMetrics, TaskOutput, keep_top,
};

/// Attempts per task before the job fails (the first run and three retries).
pub const MAX_ATTEMPTS: u32 = 4;
/// Times a task may find shuffle input gone before the job fails: each time the lost map
/// outputs are recomputed, so this only trips when workers keep dying.
pub const MAX_FETCH_FAILURES: u32 = 8;
const TOP_ANOMALIES: usize = 10;
/// Skipped input files named in a job's status (all are counted in its metrics).
const SKIPPED_FILES_LISTED: usize = 20;

#[derive(Debug, Clone, PartialEq)]
pub enum TaskStatus {
    Pending,
    Running { worker: WorkerId, attempt: u32 },
    Done { worker: WorkerId, output: Box<TaskOutput> },
}

#[derive(Debug)]
pub struct TaskState {
    pub status: TaskStatus,
    /// Attempts launched so far (the next attempt's number).
    pub attempts: u32,
    pub failures: u32,
    pub fetch_failures: u32,
}

/// One stage's tasks. Every status change goes through [`StageState::set_status`], which keeps
/// the pending set and the done count in step, so that the scheduler's questions (what can run
/// next, is the stage complete) cost O(log n) rather than a pass over thousands of tasks.
#[derive(Debug)]
pub struct StageState {
    pub name: String,
    tasks: Vec<TaskState>,
    /// Indices of the pending tasks, in launch order.
    pending: BTreeSet<usize>,
    done: usize,
    pub started: Option<Instant>,
    pub finished: Option<Instant>,
}

impl StageState {
    fn new(name: String, count: usize) -> Self {
        let tasks = (0..count)
            .map(|_| TaskState { status: TaskStatus::Pending, attempts: 0, failures: 0, fetch_failures: 0 })
            .collect();
        Self { name, tasks, pending: (0..count).collect(), done: 0, started: None, finished: None }
    }

    pub fn tasks(&self) -> &[TaskState] {
        &self.tasks
    }

    pub fn is_complete(&self) -> bool {
        self.done == self.tasks.len()
    }

    fn set_status(&mut self, index: usize, status: TaskStatus) {
        let Some(task) = self.tasks.get_mut(index) else {
            return;
        };
        match task.status {
            TaskStatus::Pending => {
                self.pending.remove(&index);
            }
            TaskStatus::Done { .. } => self.done -= 1,
            TaskStatus::Running { .. } => {}
        }
        match status {
            TaskStatus::Pending => {
                self.pending.insert(index);
            }
            TaskStatus::Done { .. } => self.done += 1,
            TaskStatus::Running { .. } => {}
        }
        task.status = status;
    }
}

/// What a failure report did to the job.
#[derive(Debug, PartialEq, Eq)]
pub enum FailureOutcome {
    Retrying,
    JobFailed,
    Stale,
}

pub struct ExecutionGraph {
    pub job_id: JobId,
    pub plan: PhysicalPlan,
    pub source_timestamp: String,
    pub source_value: String,
    pub stages: Vec<StageState>,
}

impl ExecutionGraph {
    pub fn new(job_id: JobId, plan: PhysicalPlan, source_timestamp: String, source_value: String) -> Self {
        let mut stages = vec![StageState::new("scan".to_string(), plan.scan_tasks.len())];
        for reduce in &plan.reduces {
            stages.push(StageState::new(reduce.name.clone(), reduce.shuffle.partitions as usize));
        }
        Self { job_id, plan, source_timestamp, source_value, stages }
    }

    /// Up to `limit` tasks that may be launched now, in stage order: reduce stages wait for
    /// the scan stage.
    pub fn runnable(&self, limit: usize) -> Vec<(usize, usize)> {
        let mut runnable = Vec::new();
        for (stage_index, stage) in self.stages.iter().enumerate() {
            if stage_index > 0 && !self.stages[0].is_complete() {
                break;
            }
            let room = limit - runnable.len();
            runnable.extend(stage.pending.iter().take(room).map(|&task_index| (stage_index, task_index)));
            if runnable.len() == limit {
                break;
            }
        }
        runnable
    }

    /// Whether any task may be launched now.
    pub fn has_runnable(&self) -> bool {
        !self.runnable(1).is_empty()
    }

    /// Marks a task running on `worker` and returns the definition to launch.
    pub fn launch(&mut self, stage: usize, index: usize, worker: &WorkerId) -> TaskDefinition {
        let definition = self.definition(stage, index);
        let state = &mut self.stages[stage];
        state.started.get_or_insert_with(Instant::now);
        let attempt = state.tasks[index].attempts;
        state.tasks[index].attempts += 1;
        state.set_status(index, TaskStatus::Running { worker: worker.clone(), attempt });
        definition
    }

    fn definition(&self, stage: usize, index: usize) -> TaskDefinition {
        let attempt = self.stages[stage].tasks[index].attempts;
        let task_id = TaskId { job_id: self.job_id.clone(), stage: stage as u32, index: index as u32 };
        let kind = if stage == 0 {
            TaskKind::Scan(ScanTask {
                files: self.plan.scan_tasks[index].clone(),
                skip_bad_files: self.plan.skip_bad_files,
                format: self.plan.format,
                timestamp_column: self.source_timestamp.clone(),
                value_column: self.source_value.clone(),
                window: self.plan.window,
                shuffles: self.plan.shuffles.clone(),
            })
        } else {
            let reduce = &self.plan.reduces[stage - 1];
            let inputs = self.stages[0]
                .tasks
                .iter()
                .enumerate()
                .filter_map(|(map_task, task)| match &task.status {
                    TaskStatus::Done { worker, output } => {
                        output.shuffle_prefix.as_ref().map(|prefix| ShuffleLocation {
                            worker_id: worker.to_string(),
                            address: output.shuffle_address.clone().unwrap_or_default(),
                            prefix: prefix.clone(),
                            map_task: map_task as u32,
                        })
                    }
                    _ => None,
                })
                .collect();
            TaskKind::Reduce(ReduceTask {
                job_name: self.plan.job_name.clone(),
                make_series_stage: reduce.name.clone(),
                shuffle: reduce.shuffle.clone(),
                partition: index as u32,
                fill: reduce.fill,
                window: self.plan.window,
                inputs,
                chain: reduce.chain.clone(),
                outputs: reduce.outputs.clone(),
                alerts: reduce.alerts.clone(),
            })
        };
        TaskDefinition { task_id, attempt, kind }
    }

    /// The stage of `task` if `attempt` is the one running it (else the report is stale).
    fn running_attempt(&mut self, task: &TaskId, attempt: u32) -> Option<&mut StageState> {
        let stage = self.stages.get_mut(task.stage as usize)?;
        match &stage.tasks.get(task.index as usize)?.status {
            TaskStatus::Running { attempt: running, .. } if *running == attempt => Some(stage),
            _ => None,
        }
    }

    /// Records a successful attempt; returns false for a stale report (an attempt already
    /// superseded), whose output is ignored so that it is never committed.
    pub fn succeed(&mut self, task: &TaskId, attempt: u32, worker: WorkerId, output: TaskOutput) -> bool {
        let Some(stage) = self.running_attempt(task, attempt) else {
            return false;
        };
        stage.set_status(task.index as usize, TaskStatus::Done { worker, output: Box::new(output) });
        if stage.is_complete() {
            stage.finished = Some(Instant::now());
        }
        true
    }

    pub fn fail(&mut self, task: &TaskId, attempt: u32, retryable: bool) -> FailureOutcome {
        let Some(stage) = self.running_attempt(task, attempt) else {
            return FailureOutcome::Stale;
        };
        let index = task.index as usize;
        stage.tasks[index].failures += 1;
        if retryable && stage.tasks[index].attempts < MAX_ATTEMPTS {
            stage.set_status(index, TaskStatus::Pending);
            FailureOutcome::Retrying
        } else {
            FailureOutcome::JobFailed
        }
    }

    /// A worker is gone: its running attempts go back to pending, and the shuffle output it
    /// held is lost, so its map tasks run again while any reduce stage still needs them.
    /// Returns how many tasks must run again.
    pub fn worker_lost(&mut self, worker: &WorkerId) -> usize {
        self.requeue_running(worker) + self.lose_outputs(worker)
    }

    /// Attempts running on `worker` go back to pending (it restarted, so they are gone), but
    /// its finished shuffle output is kept: if it is really gone, fetching it fails and
    /// [`Self::fetch_failed`] recomputes it.
    pub fn requeue_running(&mut self, worker: &WorkerId) -> usize {
        let mut requeued = 0;
        for stage in &mut self.stages {
            for index in 0..stage.tasks.len() {
                if matches!(&stage.tasks[index].status, TaskStatus::Running { worker: running, .. } if running == worker)
                {
                    stage.set_status(index, TaskStatus::Pending);
                    requeued += 1;
                }
            }
        }
        requeued
    }

    fn lose_outputs(&mut self, worker: &WorkerId) -> usize {
        if self.stages[1..].iter().all(StageState::is_complete) {
            return 0;
        }
        let scan = &mut self.stages[0];
        let mut lost = 0;
        for index in 0..scan.tasks.len() {
            if matches!(&scan.tasks[index].status, TaskStatus::Done { worker: done_on, .. } if done_on == worker) {
                scan.set_status(index, TaskStatus::Pending);
                lost += 1;
            }
        }
        if lost > 0 {
            scan.finished = None;
        }
        lost
    }

    /// A reduce attempt could not fetch `lost`'s shuffle output. The attempt is not held
    /// against the task (the input was at fault, not the task); the output is recomputed.
    pub fn fetch_failed(&mut self, task: &TaskId, attempt: u32, lost: &WorkerId) -> FailureOutcome {
        let Some(stage) = self.running_attempt(task, attempt) else {
            return FailureOutcome::Stale;
        };
        let index = task.index as usize;
        stage.tasks[index].fetch_failures += 1;
        if stage.tasks[index].fetch_failures > MAX_FETCH_FAILURES {
            return FailureOutcome::JobFailed;
        }
        stage.tasks[index].attempts -= 1;
        stage.set_status(index, TaskStatus::Pending);
        self.lose_outputs(lost);
        FailureOutcome::Retrying
    }

    /// The outputs of every complete stage, for the state store: (worker id, output) per task.
    pub fn completed_stages(&self) -> BTreeMap<u32, Vec<(String, TaskOutput)>> {
        self.stages
            .iter()
            .enumerate()
            .filter(|(_, stage)| stage.is_complete())
            .map(|(index, stage)| {
                let outputs = stage
                    .tasks
                    .iter()
                    .filter_map(|task| match &task.status {
                        TaskStatus::Done { worker, output } => Some((worker.to_string(), output.as_ref().clone())),
                        _ => None,
                    })
                    .collect();
                (index as u32, outputs)
            })
            .collect()
    }

    /// Marks a stage complete with outputs recorded by a previous leader. Refused (false) when
    /// the outputs do not fit the plan, in which case the stage simply runs again.
    pub fn restore_stage(&mut self, stage: usize, outputs: Vec<(WorkerId, TaskOutput)>) -> bool {
        let Some(state) = self.stages.get_mut(stage) else {
            return false;
        };
        if outputs.len() != state.tasks.len() {
            return false;
        }
        for (index, (worker, output)) in outputs.into_iter().enumerate() {
            state.set_status(index, TaskStatus::Done { worker, output: Box::new(output) });
        }
        let now = Instant::now();
        state.started = Some(now);
        state.finished = Some(now);
        true
    }

    /// Every running attempt: (worker, task, attempt).
    pub fn running_attempts(&self) -> Vec<(WorkerId, TaskId, u32)> {
        let mut running = Vec::new();
        for (stage_index, stage) in self.stages.iter().enumerate() {
            for (index, task) in stage.tasks.iter().enumerate() {
                if let TaskStatus::Running { worker, attempt } = &task.status {
                    let task_id =
                        TaskId { job_id: self.job_id.clone(), stage: stage_index as u32, index: index as u32 };
                    running.push((worker.clone(), task_id, *attempt));
                }
            }
        }
        running
    }

    /// Whether `attempt` of `task` is running on `worker`.
    pub fn is_running_on(&self, task: &TaskId, attempt: u32, worker: &WorkerId) -> bool {
        self.stages
            .get(task.stage as usize)
            .and_then(|stage| stage.tasks.get(task.index as usize))
            .is_some_and(|state| {
                matches!(&state.status, TaskStatus::Running { worker: on, attempt: running } if on == worker && *running == attempt)
            })
    }

    /// Marks an attempt of a job that is no longer running (cancelled, failed) as ended, so
    /// that a second report of it is recognised as such.
    pub fn attempt_ended(&mut self, task: &TaskId, attempt: u32) {
        if let Some(stage) = self.running_attempt(task, attempt) {
            stage.set_status(task.index as usize, TaskStatus::Pending);
        }
    }

    /// Un-launches a task whose launch RPC failed, without counting an attempt against it.
    pub fn launch_failed(&mut self, task: &TaskId, attempt: u32) {
        if let Some(stage) = self.running_attempt(task, attempt) {
            let index = task.index as usize;
            stage.tasks[index].attempts -= 1;
            stage.set_status(index, TaskStatus::Pending);
        }
    }

    pub fn is_complete(&self) -> bool {
        self.stages.iter().all(StageState::is_complete)
    }

    /// The alert events of every successful reduce attempt, and how many the tasks held back.
    pub fn alert_events(&self) -> (Vec<fathom_core::task::AlertEvent>, u64) {
        let mut events = Vec::new();
        let mut held_back = 0;
        for stage in &self.stages[1..] {
            for task in &stage.tasks {
                if let TaskStatus::Done { output, .. } = &task.status {
                    events.extend(output.alerts.iter().cloned());
                    held_back += output.alerts_held_back;
                }
            }
        }
        (events, held_back)
    }

    /// Files to commit, per table URI, from the successful attempt of every reduce task.
    pub fn lake_files(&self) -> BTreeMap<String, Vec<LakeFile>> {
        let mut files: BTreeMap<String, Vec<LakeFile>> =
            self.plan.tables().into_iter().map(|(uri, _)| (uri, Vec::new())).collect();
        for stage in &self.stages[1..] {
            for task in &stage.tasks {
                if let TaskStatus::Done { output, .. } = &task.status {
                    for file in &output.lake_files {
                        files.entry(file.table_uri.clone()).or_default().push(file.clone());
                    }
                }
            }
        }
        files
    }

    /// The progress part of a job status.
    pub fn fill_status(&self, status: &mut JobStatus) {
        let now = Instant::now();
        let mut metrics = TaskMetrics::default();
        let mut top = Vec::new();
        status.stages = self
            .stages
            .iter()
            .map(|stage| {
                let mut progress = StageProgress {
                    name: stage.name.clone(),
                    tasks_total: stage.tasks.len() as u32,
                    ..StageProgress::default()
                };
                for task in &stage.tasks {
                    progress.task_failures += task.failures;
                    match &task.status {
                        TaskStatus::Done { output, .. } => {
                            progress.tasks_done += 1;
                            metrics.add(&output.metrics);
                            top.extend(output.top_anomalies.iter().cloned());
                        }
                        TaskStatus::Running { .. } => progress.tasks_running += 1,
                        TaskStatus::Pending => {}
                    }
                }
                progress.done = stage.is_complete();
                progress.elapsed_ms = match stage.started {
                    Some(started) => stage.finished.unwrap_or(now).duration_since(started).as_millis() as u64,
                    None => 0,
                };
                progress
            })
            .collect();
        keep_top(&mut top, TOP_ANOMALIES);
        status.metrics = metrics;
        status.top_anomalies = top;
        status.tables = self.plan.tables().into_iter().map(|(uri, _)| uri).collect();
        status.skipped_stages = self.plan.skipped_stages.clone();
        status.skipped_files = self.stages[0]
            .tasks
            .iter()
            .filter_map(|task| match &task.status {
                TaskStatus::Done { output, .. } => Some(output.skipped_files.iter().cloned()),
                _ => None,
            })
            .flatten()
            .take(SKIPPED_FILES_LISTED)
            .collect();
        if status.state == JobState::Planning {
            status.state = JobState::Running;
        }
    }
}

#[cfg(test)]
mod tests;
