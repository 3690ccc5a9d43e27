//! `fathom-coordinator`: flags -> [`fathom_coordinator::run`].

use std::time::Duration;

use clap::Parser;
use std::sync::Arc;

use fathom_coordinator::etcd_store::EtcdStore;
use fathom_coordinator::state_store::{InMemoryStore, StateStore};
use fathom_coordinator::{JobManager, SchedulerConfig, http, serve};

/// The Fathom coordinator: accepts jobs and schedules them on workers.
#[derive(Parser, Debug)]
#[command(version)]
struct Flags {
    /// Address to serve the gRPC API on.
    #[arg(long, env = "FATHOM_LISTEN", default_value = "127.0.0.1:7070")]
    listen: String,
    /// Address for the HTTP endpoints /healthz, /readyz and /metrics.
    #[arg(long, env = "FATHOM_HTTP_LISTEN", default_value = "127.0.0.1:9090")]
    http_listen: String,
    /// etcd endpoints (comma-separated) for job state and leader election; without them the
    /// state is in memory and this is the only coordinator.
    #[arg(long, env = "FATHOM_ETCD", value_delimiter = ',')]
    etcd: Vec<String>,
    /// Key prefix in etcd; coordinators sharing it form one control plane.
    #[arg(long, env = "FATHOM_ETCD_PREFIX", default_value = "/fathom")]
    etcd_prefix: String,
    /// The address other processes reach this coordinator at (published while it leads);
    /// defaults to the listen address.
    #[arg(long, env = "FATHOM_ADVERTISE_ADDRESS")]
    advertise_address: Option<String>,
    /// Partitions per shuffle; default: twice the registered worker slots.
    #[arg(long, env = "FATHOM_PARTITIONS")]
    partitions: Option<u32>,
    /// Input bytes per scan task (small files are packed up to it); default: sized to the cluster.
    #[arg(long, env = "FATHOM_TARGET_SCAN_BYTES")]
    target_scan_bytes: Option<u64>,
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
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let flags = Flags::parse();
    let listener = tokio::net::TcpListener::bind(&flags.listen).await?;
    let http_listener = tokio::net::TcpListener::bind(&flags.http_listen).await?;
    // Machine-readable first lines: harnesses start the coordinator on port 0 and read them.
    println!("fathom-coordinator listening on {}", listener.local_addr()?);
    println!("fathom-coordinator http on {}", http_listener.local_addr()?);
    let scheduler = SchedulerConfig {
        partitions: flags.partitions,
        worker_timeout: Duration::from_secs(flags.worker_timeout_secs),
        no_worker_timeout: Duration::from_secs(flags.no_worker_timeout_secs),
        target_scan_bytes: flags.target_scan_bytes,
    };
    let advertised = flags.advertise_address.clone().unwrap_or(format!("http://{}", listener.local_addr()?));
    let store: Arc<dyn StateStore> = if flags.etcd.is_empty() {
        Arc::new(InMemoryStore::default())
    } else {
        Arc::new(EtcdStore::connect(&flags.etcd, &flags.etcd_prefix).await?)
    };
    let manager = JobManager::new(scheduler, store, advertised);
    tokio::spawn(http::serve(http_listener, manager.clone(), async {
        let _ = tokio::signal::ctrl_c().await;
    }));
    serve(manager, listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
