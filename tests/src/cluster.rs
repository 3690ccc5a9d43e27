//! A cluster of real processes on loopback: one `fathom-coordinator` and N `fathom-worker`
//! binaries, each started on port 0 and found by the address it prints first. Tests kill and
//! restart workers with SIGKILL, as a machine failure would, and wait by polling with a
//! timeout, never by fixed sleeps.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use fathom_core::ids::JobId;
use fathom_core::job::JobStatus;

use crate::workspace_root;

/// Builds the binaries once per test process (a no-op when `.ci/run` already built them).
fn binaries() -> Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_root().join("target"));
            let bin = target.join("debug");
            let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()));
            // Cargo sets CARGO_MANIFEST_DIR and friends for the test process; some build scripts
            // (ring's) fingerprint them, so passing them on would rebuild half the tree.
            for (name, _) in std::env::vars_os() {
                let name = name.to_string_lossy().to_string();
                let keep = ["CARGO_HOME", "CARGO_TARGET_DIR"].contains(&name.as_str())
                    || ["CARGO_NET_", "CARGO_REGISTRIES_", "CARGO_BUILD_", "CARGO_PROFILE_"]
                        .iter()
                        .any(|prefix| name.starts_with(prefix));
                if name.starts_with("CARGO_") && !keep {
                    cargo.env_remove(&name);
                }
            }
            let status = cargo
                // Exactly `cargo build --workspace`: any other target selection resolves features
                // differently and rebuilds half the tree.
                .args(["build", "--quiet", "--workspace"])
                .current_dir(workspace_root())
                .status()
                .map_err(|error| format!("cannot run cargo build: {error}"))?;
            if !status.success() {
                return Err("cargo build --workspace failed".to_string());
            }
            Ok(bin)
        })
        .clone()
        .map_err(|message| anyhow::anyhow!(message))
}

/// Starts a binary and reads the `... listening on ADDR` line it prints first.
fn spawn(binary: &str, args: &[String], envs: &[(String, String)], log: &Path) -> Result<(Child, String)> {
    let path = binaries()?.join(binary);
    let log_file = std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let mut child = Command::new(&path)
        .args(args)
        .env("RUST_LOG", "info")
        .envs(envs.iter().cloned())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("cannot start {}", path.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let line =
        receiver.recv_timeout(Duration::from_secs(30)).with_context(|| format!("{binary} printed no address"))?;
    let Some(address) = line.split("listening on ").nth(1) else {
        bail!("{binary} printed {line:?} instead of its address");
    };
    let address = address.trim().to_string();
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || while receiver.recv().is_ok() {});
    Ok((child, address))
}

#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    workers: usize,
    slots: u32,
    worker_timeout_secs: u64,
    no_worker_timeout_secs: u64,
    partitions: Option<u32>,
    worker_env: Vec<(String, String)>,
    coordinators: usize,
    etcd: Option<String>,
    /// Environment for every process, coordinators and workers alike.
    env: Vec<(String, String)>,
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        Self {
            workers: 2,
            slots: 1,
            worker_timeout_secs: 10,
            no_worker_timeout_secs: 60,
            partitions: None,
            worker_env: Vec::new(),
            coordinators: 1,
            etcd: None,
            env: Vec::new(),
        }
    }
}

impl ClusterBuilder {
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }
    pub fn slots(mut self, slots: u32) -> Self {
        self.slots = slots;
        self
    }
    pub fn worker_timeout_secs(mut self, secs: u64) -> Self {
        self.worker_timeout_secs = secs;
        self
    }
    pub fn no_worker_timeout_secs(mut self, secs: u64) -> Self {
        self.no_worker_timeout_secs = secs;
        self
    }
    pub fn partitions(mut self, partitions: u32) -> Self {
        self.partitions = Some(partitions);
        self
    }
    /// Several coordinators sharing state in etcd at `endpoint`; one leads, the others stand by.
    pub fn coordinators_with_etcd(mut self, coordinators: usize, endpoint: &str) -> Self {
        self.coordinators = coordinators;
        self.etcd = Some(endpoint.to_string());
        self
    }

    /// Environment variables for every process (e.g. object-store credentials).
    pub fn env(mut self, variables: Vec<(String, String)>) -> Self {
        self.env.extend(variables);
        self
    }

    /// An environment variable for every worker (e.g. a failpoint).
    pub fn worker_env(mut self, name: &str, value: &str) -> Self {
        self.worker_env.push((name.to_string(), value.to_string()));
        self
    }

    pub fn start(self) -> Result<Cluster> {
        let dir = tempfile::Builder::new().prefix("fathom-cluster-").tempdir()?;
        let mut args: Vec<String> = vec![
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--http-listen".into(),
            "127.0.0.1:0".into(),
            "--worker-timeout-secs".into(),
            self.worker_timeout_secs.to_string(),
            "--no-worker-timeout-secs".into(),
            self.no_worker_timeout_secs.to_string(),
        ];
        if let Some(partitions) = self.partitions {
            args.extend(["--partitions".into(), partitions.to_string()]);
        }
        if let Some(etcd) = &self.etcd {
            args.extend([
                "--etcd".into(),
                etcd.clone(),
                "--etcd-prefix".into(),
                format!("/fathom-{}", dir.path().display()),
            ]);
        }
        let mut coordinators = Vec::new();
        let mut urls = Vec::new();
        for index in 0..self.coordinators.max(1) {
            let (child, address) =
                spawn("fathom-coordinator", &args, &self.env, &dir.path().join(format!("coordinator-{index}.log")))?;
            coordinators.push(Some(child));
            urls.push(format!("http://{address}"));
        }
        let mut cluster = Cluster {
            coordinator_url: urls.join(","),
            coordinator_urls: urls,
            coordinators,
            workers: Vec::new(),
            builder: self.clone(),
            dir,
        };
        for index in 0..self.workers {
            cluster.workers.push(None);
            cluster.start_worker(index)?;
        }
        Ok(cluster)
    }
}

pub struct Cluster {
    /// Every coordinator's URL, comma-separated (what clients and workers are given).
    pub coordinator_url: String,
    pub coordinator_urls: Vec<String>,
    coordinators: Vec<Option<Child>>,
    workers: Vec<Option<Child>>,
    builder: ClusterBuilder,
    dir: tempfile::TempDir,
}

impl Cluster {
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn coordinator_log(&self, index: usize) -> PathBuf {
        self.dir.path().join(format!("coordinator-{index}.log"))
    }

    /// SIGKILLs coordinator `index`.
    pub fn kill_coordinator(&mut self, index: usize) -> Result<()> {
        if let Some(mut child) = self.coordinators.get_mut(index).and_then(Option::take) {
            child.kill().context("cannot kill coordinator")?;
            child.wait().context("cannot reap coordinator")?;
        }
        Ok(())
    }

    /// The index of the coordinator that currently answers as leader, if any.
    pub async fn leader(&self) -> Option<usize> {
        for (index, url) in self.coordinator_urls.iter().enumerate() {
            if self.coordinators[index].is_some() && fathom_client::remote::connect_leader(url).await.is_ok() {
                return Some(index);
            }
        }
        None
    }

    pub fn worker_log(&self, index: usize) -> PathBuf {
        self.dir.path().join(format!("worker-{index}.log"))
    }

    /// Starts worker `index` (again, after a kill: same id, same shuffle directory).
    pub fn start_worker(&mut self, index: usize) -> Result<()> {
        let args: Vec<String> = vec![
            "--coordinator".into(),
            self.coordinator_url.clone(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--slots".into(),
            self.builder.slots.to_string(),
            "--worker-id".into(),
            format!("worker-{index}"),
            "--shuffle-dir".into(),
            self.dir.path().join(format!("shuffle-{index}")).display().to_string(),
        ];
        let env: Vec<(String, String)> = self.builder.env.iter().chain(&self.builder.worker_env).cloned().collect();
        let (child, _) = spawn("fathom-worker", &args, &env, &self.worker_log(index))?;
        if index >= self.workers.len() {
            self.workers.resize_with(index + 1, || None);
        }
        self.workers[index] = Some(child);
        Ok(())
    }

    /// SIGKILLs worker `index`, as a crashed machine would disappear.
    pub fn kill_worker(&mut self, index: usize) -> Result<()> {
        if let Some(mut child) = self.workers.get_mut(index).and_then(Option::take) {
            child.kill().context("cannot kill worker")?;
            child.wait().context("cannot reap worker")?;
        }
        Ok(())
    }

    /// Submits once some coordinator leads (right after start-up the election may still run).
    pub async fn submit(&self, spec_toml: &str) -> Result<JobId> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut client = loop {
            match fathom_client::remote::connect_leader(&self.coordinator_url).await {
                Ok(client) => break client,
                Err(error) if Instant::now() > deadline => return Err(error),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        fathom_client::remote::submit(&mut client, spec_toml).await
    }

    pub async fn status(&self, job_id: &JobId) -> Result<JobStatus> {
        let mut client = fathom_client::remote::connect_leader(&self.coordinator_url).await?;
        fathom_client::remote::status(&mut client, job_id.as_str()).await
    }

    /// Polls the job until `done` holds for its status, or fails after `timeout`.
    pub async fn wait_until(
        &self,
        job_id: &JobId,
        timeout: Duration,
        done: impl Fn(&JobStatus) -> bool,
    ) -> Result<JobStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.status(job_id).await?;
            if done(&status) {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("timed out after {timeout:?} waiting on job {job_id}; last status: {status:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_for_end(&self, job_id: &JobId, timeout: Duration) -> Result<JobStatus> {
        self.wait_until(job_id, timeout, |status| status.state.is_terminal()).await
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.workers.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for child in self.coordinators.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls a condition with a timeout.
pub fn eventually(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while !condition() {
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}
