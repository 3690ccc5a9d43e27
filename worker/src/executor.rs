//! Runs one task attempt on a blocking thread and reports its outcome to the coordinator.

use std::sync::Arc;
use std::time::Duration;

use fathom_core::task::{TaskDefinition, TaskKind, TaskOutput};
use fathom_proto::pb;
use tokio::runtime::Handle;
use tracing::{info, instrument, warn};

use crate::error::WorkerError;
use crate::reduce::run_reduce;
use crate::scan::run_scan;
use crate::{CancelFlag, WorkerContext};

#[instrument(skip_all, fields(task_id = %task.task_id, attempt = task.attempt))]
pub async fn execute(
    task: TaskDefinition,
    context: Arc<WorkerContext>,
    cancel: CancelFlag,
) -> Result<TaskOutput, WorkerError> {
    failpoint_delay(&cancel).await;
    let runtime = Handle::current();
    let relative = format!("{}/s{}-t{}-a{}", task.task_id.job_id, task.task_id.stage, task.task_id.index, task.attempt);
    let joined = tokio::task::spawn_blocking(move || match &task.kind {
        TaskKind::Scan(scan) => {
            run_scan(scan, &runtime, &context.config.shuffle_dir, &relative, &context.advertised_address, &cancel)
        }
        TaskKind::Reduce(reduce) => run_reduce(&task, reduce, &context, &runtime, &cancel),
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
                lost_worker_id: error.lost_worker().unwrap_or_default().to_string(),
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
        match context.coordinator().report_task_status(request.clone()).await {
            Ok(_) => {
                info!(task_id = %task.task_id, attempt = task.attempt, "task reported");
                return;
            }
            Err(status) => {
                warn!(task_id = %task.task_id, report_attempt = attempt, %status, "cannot report task, retrying");
                context.next_coordinator();
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
    warn!(task_id = %task.task_id, "giving up reporting task; the coordinator will time it out");
}

/// Testing aid: `FATHOM_FAILPOINT_TASK_DELAY_MS` makes every task wait that long before it
/// starts (still cancellable), so that fault-injection tests can kill a worker mid-stage
/// without depending on how fast the machine is. Unset in normal operation.
async fn failpoint_delay(cancel: &CancelFlag) {
    let Some(delay) = std::env::var("FATHOM_FAILPOINT_TASK_DELAY_MS").ok().and_then(|text| text.parse::<u64>().ok())
    else {
        return;
    };
    let deadline = tokio::time::Instant::now() + Duration::from_millis(delay);
    while tokio::time::Instant::now() < deadline && cancel.check().is_ok() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
