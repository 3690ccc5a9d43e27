//! `fathom-coordinator`: flags -> [`fathom_coordinator::run`].

use std::time::Duration;

use clap::Parser;
use fathom_coordinator::{CoordinatorConfig, SchedulerConfig, run};

/// The Fathom coordinator: accepts jobs and schedules them on workers.
#[derive(Parser, Debug)]
#[command(version)]
struct Flags {
    /// Address to serve the gRPC API on.
    #[arg(long, env = "FATHOM_LISTEN", default_value = "127.0.0.1:7070")]
    listen: String,
    /// Partitions per shuffle; default: twice the registered worker slots.
    #[arg(long, env = "FATHOM_PARTITIONS")]
    partitions: Option<u32>,
    /// Seconds without a heartbeat after which a worker is considered dead.
    #[arg(long, env = "FATHOM_WORKER_TIMEOUT_SECS", default_value_t = 10)]
    worker_timeout_secs: u64,
    /// Seconds a job with pending work waits for any worker before it fails.
    #[arg(long, env = "FATHOM_NO_WORKER_TIMEOUT_SECS", default_value_t = 60)]
    no_worker_timeout_secs: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let flags = Flags::parse();
    let listener = tokio::net::TcpListener::bind(&flags.listen).await?;
    let config = CoordinatorConfig {
        scheduler: SchedulerConfig {
            partitions: flags.partitions,
            worker_timeout: Duration::from_secs(flags.worker_timeout_secs),
            no_worker_timeout: Duration::from_secs(flags.no_worker_timeout_secs),
        },
    };
    run(config, listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
