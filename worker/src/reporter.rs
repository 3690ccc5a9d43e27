//! Sends task outcomes to the coordinator, batched.
//!
//! Finished attempts queue their reports on a channel; one loop sends whatever is queued when
//! the previous report returns. An idle worker reports each task at once; a busy one sends a
//! few large reports instead of one RPC per task, which is what lets a stage of thousands of
//! short tasks finish in about the time its work takes.

use std::sync::Arc;
use std::time::Duration;

use fathom_proto::pb;
use tokio::sync::mpsc::UnboundedReceiver;
use tracing::{debug, warn};

use crate::WorkerContext;

/// Reports per RPC at most, so that one message stays far below the gRPC size limit.
const MAX_REPORTS_PER_RPC: usize = 512;

/// Attempts to deliver one batch before giving up on it (about a minute of backoff).
const DELIVERY_ATTEMPTS: u32 = 30;

/// Runs until every sender is gone.
pub async fn run_reporter(context: Arc<WorkerContext>, mut queue: UnboundedReceiver<pb::TaskReport>) {
    while let Some(first) = queue.recv().await {
        let mut reports = vec![first];
        while reports.len() < MAX_REPORTS_PER_RPC {
            match queue.try_recv() {
                Ok(report) => reports.push(report),
                Err(_) => break,
            }
        }
        deliver(&context, reports).await;
    }
}

/// Sends one batch, retrying while no coordinator takes it: losing a report would leave its
/// tasks running forever in the coordinator's eyes (until the worker itself is timed out).
async fn deliver(context: &WorkerContext, reports: Vec<pb::TaskReport>) {
    let count = reports.len();
    let request = pb::ReportTasksRequest { worker_id: context.config.worker_id.clone(), reports };
    let mut delay = Duration::from_millis(50);
    for attempt in 0..DELIVERY_ATTEMPTS {
        match context.coordinator().report_tasks(request.clone()).await {
            Ok(_) => {
                debug!(reports = count, "task reports delivered");
                return;
            }
            Err(status) => {
                warn!(reports = count, report_attempt = attempt, %status, "cannot report tasks, retrying");
                context.next_coordinator();
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
    warn!(reports = count, "giving up reporting tasks; the coordinator will time this worker out");
}
