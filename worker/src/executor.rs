//! Runs one task attempt on a blocking thread and reports its outcome to the coordinator.

use std::sync::Arc;
use std::time::Duration;

use fathom_core::ids::TaskId;
use fathom_core::task::{TaskDefinition, TaskKind, TaskOutput};
use fathom_proto::pb;
use tokio::runtime::Handle;
use tracing::{debug, instrument, warn};

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
    // A queued attempt may have been cancelled while it waited for its slot.
    cancel.check()?;
    let runtime = Handle::current();
    let prefix = format!("{}/s{}-t{}-a{}", task.task_id.job_id, task.task_id.stage, task.task_id.index, task.attempt);
    let joined = tokio::task::spawn_blocking(move || match &task.kind {
        TaskKind::Scan(scan) => {
            run_scan(scan, &runtime, &context.config.shuffle_dir, &prefix, &context.advertised_address, &cancel)
        }
        TaskKind::Reduce(reduce) => run_reduce(&task, reduce, &context, &runtime, &cancel),
    })
    .await;
    match joined {
        Ok(result) => result,
        Err(join_error) => Err(WorkerError::Panicked { message: join_error.to_string() }),
    }
}

/// The wire report of one attempt's outcome; a failure is logged here, once.
pub fn outcome_report(task_id: &TaskId, attempt: u32, outcome: Result<TaskOutput, WorkerError>) -> pb::TaskReport {
    let outcome = match outcome {
        Ok(output) => {
            debug!(task_id = %task_id, attempt, "task finished");
            pb::task_report::Outcome::Output((&output).into())
        }
        Err(error) => {
            warn!(task_id = %task_id, attempt, error = %error.report(), "task failed");
            pb::task_report::Outcome::Failure(pb::TaskFailure {
                message: error.report(),
                retryable: error.is_retryable(),
                lost_worker_id: error.lost_worker().unwrap_or_default().to_string(),
            })
        }
    };
    pb::TaskReport { task_id: Some(task_id.into()), attempt, outcome: Some(outcome) }
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
