//! `fathom-worker`: flags -> [`fathom_worker::run`].

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use fathom_worker::{WorkerConfig, run};

/// A Fathom worker: runs scan and reduce tasks for a coordinator.
#[derive(Parser, Debug)]
#[command(version)]
struct Flags {
    /// The coordinator's gRPC URL; with several coordinators, all of them, comma-separated.
    #[arg(long, env = "FATHOM_COORDINATOR", default_value = "http://127.0.0.1:7070")]
    coordinator: String,
    /// Address to serve the worker's gRPC API on (port 0 picks a free port).
    #[arg(long, env = "FATHOM_LISTEN", default_value = "127.0.0.1:0")]
    listen: String,
    /// Tasks run at once; defaults to the number of cores.
    #[arg(long, env = "FATHOM_SLOTS")]
    slots: Option<u32>,
    /// Directory for shuffle files.
    #[arg(long, env = "FATHOM_SHUFFLE_DIR", default_value = "/tmp/fathom-shuffle")]
    shuffle_dir: PathBuf,
    /// host:port the coordinator should use to reach this worker; defaults to the listen address.
    #[arg(long, env = "FATHOM_ADVERTISE_ADDRESS")]
    advertise_address: Option<String>,
    /// Worker id; defaults to a random one.
    #[arg(long, env = "FATHOM_WORKER_ID")]
    worker_id: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let flags = Flags::parse();
    let listener = tokio::net::TcpListener::bind(&flags.listen).await?;
    // A machine-readable first line: harnesses start workers on port 0 and read it.
    println!("fathom-worker listening on {}", listener.local_addr()?);
    let cores = std::thread::available_parallelism().map(|cores| cores.get() as u32).unwrap_or(1);
    let config = WorkerConfig {
        worker_id: flags.worker_id.unwrap_or_else(|| {
            format!("worker-{}-{}", std::process::id(), listener.local_addr().map(|a| a.port()).unwrap_or(0))
        }),
        coordinator_url: flags.coordinator,
        slots: flags.slots.unwrap_or(cores),
        shuffle_dir: flags.shuffle_dir,
        heartbeat_interval: Duration::from_secs(1),
        advertise_address: flags.advertise_address,
    };
    run(config, listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
