//! `fathom-client`: the `fathom` command line.
//!
//! - [`generate`]: synthetic telemetry with labelled anomalies (`fathom gen`).
//! - [`embedded`]: a coordinator and workers in one process (`fathom run`, `fathom demo`).
//! - [`follow`]: submit a job over gRPC and follow it with progress.
//! - [`remote`]: `submit`, `status`, `jobs`, `cancel` against a running coordinator.
//! - [`summary`]: the end-of-job report.
//! - [`detect_command`] and [`series_csv`]: `fathom detect` on one series from a CSV file.
//! - [`eval_command`] and [`eval_data`]: `fathom eval`, detectors scored on labelled data.

pub mod detect_command;
pub mod embedded;
pub mod eval_command;
pub mod eval_data;
pub mod follow;
pub mod generate;
pub mod remote;
pub mod series_csv;
pub mod summary;

use anyhow::{Context, Result};
use fathom_core::job::JobStatus;

/// The job `fathom demo` runs, with its paths under `fathom-demo/`.
pub const DEMO_SPEC: &str = include_str!("../../examples/demo.toml");

#[derive(Debug, Clone, Copy)]
pub struct EmbeddedOptions {
    pub workers: usize,
    pub slots_per_worker: u32,
    pub partitions: Option<u32>,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map(|cores| cores.get()).unwrap_or(1);
        let workers = 2;
        Self { workers, slots_per_worker: (cores / workers).max(1) as u32, partitions: None }
    }
}

/// How long an embedded run waits for its alert sinks before giving up on them.
const ALERT_DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Waits for the job's alerts to be delivered: the embedded mode's outbox lives in memory and
/// ends with the process, so leaving with alerts undelivered would lose them silently.
async fn drain_alerts(cluster: &embedded::EmbeddedCluster, job_id: &fathom_core::ids::JobId) -> Result<()> {
    let deadline = tokio::time::Instant::now() + ALERT_DRAIN_TIMEOUT;
    let mut announced = false;
    loop {
        let pending = cluster.manager.pending_alerts(job_id);
        if pending == 0 {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!(
                "{pending} alert(s) could not be delivered within {}s (see the log for the sink's answer); the \
                 results are committed, but an embedded run keeps no outbox once it exits: run a coordinator \
                 with --etcd for delivery that outlives the process",
                ALERT_DRAIN_TIMEOUT.as_secs()
            );
        }
        if !announced {
            eprintln!("delivering {pending} alert(s)...");
            announced = true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Runs a job spec on an embedded cluster and returns its final status (succeeded or failed).
/// A spec the coordinator rejects is an `Err` with its message.
pub async fn run_embedded(spec_toml: &str, options: EmbeddedOptions) -> Result<JobStatus> {
    // Validate locally first: a bad spec should not even start a cluster.
    fathom_core::spec::JobSpec::from_toml(spec_toml)?;
    let cluster =
        embedded::EmbeddedCluster::start(options.workers, options.slots_per_worker, options.partitions).await?;
    let outcome = async {
        let mut client = follow::connect(&cluster.coordinator_url).await?;
        let job_id = follow::submit(&mut client, spec_toml).await?;
        let status = follow::follow(&mut client, &job_id).await.context("lost track of the job")?;
        drain_alerts(&cluster, &job_id).await?;
        Ok(status)
    }
    .await;
    cluster.stop().await;
    outcome
}
