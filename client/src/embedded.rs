//! The embedded mode: a coordinator and N workers in this process on loopback ports, running
//! the same code as a cluster. Nothing here is a second engine: jobs go through gRPC exactly as
//! they would to remote processes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use fathom_coordinator::{JobManager, SchedulerConfig};
use fathom_worker::WorkerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct EmbeddedCluster {
    pub coordinator_url: String,
    pub manager: Arc<JobManager>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    _shuffle_dir: tempfile::TempDir,
}

fn shutdown_signal(receiver: &watch::Receiver<bool>) -> impl std::future::Future<Output = ()> + Send + 'static {
    let mut receiver = receiver.clone();
    async move {
        let _ = receiver.wait_for(|stop| *stop).await;
    }
}

impl EmbeddedCluster {
    pub async fn start(workers: usize, slots_per_worker: u32, partitions: Option<u32>) -> Result<Self> {
        let (shutdown, receiver) = watch::channel(false);
        let shuffle_dir = tempfile::Builder::new()
            .prefix("fathom-shuffle-")
            .tempdir()
            .context("cannot create a shuffle directory")?;
        let listener =
            TcpListener::bind("127.0.0.1:0").await.context("cannot bind a loopback port for the coordinator")?;
        let coordinator_url = format!("http://{}", listener.local_addr()?);
        let manager = JobManager::in_memory(SchedulerConfig { partitions, ..SchedulerConfig::default() });
        let mut tasks = Vec::new();
        let signal = shutdown_signal(&receiver);
        let served = manager.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(error) = fathom_coordinator::serve(served, listener, signal).await {
                tracing::error!(%error, "embedded coordinator stopped");
            }
        }));
        // Workers that register before the coordinator leads are refused (and say so in the
        // log); the in-memory coordinator leads within moments of starting.
        wait_for_leadership(&manager).await?;
        for index in 0..workers {
            let listener =
                TcpListener::bind("127.0.0.1:0").await.context("cannot bind a loopback port for a worker")?;
            let config = WorkerConfig {
                worker_id: format!("embedded-{index}"),
                coordinator_url: coordinator_url.clone(),
                slots: slots_per_worker,
                shuffle_dir: PathBuf::from(shuffle_dir.path()).join(format!("worker-{index}")),
                heartbeat_interval: Duration::from_millis(500),
                advertise_address: None,
            };
            let signal = shutdown_signal(&receiver);
            tasks.push(tokio::spawn(async move {
                if let Err(error) = fathom_worker::run(config, listener, signal).await {
                    tracing::error!(%error, "embedded worker stopped");
                }
            }));
        }
        wait_for_workers(&manager, workers).await?;
        Ok(Self { coordinator_url, manager, shutdown, tasks, _shuffle_dir: shuffle_dir })
    }

    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

async fn wait_for_workers(manager: &Arc<JobManager>, workers: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while manager.worker_count() < workers {
        if Instant::now() > deadline {
            bail!("only {} of {workers} embedded workers registered within 15 s", manager.worker_count());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

async fn wait_for_leadership(manager: &JobManager) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !manager.is_leader() {
        if tokio::time::Instant::now() > deadline {
            bail!("the embedded coordinator did not start leading within 10 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}
