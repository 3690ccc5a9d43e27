//! Lake semantics: rerunning a job window replaces its rows; jobs committing to one table at
//! once both land. Tables are read back with Python `deltalake` and DuckDB.

use std::path::Path;

use fathom_client::{EmbeddedOptions, run_embedded};
use fathom_core::job::JobState;
use fathom_tests::{generated_job, read_delta};

fn dataset(dir: &Path) -> anyhow::Result<String> {
    generated_job(dir, 60, 6, 3, 0.5)
}

async fn run(spec: &str) -> anyhow::Result<()> {
    let options = EmbeddedOptions { workers: 2, slots_per_worker: 1, partitions: Some(3) };
    let status = run_embedded(spec, options).await?;
    anyhow::ensure!(status.state == JobState::Succeeded, "{:?}", status.error);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerunning_a_window_replaces_its_rows_and_other_windows_stay() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let spec = dataset(data.path())?;
    let table = data.path().join("lake/anomalies");
    run(&spec).await?;
    let first = read_delta(&table)?;
    assert!(first.count > 0);

    run(&spec).await?;
    let second = read_delta(&table)?;
    assert_eq!(second.count, first.count, "a rerun of the window replaces its rows");
    assert_eq!(second.duckdb_count, first.count, "DuckDB reads the same");
    assert_eq!(second.rows, first.rows);
    assert!(second.version > first.version);

    // Another window of the same job adds its rows next to the first window's.
    let other = spec.replace("end = \"2026-01-11T00:00:00Z\"", "end = \"2026-01-10T00:00:00Z\"");
    run(&other).await?;
    let third = read_delta(&table)?;
    assert!(third.count > first.count, "{} rows after a second window, {} before", third.count, first.count);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_jobs_committing_to_one_table_at_once_both_land() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let spec = dataset(data.path())?;
    let table = data.path().join("lake/anomalies");
    let (alone_a, alone_b) = (data.path().join("lake/a"), data.path().join("lake/b"));
    let spec_a = spec.replace("name = \"pump-health\"", "name = \"pumps-a\"");
    let spec_b = spec.replace("name = \"pump-health\"", "name = \"pumps-b\"");
    run(&spec_a.replace("/lake/anomalies", "/lake/a")).await?;
    run(&spec_b.replace("/lake/anomalies", "/lake/b")).await?;
    let expected = read_delta(&alone_a)?.count + read_delta(&alone_b)?.count;

    let (a, b) = tokio::join!(run(&spec_a), run(&spec_b));
    a?;
    b?;
    let both = read_delta(&table)?;
    assert_eq!(both.count, expected, "both jobs' rows, once");
    Ok(())
}
