//! Submitting a job to a coordinator and following it to the end, with progress on a terminal.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use fathom_core::ids::JobId;
use fathom_core::job::JobStatus;
use fathom_proto::{CoordinatorServiceClient, MAX_MESSAGE_BYTES, pb};
use tonic::transport::Channel;

pub async fn connect(url: &str) -> Result<CoordinatorServiceClient<Channel>> {
    let channel = Channel::from_shared(url.to_string())
        .with_context(|| format!("invalid coordinator url {url:?}"))?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .with_context(|| format!("cannot connect to the coordinator at {url}"))?;
    Ok(CoordinatorServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES))
}

/// Submits a spec; a rejected spec comes back as an error carrying the coordinator's message.
pub async fn submit(client: &mut CoordinatorServiceClient<Channel>, spec_toml: &str) -> Result<JobId> {
    match client.submit_job(pb::SubmitJobRequest { spec_toml: spec_toml.to_string() }).await {
        Ok(response) => Ok(JobId::new(response.into_inner().job_id)),
        Err(status) if status.code() == tonic::Code::InvalidArgument => Err(anyhow!("{}", status.message())),
        Err(status) => Err(anyhow!("the coordinator refused the job: {}", status.message())),
    }
}

fn progress_line(status: &JobStatus) -> String {
    let stages: Vec<String> = status
        .stages
        .iter()
        .map(|stage| {
            if stage.done {
                format!("{} done", stage.name)
            } else {
                format!("{} {}/{}", stage.name, stage.tasks_done, stage.tasks_total)
            }
        })
        .collect();
    format!("{} [{}] {:.1}s", status.state.name(), stages.join(" | "), status.elapsed_ms as f64 / 1000.0)
}

/// Polls until the job ends. On a terminal, redraws one progress line on stderr; otherwise
/// prints a line per finished stage.
pub async fn follow(client: &mut CoordinatorServiceClient<Channel>, job_id: &JobId) -> Result<JobStatus> {
    let terminal = std::io::stderr().is_terminal();
    let mut reported_done: Vec<String> = Vec::new();
    loop {
        let status = crate::remote::status(client, job_id.as_str())
            .await
            .with_context(|| format!("cannot read the status of job {job_id}"))?;
        let mut stderr = std::io::stderr().lock();
        if terminal {
            let _ = write!(stderr, "\r\x1b[2K{}", progress_line(&status));
        } else {
            for stage in &status.stages {
                if !stage.done || reported_done.contains(&stage.name) {
                    continue;
                }
                let _ = writeln!(
                    stderr,
                    "stage {} done: {} task(s) in {:.2}s",
                    stage.name,
                    stage.tasks_total,
                    stage.elapsed_ms as f64 / 1000.0
                );
                reported_done.push(stage.name.clone());
            }
        }
        if status.state.is_terminal() {
            if terminal {
                let _ = writeln!(stderr);
            }
            return Ok(status);
        }
        drop(stderr);
        tokio::time::sleep(Duration::from_millis(if terminal { 100 } else { 50 })).await;
    }
}
