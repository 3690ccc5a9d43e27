//! The coordinator's gRPC service: a thin layer from wire types to the [`JobManager`].

use std::sync::Arc;

use fathom_core::ids::{JobId, WorkerId};
use fathom_core::task::TaskOutput;
use fathom_proto::{CoordinatorService, pb};
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::job_manager::JobManager;

pub struct CoordinatorServiceImpl {
    pub manager: Arc<JobManager>,
}

#[tonic::async_trait]
impl CoordinatorService for CoordinatorServiceImpl {
    #[instrument(skip_all)]
    async fn submit_job(
        &self,
        request: Request<pb::SubmitJobRequest>,
    ) -> Result<Response<pb::SubmitJobResponse>, Status> {
        let job_id = self.manager.submit(&request.into_inner().spec_toml)?;
        Ok(Response::new(pb::SubmitJobResponse { job_id: job_id.to_string() }))
    }

    #[instrument(skip_all, fields(job_id = %request.get_ref().job_id))]
    async fn get_job_status(
        &self,
        request: Request<pb::GetJobStatusRequest>,
    ) -> Result<Response<pb::JobStatus>, Status> {
        let status = self.manager.status(&JobId::new(request.into_inner().job_id))?;
        Ok(Response::new((&status).into()))
    }

    #[instrument(skip_all, fields(worker_id = %request.get_ref().worker_id))]
    async fn register_worker(
        &self,
        request: Request<pb::RegisterWorkerRequest>,
    ) -> Result<Response<pb::RegisterWorkerResponse>, Status> {
        self.manager.register_worker(request.into_inner())?;
        Ok(Response::new(pb::RegisterWorkerResponse {}))
    }

    async fn heartbeat(
        &self,
        request: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        let known = self.manager.heartbeat(&WorkerId::new(request.into_inner().worker_id));
        Ok(Response::new(pb::HeartbeatResponse { reregister: !known }))
    }

    #[instrument(skip_all, fields(worker_id = %request.get_ref().worker_id))]
    async fn report_task_status(
        &self,
        request: Request<pb::ReportTaskStatusRequest>,
    ) -> Result<Response<pb::ReportTaskStatusResponse>, Status> {
        let report = request.into_inner();
        let task_id = report.task_id.ok_or_else(|| Status::invalid_argument("report has no task_id"))?.into();
        let outcome = match report.outcome.ok_or_else(|| Status::invalid_argument("report has no outcome"))? {
            pb::report_task_status_request::Outcome::Output(output) => Ok(TaskOutput::from(output)),
            pb::report_task_status_request::Outcome::Failure(failure) => Err((failure.message, failure.retryable)),
        };
        self.manager.report_task(WorkerId::new(report.worker_id), task_id, report.attempt, outcome);
        Ok(Response::new(pb::ReportTaskStatusResponse {}))
    }
}
