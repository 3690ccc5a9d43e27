//! Runs one task attempt on a blocking thread and reports its outcome to the coordinator.

use std::sync::Arc;
use std::time::Duration;

use fathom_core::task::{TaskDefinition, TaskKind, TaskOutput};
use fathom_proto::pb;
use tokio::runtime::Handle;
use tracing::{info, instrument, warn};

use crate::WorkerContext;
use crate::error::WorkerError;
use crate::reduce::run_reduce;
use crate::scan::run_scan;

#[instrument(skip_all, fields(task_id = %task.task_id, attempt = task.attempt))]
pub async fn execute(task: TaskDefinition, context: Arc<WorkerContext>) -> Result<TaskOutput, WorkerError> {
    let runtime = Handle::current();
    let directory = context
        .config
        .shuffle_dir
        .join(task.task_id.job_id.as_str())
        .join(format!("s{}-t{}-a{}", task.task_id.stage, task.task_id.index, task.attempt));
    let joined = tokio::task::spawn_blocking(move || match &task.kind {
        TaskKind::Scan(scan) => run_scan(scan, &runtime, &directory),
        TaskKind::Reduce(reduce) => run_reduce(&task, reduce, &runtime),
    })
    .await;
    match joined {
        Ok(result) => result,
        Err(join_error) => Err(WorkerError::Panicked { message: join_error.to_string() }),
    }
}

/// Sends the outcome, retrying while the coordinator is unreachable: losing a report would
/// leave the task running forever in the coordinator's eyes.
pub async fn report(context: &WorkerContext, task: &TaskDefinition, outcome: Result<TaskOutput, WorkerError>) {
    let outcome = match &outcome {
        Ok(output) => pb::report_task_status_request::Outcome::Output(output.into()),
        Err(error) => {
            warn!(task_id = %task.task_id, attempt = task.attempt, error = %error.report(), "task failed");
            pb::report_task_status_request::Outcome::Failure(pb::TaskFailure {
                message: error.report(),
                retryable: error.is_retryable(),
            })
        }
    };
    let request = pb::ReportTaskStatusRequest {
        worker_id: context.config.worker_id.clone(),
        task_id: Some((&task.task_id).into()),
        attempt: task.attempt,
        outcome: Some(outcome),
    };
    let mut delay = Duration::from_millis(50);
    for attempt in 0..20 {
        match context.coordinator.clone().report_task_status(request.clone()).await {
            Ok(_) => {
                info!(task_id = %task.task_id, attempt = task.attempt, "task reported");
                return;
            }
            Err(status) => {
                warn!(task_id = %task.task_id, report_attempt = attempt, %status, "cannot report task, retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
    warn!(task_id = %task.task_id, "giving up reporting task; the coordinator will time it out");
}
