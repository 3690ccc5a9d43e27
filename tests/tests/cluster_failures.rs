//! Failure handling with real processes: a coordinator and workers as separate binaries,
//! workers SIGKILLed mid-stage, restarted, all gone; retries; cancel.

use std::path::Path;
use std::time::{Duration, Instant};

use fathom_client::generate::{GenOptions, generate};
use fathom_client::{EmbeddedOptions, run_embedded};
use fathom_core::job::JobState;
use fathom_tests::cluster::{Cluster, eventually};
use fathom_tests::{anomaly_rows, demo_spec};

const START: i64 = 1_767_571_200_000_000; // 2026-01-05T00:00:00Z

fn dataset(dir: &Path, series: usize, days: u32) -> anyhow::Result<String> {
    let options = GenOptions {
        series,
        days,
        step_micros: 600_000_000,
        start_micros: START,
        out: dir.to_path_buf(),
        seed: 11,
        anomaly_fraction: 0.2,
    };
    generate(&options, &|_, _| {})?;
    let end = format!("2026-01-{:02}T00:00:00Z", 5 + days);
    Ok(demo_spec(dir).replace("end = \"2026-02-04T00:00:00Z\"", &format!("end = \"{end}\"")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_stage_is_replaced_and_the_table_matches_a_fault_free_run() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let spec = dataset(data.path(), 300, 10)?;
    // The fault-free reference, embedded.
    let reference_spec = spec.replace("/lake/anomalies", "/lake/reference");
    let reference =
        run_embedded(&reference_spec, EmbeddedOptions { workers: 1, slots_per_worker: 2, partitions: Some(6) }).await?;
    assert_eq!(reference.state, JobState::Succeeded, "{:?}", reference.error);
    let (expected_count, expected) = anomaly_rows(&data.path().join("lake/reference"))?;
    assert!(expected_count > 0);

    let mut cluster = Cluster::builder()
        .workers(3)
        .slots(1)
        .partitions(6)
        .worker_timeout_secs(10)
        .worker_env("FATHOM_FAILPOINT_TASK_DELAY_MS", "400")
        .start()?;
    let job = cluster.submit(&spec).await?;
    // Kill worker 0 once the scan stage is under way and some map output already exists.
    cluster
        .wait_until(&job, Duration::from_secs(60), |status| {
            status.stages.first().is_some_and(|scan| scan.tasks_done >= 2)
        })
        .await?;
    let killed_at = Instant::now();
    cluster.kill_worker(0)?;
    let log = cluster.coordinator_log(0);
    eventually(Duration::from_secs(13), "the coordinator to notice the dead worker", || {
        std::fs::read_to_string(&log).is_ok_and(|text| text.contains("worker missed heartbeats, removing it"))
    })?;
    assert!(killed_at.elapsed() <= Duration::from_secs(12), "noticed after {:?}", killed_at.elapsed());
    let status = cluster.wait_for_end(&job, Duration::from_secs(120)).await?;
    assert_eq!(status.state, JobState::Succeeded, "{:?}", status.error);
    assert!(killed_at.elapsed() < Duration::from_secs(90));

    let (count, actual) = anomaly_rows(&data.path().join("lake/anomalies"))?;
    assert_eq!(count, expected_count, "no row lost or duplicated");
    assert_eq!(actual, expected);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_worker_rejoins_and_gets_work() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let spec = dataset(data.path(), 40, 3)?;
    let mut cluster = Cluster::builder().workers(1).slots(1).worker_timeout_secs(3).start()?;
    cluster.kill_worker(0)?;
    cluster.start_worker(0)?;
    let job = cluster.submit(&spec).await?;
    let status = cluster.wait_for_end(&job, Duration::from_secs(60)).await?;
    assert_eq!(status.state, JobState::Succeeded, "{:?}", status.error);
    let log = std::fs::read_to_string(cluster.worker_log(0))?;
    assert!(log.contains("tasks accepted"), "the restarted worker ran tasks");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_worker_gone_the_job_fails_in_bounded_time() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let spec = dataset(data.path(), 40, 3)?;
    let mut cluster = Cluster::builder()
        .workers(1)
        .worker_timeout_secs(2)
        .no_worker_timeout_secs(3)
        .worker_env("FATHOM_FAILPOINT_TASK_DELAY_MS", "5000")
        .start()?;
    let job = cluster.submit(&spec).await?;
    cluster
        .wait_until(&job, Duration::from_secs(30), |status| {
            status.stages.first().is_some_and(|scan| scan.tasks_running > 0)
        })
        .await?;
    let killed_at = Instant::now();
    cluster.kill_worker(0)?;
    let status = cluster.wait_for_end(&job, Duration::from_secs(30)).await?;
    assert_eq!(status.state, JobState::Failed);
    let error = status.error.unwrap_or_default();
    assert!(error.contains("no workers available for 3s"), "{error}");
    assert!(killed_at.elapsed() < Duration::from_secs(15), "failed after {:?}", killed_at.elapsed());
    assert!(!data.path().join("lake/anomalies/_delta_log").exists());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retryable_error_is_retried_four_times_then_fails_naming_the_cause() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let spec = dataset(data.path(), 20, 2)?;
    let cluster = Cluster::builder().workers(1).start()?;
    // The worker's shuffle directory cannot be created: a plain file is in the way. Writing
    // shuffle output is I/O, so it is retried, and fails every time.
    std::fs::write(cluster.dir().join("shuffle-0"), b"in the way")?;
    let job = cluster.submit(&spec).await?;
    let status = cluster.wait_for_end(&job, Duration::from_secs(60)).await?;
    assert_eq!(status.state, JobState::Failed);
    let error = status.error.unwrap_or_default();
    assert!(error.contains("failed after 4 attempt(s)"), "{error}");
    assert!(error.contains("cannot write shuffle file"), "{error}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_every_task_and_commits_nothing() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let spec = dataset(data.path(), 40, 3)?;
    let cluster =
        Cluster::builder().workers(2).slots(1).worker_env("FATHOM_FAILPOINT_TASK_DELAY_MS", "20000").start()?;
    let job = cluster.submit(&spec).await?;
    let running =
        |status: &fathom_core::job::JobStatus| status.stages.iter().map(|stage| stage.tasks_running).sum::<u32>();
    let before = cluster.wait_until(&job, Duration::from_secs(30), |status| running(status) > 0).await?;
    let mut client = fathom_client::remote::connect_leader(&cluster.coordinator_url).await?;
    assert_eq!(fathom_client::remote::cancel(&mut client, job.as_str()).await?, JobState::Cancelled);
    // Every running task stops long before its 20 s delay would have ended.
    let logs = [cluster.worker_log(0), cluster.worker_log(1)];
    let cancelled = || {
        logs.iter()
            .map(|log| std::fs::read_to_string(log).unwrap_or_default().matches("task cancelled").count())
            .sum::<usize>()
    };
    eventually(Duration::from_secs(10), "the workers to stop their tasks", || {
        cancelled() >= running(&before) as usize
    })?;
    let status = cluster.status(&job).await?;
    assert_eq!(status.state, JobState::Cancelled);
    assert!(!data.path().join("lake/anomalies/_delta_log").exists(), "a cancelled job commits nothing");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shuffle_files_are_deleted_when_the_job_ends() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let spec = dataset(data.path(), 40, 3)?;
    let cluster = Cluster::builder().workers(2).slots(1).start()?;
    let job = cluster.submit(&spec).await?;
    let status = cluster.wait_for_end(&job, Duration::from_secs(60)).await?;
    assert_eq!(status.state, JobState::Succeeded, "{:?}", status.error);
    for index in 0..2 {
        let directory = cluster.dir().join(format!("shuffle-{index}")).join(job.as_str());
        eventually(Duration::from_secs(10), "the job's shuffle files to be deleted", || !directory.exists())?;
    }
    Ok(())
}
