//! The worker's gRPC service: accepts task attempts into free slots.

use std::sync::Arc;

use fathom_core::task::TaskDefinition;
use fathom_proto::{WorkerService, pb};
use tonic::{Request, Response, Status};
use tracing::{info, instrument};

use crate::WorkerContext;
use crate::executor::{execute, report};

pub struct WorkerServiceImpl {
    pub context: Arc<WorkerContext>,
}

#[tonic::async_trait]
impl WorkerService for WorkerServiceImpl {
    #[instrument(skip_all)]
    async fn launch_task(
        &self,
        request: Request<pb::LaunchTaskRequest>,
    ) -> Result<Response<pb::LaunchTaskResponse>, Status> {
        let wire = request.into_inner().task.ok_or_else(|| Status::invalid_argument("launch request has no task"))?;
        let task = TaskDefinition::try_from(wire).map_err(|error| Status::invalid_argument(error.to_string()))?;
        let permit = self
            .context
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| Status::resource_exhausted("no free slot on this worker"))?;
        info!(task_id = %task.task_id, attempt = task.attempt, "task accepted");
        let context = self.context.clone();
        let key = (task.task_id.clone(), task.attempt);
        let cancel = crate::CancelFlag::default();
        context.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(key.clone(), cancel.clone());
        tokio::spawn(async move {
            let outcome = execute(task.clone(), context.clone(), cancel).await;
            context.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&key);
            drop(permit);
            report(&context, &task, outcome).await;
        });
        Ok(Response::new(pb::LaunchTaskResponse {}))
    }
}
