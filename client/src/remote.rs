//! The commands that talk to a running coordinator: `submit`, `status`, `jobs`, `cancel`.

use anyhow::{Context, Result, anyhow, bail};
use fathom_core::ids::JobId;
use fathom_core::job::{JobState, JobStatus};
use fathom_proto::{CoordinatorServiceClient, pb};
use tonic::transport::Channel;

use crate::follow;

/// Connects to the first coordinator in a comma-separated list that answers and is the leader.
/// A standby answers `FAILED_PRECONDITION` ("not the leader"), so the client moves on.
pub async fn connect_leader(urls: &str) -> Result<CoordinatorServiceClient<Channel>> {
    let mut errors = Vec::new();
    for url in urls.split(',').map(str::trim).filter(|url| !url.is_empty()) {
        match follow::connect(url).await {
            Ok(mut client) => match client.list_jobs(pb::ListJobsRequest {}).await {
                Ok(_) => return Ok(client),
                Err(status) => errors.push(format!("{url}: {}", status.message())),
            },
            Err(error) => errors.push(format!("{error:#}")),
        }
    }
    if errors.is_empty() {
        bail!("--coordinator is empty; give the coordinator's URL, e.g. http://127.0.0.1:7070");
    }
    Err(anyhow!("no coordinator answered as leader: {}", errors.join("; ")))
}

pub async fn status(client: &mut CoordinatorServiceClient<Channel>, job_id: &str) -> Result<JobStatus> {
    let wire = client
        .get_job_status(pb::GetJobStatusRequest { job_id: job_id.to_string() })
        .await
        .map_err(|status| anyhow!("{}", status.message()))?
        .into_inner();
    JobStatus::try_from(wire).context("the coordinator sent a malformed status")
}

pub fn status_json(status: &JobStatus) -> serde_json::Value {
    serde_json::json!({
        "job_id": status.job_id.to_string(),
        "name": status.name,
        "state": status.state.name(),
        "error": status.error,
        "elapsed_ms": status.elapsed_ms,
        "stages": status.stages.iter().map(|stage| serde_json::json!({
            "name": stage.name,
            "tasks_total": stage.tasks_total,
            "tasks_done": stage.tasks_done,
            "tasks_running": stage.tasks_running,
            "task_failures": stage.task_failures,
            "elapsed_ms": stage.elapsed_ms,
            "done": stage.done,
        })).collect::<Vec<_>>(),
        "metrics": {
            "files_read": status.metrics.files_read,
            "bytes_read": status.metrics.bytes_read,
            "rows_read": status.metrics.rows_read,
            "rows_dropped": status.metrics.rows_dropped,
            "series": status.metrics.series,
            "points": status.metrics.points,
            "anomalies": status.metrics.anomalies,
        },
        "tables": status.tables,
        "skipped_stages": status.skipped_stages,
        "skipped_files": status.skipped_files,
        "alerts": { "delivered": status.alerts_delivered, "pending": status.alerts_pending },
    })
}

/// `fathom status` as text: state, error, and a line per stage.
pub fn status_text(status: &JobStatus) -> String {
    let mut out = format!(
        "job {} ({}) {} after {:.2}s\n",
        status.job_id,
        status.name,
        status.state.name(),
        status.elapsed_ms as f64 / 1000.0
    );
    if let Some(error) = &status.error {
        out.push_str(&format!("  error: {error}\n"));
    }
    for stage in &status.stages {
        out.push_str(&format!(
            "  {:<16} {:>5}/{:<5} done  {:>4} running  {:>3} failed  {:.2}s\n",
            stage.name,
            stage.tasks_done,
            stage.tasks_total,
            stage.tasks_running,
            stage.task_failures,
            stage.elapsed_ms as f64 / 1000.0
        ));
    }
    if status.alerts_delivered + status.alerts_pending > 0 {
        out.push_str(&format!(
            "  alerts           {} delivered, {} waiting for their sink\n",
            status.alerts_delivered, status.alerts_pending
        ));
    }
    out
}

pub async fn jobs(client: &mut CoordinatorServiceClient<Channel>) -> Result<String> {
    let jobs = client
        .list_jobs(pb::ListJobsRequest {})
        .await
        .map_err(|status| anyhow!("{}", status.message()))?
        .into_inner()
        .jobs;
    let mut out = format!("{:<48} {:<12} {:>10}  {}\n", "job", "state", "elapsed", "error");
    for job in jobs {
        let state = fathom_proto::state_from_wire(job.state).map(JobState::name).unwrap_or("unknown");
        out.push_str(&format!(
            "{:<48} {:<12} {:>9.1}s  {}\n",
            job.job_id,
            state,
            job.elapsed_ms as f64 / 1000.0,
            job.error
        ));
    }
    Ok(out)
}

pub async fn cancel(client: &mut CoordinatorServiceClient<Channel>, job_id: &str) -> Result<JobState> {
    let response = client
        .cancel_job(pb::CancelJobRequest { job_id: job_id.to_string() })
        .await
        .map_err(|status| anyhow!("{}", status.message()))?
        .into_inner();
    Ok(fathom_proto::state_from_wire(response.state)?)
}

/// Submits a spec file's text; returns the job id.
pub async fn submit(client: &mut CoordinatorServiceClient<Channel>, spec_toml: &str) -> Result<JobId> {
    fathom_core::spec::JobSpec::from_toml(spec_toml)?;
    follow::submit(client, spec_toml).await
}
