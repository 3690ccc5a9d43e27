//! Two coordinators sharing state in a real etcd: SIGKILL the leader mid-job; the standby takes
//! over, resumes the job after its last completed stage, and the table holds exactly the rows
//! of a fault-free run.

use std::time::{Duration, Instant};

use fathom_client::generate::{GenOptions, generate};
use fathom_client::{EmbeddedOptions, run_embedded};
use fathom_coordinator::etcd_store::EtcdStore;
use fathom_coordinator::state_store::StateStore;
use fathom_core::job::JobState;
use fathom_tests::cluster::Cluster;
use fathom_tests::etcd::EtcdServer;
use fathom_tests::{anomaly_rows, demo_spec};

const START: i64 = 1_767_571_200_000_000; // 2026-01-05T00:00:00Z

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_takes_over_and_resumes_from_the_last_completed_stage() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let options = GenOptions {
        series: 200,
        days: 7,
        step_micros: 600_000_000,
        start_micros: START,
        out: data.path().to_path_buf(),
        seed: 5,
        anomaly_fraction: 0.2,
    };
    generate(&options, &|_, _| {})?;
    let spec = demo_spec(data.path()).replace("end = \"2026-02-04T00:00:00Z\"", "end = \"2026-01-12T00:00:00Z\"");
    let reference_spec = spec.replace("/lake/anomalies", "/lake/reference");
    let reference =
        run_embedded(&reference_spec, EmbeddedOptions { workers: 1, slots_per_worker: 2, partitions: Some(4) }).await?;
    assert_eq!(reference.state, JobState::Succeeded, "{:?}", reference.error);
    let (expected_count, expected) = anomaly_rows(&data.path().join("lake/reference"))?;

    let etcd = EtcdServer::start()?;
    let mut cluster = Cluster::builder()
        .coordinators_with_etcd(2, &etcd.endpoint)
        .workers(2)
        .slots(1)
        .partitions(4)
        .worker_env("FATHOM_FAILPOINT_TASK_DELAY_MS", "1500")
        // Per-task "task accepted" lines are debug-level.
        .worker_env("RUST_LOG", "info,fathom_worker=debug")
        .start()?;
    let job = cluster.submit(&spec).await?;

    // Wait until the scan stage is complete and recorded in etcd, and the reduce stage runs.
    cluster
        .wait_until(&job, Duration::from_secs(60), |status| {
            status.stages.get(1).is_some_and(|stage| stage.tasks_running > 0)
        })
        .await?;
    let prefix = format!("/fathom-{}", cluster.dir().display());
    let store = EtcdStore::connect(std::slice::from_ref(&etcd.endpoint), &prefix).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !store.list_jobs().await?.iter().any(|record| record.completed_stages.contains_key(&0)) {
        assert!(Instant::now() < deadline, "the completed scan stage was never recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let leader = cluster.leader().await.expect("a leader");
    let killed_at = Instant::now();
    cluster.kill_coordinator(leader)?;
    let standby = 1 - leader;
    while cluster.leader().await != Some(standby) {
        assert!(killed_at.elapsed() < Duration::from_secs(15), "the standby did not take over within 15 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let status = cluster.wait_for_end(&job, Duration::from_secs(120)).await?;
    assert_eq!(status.state, JobState::Succeeded, "{:?}", status.error);
    let (count, actual) = anomaly_rows(&data.path().join("lake/anomalies"))?;
    assert_eq!(count, expected_count, "no duplicate or lost rows");
    assert_eq!(actual, expected);

    // The scan stage ran once: every scan task was accepted by a worker exactly once.
    let scan_tasks = status.stages[0].tasks_total as usize;
    let mut launches = 0;
    for index in 0..2 {
        let log = std::fs::read_to_string(cluster.worker_log(index))?;
        launches += log.lines().filter(|line| line.contains("task accepted") && line.contains("/s0/")).count();
    }
    let standby_log = std::fs::read_to_string(cluster.coordinator_log(standby))?;
    assert_eq!(
        launches, scan_tasks,
        "completed stages are not run again after a failover; standby log:\n{standby_log}"
    );
    assert!(standby_log.contains("not running it again"), "the standby restored the scan stage");
    Ok(())
}
