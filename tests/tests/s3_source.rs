//! Raw telemetry read from a real S3-compatible server (moto_server on loopback) with the
//! standard AWS_* variables, by a coordinator and workers as separate processes.

use std::time::Duration;

use fathom_client::{EmbeddedOptions, run_embedded};
use fathom_core::job::JobState;
use fathom_tests::cluster::Cluster;
use fathom_tests::s3::S3Server;
use fathom_tests::{anomaly_rows, generated_job};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_reads_its_source_from_s3_and_finds_what_it_finds_locally() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let local_spec = generated_job(data.path(), 60, 4, 3, 0.3)?;
    let reference =
        run_embedded(&local_spec.replace("/lake/anomalies", "/lake/local"), EmbeddedOptions::default()).await?;
    assert_eq!(reference.state, JobState::Succeeded, "{:?}", reference.error);

    let s3 = S3Server::start()?;
    let uploaded = s3.upload("telemetry", "raw", &data.path().join("raw"))?;
    assert_eq!(uploaded, 4);
    let raw = format!("\"{}/raw/\"", data.path().display());
    let s3_spec = local_spec.replace(&raw, "\"s3://telemetry/raw/\"").replace("/lake/anomalies", "/lake/from-s3");
    assert!(s3_spec.contains("s3://telemetry/raw/"));
    let cluster = Cluster::builder().workers(2).env(s3.env()).start()?;
    let job = cluster.submit(&s3_spec).await?;
    let status = cluster.wait_for_end(&job, Duration::from_secs(60)).await?;
    assert_eq!(status.state, JobState::Succeeded, "{:?}", status.error);
    assert_eq!(status.metrics.files_read, 4);
    assert_eq!(status.metrics.rows_read, reference.metrics.rows_read);
    assert_eq!(anomaly_rows(&data.path().join("lake/from-s3"))?, anomaly_rows(&data.path().join("lake/local"))?);

    // A bucket that does not exist fails the job with its URI in the message.
    let missing = cluster.submit(&s3_spec.replace("s3://telemetry/", "s3://no-such-bucket/")).await?;
    let status = cluster.wait_for_end(&missing, Duration::from_secs(60)).await?;
    assert_eq!(status.state, JobState::Failed);
    let error = status.error.unwrap_or_default();
    assert!(error.contains("s3://no-such-bucket/raw/"), "{error}");
    assert!(error.contains("bucket \"no-such-bucket\" does not exist (check the URI"), "{error}");

    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lake_table_lives_on_s3_too_and_python_reads_it_back_from_there() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let local_spec = generated_job(data.path(), 40, 4, 8, 0.3)?;
    let reference =
        run_embedded(&local_spec.replace("/lake/anomalies", "/lake/local"), EmbeddedOptions::default()).await?;
    assert_eq!(reference.state, JobState::Succeeded, "{:?}", reference.error);
    let expected = fathom_tests::read_delta(&data.path().join("lake/local"))?;

    let s3 = S3Server::start()?;
    s3.upload("lake", "raw", &data.path().join("raw"))?;
    let raw = format!("\"{}/raw/\"", data.path().display());
    let lake = format!("\"{}/lake/anomalies\"", data.path().display());
    let s3_spec = local_spec.replace(&raw, "\"s3://lake/raw/\"").replace(&lake, "\"s3://lake/tables/anomalies\"");
    assert!(s3_spec.contains("s3://lake/tables/anomalies"), "{s3_spec}");
    let cluster = Cluster::builder().workers(2).env(s3.env()).start()?;
    for run in 0..2 {
        let job = cluster.submit(&s3_spec).await?;
        let status = cluster.wait_for_end(&job, Duration::from_secs(60)).await?;
        assert_eq!(status.state, JobState::Succeeded, "run {run}: {:?}", status.error);
    }
    // Read from the S3-compatible server by Python deltalake and DuckDB: the same rows as the
    // local run, once, although the window ran twice.
    let table = fathom_tests::read_delta_at(std::ffi::OsStr::new("s3://lake/tables/anomalies"), &s3.env())?;
    assert_eq!(table.count, expected.count);
    assert_eq!(table.duckdb_count, expected.count);
    assert_eq!(table.rows, expected.rows);
    assert_eq!(table.partition_columns, vec!["date".to_string()]);
    Ok(())
}
