//! The coordinator's gRPC service: a thin layer from wire types to the [`JobManager`].

use std::sync::Arc;

use fathom_core::ids::{JobId, WorkerId};
use fathom_core::task::TaskOutput;
use fathom_proto::{CoordinatorService, pb};
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::error::CoordinatorError;
use crate::job_manager::JobManager;
use crate::scheduler::{TaskFailure, TaskReport};

pub struct CoordinatorServiceImpl {
    pub manager: Arc<JobManager>,
}

impl CoordinatorServiceImpl {
    /// Maps a manager error to a status; a standby says who leads, so clients and workers
    /// (which try every coordinator they were given) move on.
    async fn check<T>(&self, result: Result<T, CoordinatorError>) -> Result<T, Status> {
        match result {
            Ok(value) => Ok(value),
            Err(CoordinatorError::NotLeader) => Err(Status::failed_precondition(format!(
                "this coordinator is a standby; the leader is {}",
                self.manager.leader_hint().await
            ))),
            Err(error) => Err(error.into()),
        }
    }
}

#[tonic::async_trait]
impl CoordinatorService for CoordinatorServiceImpl {
    #[instrument(skip_all)]
    async fn submit_job(
        &self,
        request: Request<pb::SubmitJobRequest>,
    ) -> Result<Response<pb::SubmitJobResponse>, Status> {
        let job_id = self.check(self.manager.submit_durably(&request.into_inner().spec_toml).await).await?;
        Ok(Response::new(pb::SubmitJobResponse { job_id: job_id.to_string() }))
    }

    #[instrument(skip_all, fields(job_id = %request.get_ref().job_id))]
    async fn get_job_status(
        &self,
        request: Request<pb::GetJobStatusRequest>,
    ) -> Result<Response<pb::JobStatus>, Status> {
        let status = self.check(self.manager.status(&JobId::new(request.into_inner().job_id))).await?;
        Ok(Response::new((&status).into()))
    }

    #[instrument(skip_all, fields(worker_id = %request.get_ref().worker_id))]
    async fn register_worker(
        &self,
        request: Request<pb::RegisterWorkerRequest>,
    ) -> Result<Response<pb::RegisterWorkerResponse>, Status> {
        self.check(self.manager.register_worker(request.into_inner())).await?;
        Ok(Response::new(pb::RegisterWorkerResponse {}))
    }

    async fn heartbeat(
        &self,
        request: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        let heartbeat = self.check(self.manager.heartbeat(&WorkerId::new(request.into_inner().worker_id))).await?;
        let cancel = heartbeat
            .cancels
            .iter()
            .map(|(task_id, attempt)| pb::TaskAttempt { task_id: Some(task_id.into()), attempt: *attempt })
            .collect();
        let finished_jobs = heartbeat.finished_jobs.iter().map(ToString::to_string).collect();
        Ok(Response::new(pb::HeartbeatResponse { reregister: !heartbeat.known, cancel, finished_jobs }))
    }

    #[instrument(skip_all, fields(worker_id = %request.get_ref().worker_id, reports = request.get_ref().reports.len()))]
    async fn report_tasks(
        &self,
        request: Request<pb::ReportTasksRequest>,
    ) -> Result<Response<pb::ReportTasksResponse>, Status> {
        let request = request.into_inner();
        let reports = request.reports.into_iter().map(task_report).collect::<Result<Vec<_>, Status>>()?;
        self.check(self.manager.report_tasks(WorkerId::new(request.worker_id), reports)).await?;
        Ok(Response::new(pb::ReportTasksResponse {}))
    }

    #[instrument(skip_all)]
    async fn list_jobs(
        &self,
        _request: Request<pb::ListJobsRequest>,
    ) -> Result<Response<pb::ListJobsResponse>, Status> {
        let jobs = self
            .check(self.manager.list())
            .await?
            .into_iter()
            .map(|job| pb::JobSummary {
                job_id: job.job_id.to_string(),
                name: job.name,
                state: fathom_proto::state_to_wire(job.state) as i32,
                elapsed_ms: job.elapsed_ms,
                error: job.error.unwrap_or_default(),
            })
            .collect();
        Ok(Response::new(pb::ListJobsResponse { jobs }))
    }

    #[instrument(skip_all, fields(job_id = %request.get_ref().job_id))]
    async fn cancel_job(
        &self,
        request: Request<pb::CancelJobRequest>,
    ) -> Result<Response<pb::CancelJobResponse>, Status> {
        let state = self.check(self.manager.cancel(&JobId::new(request.into_inner().job_id))).await?;
        Ok(Response::new(pb::CancelJobResponse { state: fathom_proto::state_to_wire(state) as i32 }))
    }
}

fn task_report(report: pb::TaskReport) -> Result<TaskReport, Status> {
    let task_id = report.task_id.ok_or_else(|| Status::invalid_argument("task report has no task_id"))?.into();
    let outcome = match report.outcome.ok_or_else(|| Status::invalid_argument("task report has no outcome"))? {
        pb::task_report::Outcome::Output(output) => Ok(TaskOutput::from(output)),
        pb::task_report::Outcome::Failure(failure) => Err(TaskFailure {
            message: failure.message,
            retryable: failure.retryable,
            lost_worker: (!failure.lost_worker_id.is_empty()).then(|| WorkerId::new(failure.lost_worker_id)),
        }),
    };
    Ok(TaskReport { task_id, attempt: report.attempt, outcome })
}
