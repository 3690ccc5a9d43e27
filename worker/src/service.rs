//! The worker's gRPC service: accepts task attempts into free slots.

use std::sync::Arc;

use fathom_core::task::TaskDefinition;
use fathom_proto::{WorkerService, pb};
use tonic::{Request, Response, Status};
use tracing::{debug, info, instrument};

use crate::WorkerContext;
use crate::executor::{execute, outcome_report};

pub struct WorkerServiceImpl {
    pub context: Arc<WorkerContext>,
}

#[tonic::async_trait]
impl WorkerService for WorkerServiceImpl {
    #[instrument(skip_all, fields(tasks = request.get_ref().tasks.len()))]
    async fn launch_tasks(
        &self,
        request: Request<pb::LaunchTasksRequest>,
    ) -> Result<Response<pb::LaunchTasksResponse>, Status> {
        let tasks = request
            .into_inner()
            .tasks
            .into_iter()
            .map(|wire| TaskDefinition::try_from(wire).map_err(|error| Status::invalid_argument(error.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        // All or nothing: room for every task before any is admitted, so a refused launch
        // leaves nothing behind that the coordinator does not know of.
        let mut admissions = Vec::with_capacity(tasks.len());
        for _ in &tasks {
            let admission = self
                .context
                .admission
                .clone()
                .try_acquire_owned()
                .map_err(|_| Status::resource_exhausted("no room for another task on this worker"))?;
            admissions.push(admission);
        }
        info!(tasks = tasks.len(), "tasks accepted");
        for (task, admission) in tasks.into_iter().zip(admissions) {
            debug!(task_id = %task.task_id, attempt = task.attempt, "task accepted");
            let context = self.context.clone();
            let key = (task.task_id.clone(), task.attempt);
            let cancel = crate::CancelFlag::default();
            context.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(key.clone(), cancel.clone());
            tokio::spawn(async move {
                // Queued until a slot is free; the semaphore is never closed.
                let slot = context.slots.clone().acquire_owned().await;
                let outcome = execute(task, context.clone(), cancel).await;
                context.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&key);
                drop((slot, admission));
                // The reporter outlives every task; a closed channel means the worker is stopping.
                let _ = context.reports.send(outcome_report(&key.0, key.1, outcome));
            });
        }
        Ok(Response::new(pb::LaunchTasksResponse {}))
    }
}
