//! Bad input gets a clear error naming what was wrong, and never a partial commit.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use fathom_client::generate::{GenOptions, generate};
use fathom_client::{EmbeddedOptions, run_embedded};
use fathom_core::job::{JobState, JobStatus};
use fathom_tests::demo_spec;

const START: i64 = 1_767_571_200_000_000; // 2026-01-05T00:00:00Z
const HOUR: i64 = 3_600_000_000;

fn small_dataset(dir: &Path) -> anyhow::Result<()> {
    let options = GenOptions {
        series: 50,
        days: 3,
        step_micros: 600_000_000,
        start_micros: START,
        out: dir.to_path_buf(),
        seed: 1,
        anomaly_fraction: 0.0,
    };
    generate(&options, &|_, _| {})?;
    Ok(())
}

fn cluster() -> EmbeddedOptions {
    EmbeddedOptions { workers: 2, slots_per_worker: 1, partitions: Some(2) }
}

fn assert_nothing_committed(dir: &Path) {
    let log = dir.join("lake/anomalies/_delta_log");
    assert!(!log.exists(), "a failed job must not commit, but {} exists", log.display());
}

fn failed(status: &JobStatus) -> &str {
    assert_eq!(status.state, JobState::Failed, "expected failure, got {status:?}");
    status.error.as_deref().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_column_fails_the_job_naming_the_column_and_file() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    small_dataset(dir.path())?;
    let spec = demo_spec(dir.path()).replace("value = \"value\"", "value = \"reading\"");
    let status = run_embedded(&spec, cluster()).await?;
    let error = failed(&status);
    assert!(error.contains("missing column \"reading\""), "{error}");
    assert!(error.contains("/raw/date=2026-01-0"), "the file is named: {error}");
    assert!(error.contains("after 1 attempt"), "bad data is not retried: {error}");
    assert_nothing_committed(dir.path());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_file_fails_the_job_naming_the_file() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    small_dataset(dir.path())?;
    let corrupt = dir.path().join("raw/date=2026-01-06/part-0000.parquet");
    std::fs::write(&corrupt, b"PAR1 this is not parquet at all")?;
    let status = run_embedded(&demo_spec(dir.path()), cluster()).await?;
    let error = failed(&status);
    assert!(error.contains("date=2026-01-06/part-0000.parquet is not a readable parquet file"), "{error}");
    assert_nothing_committed(dir.path());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_on_bad_file_skip_a_corrupt_file_is_left_out_and_reported() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    small_dataset(dir.path())?;
    let reference = run_embedded(&demo_spec(dir.path()), cluster()).await?;
    assert_eq!(reference.state, JobState::Succeeded, "{:?}", reference.error);
    let corrupt = dir.path().join("raw/date=2026-01-06/part-0000.parquet");
    let lost_rows = {
        let file = std::fs::File::open(&corrupt)?;
        parquet::file::reader::FileReader::metadata(&parquet::file::serialized_reader::SerializedFileReader::new(file)?)
            .file_metadata()
            .num_rows() as u64
    };
    std::fs::write(&corrupt, b"PAR1 this is not parquet at all")?;
    let spec = demo_spec(dir.path())
        .replace("value = \"value\"", "value = \"value\"\non_bad_file = \"skip\"")
        .replace("/lake/anomalies", "/lake/skipped");
    let status = run_embedded(&spec, cluster()).await?;
    assert_eq!(status.state, JobState::Succeeded, "{:?}", status.error);
    assert_eq!(status.metrics.files_skipped, 1);
    assert_eq!(status.metrics.files_read, reference.metrics.files_read, "the bad file was read, then left out");
    assert_eq!(status.metrics.rows_read + lost_rows, reference.metrics.rows_read, "none of its rows count");
    assert_eq!(status.skipped_files.len(), 1);
    assert!(status.skipped_files[0].contains("date=2026-01-06/part-0000.parquet"), "{:?}", status.skipped_files);
    assert!(status.skipped_files[0].contains("not a readable parquet file"), "{:?}", status.skipped_files);
    assert!(dir.path().join("lake/skipped/_delta_log").exists(), "the rest is committed");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_window_is_a_clear_error() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    small_dataset(dir.path())?;
    let spec = demo_spec(dir.path())
        .replace("start = \"2026-01-05T00:00:00Z\"", "start = \"2025-06-01T00:00:00Z\"")
        .replace("end = \"2026-02-04T00:00:00Z\"", "end = \"2025-06-02T00:00:00Z\"");
    let status = run_embedded(&spec, cluster()).await?;
    let error = failed(&status);
    assert!(error.contains("no input files under file://"), "{error}");
    assert_nothing_committed(dir.path());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_source_directory_is_named() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let status = run_embedded(&demo_spec(dir.path()), cluster()).await?;
    let error = failed(&status);
    assert!(error.contains("/raw does not exist") || error.contains("/raw/ does not exist"), "{error}");
    Ok(())
}

/// Duplicate and unsorted timestamps are aggregated like any points of their bucket; NaN and
/// infinite values are dropped and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nan_infinite_duplicate_and_unsorted_points_follow_the_documented_rules() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let raw = dir.path().join("raw/date=2026-01-05");
    std::fs::create_dir_all(&raw)?;
    // Two series, hourly points for one day written in reverse order, one duplicate timestamp,
    // and three bad values.
    let mut rows: Vec<(&str, i64, f64)> = Vec::new();
    for hour in (0..24).rev() {
        rows.push(("a", START + hour * HOUR, 10.0));
        rows.push(("b", START + hour * HOUR, 20.0));
    }
    rows.push(("a", START + 5 * HOUR, 12.0));
    rows.push(("a", START + 6 * HOUR, f64::NAN));
    rows.push(("b", START + 7 * HOUR, f64::INFINITY));
    rows.push(("b", START + 8 * HOUR, f64::NEG_INFINITY));
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("series_id", Arc::new(StringArray::from_iter_values(rows.iter().map(|row| row.0)))),
        (
            "ts",
            Arc::new(TimestampMicrosecondArray::from_iter_values(rows.iter().map(|row| row.1)).with_timezone("UTC")),
        ),
        ("value", Arc::new(Float64Array::from_iter_values(rows.iter().map(|row| row.2)))),
        ("region", Arc::new(StringArray::from_iter_values(rows.iter().map(|_| "eu")))),
        ("device_type", Arc::new(StringArray::from_iter_values(rows.iter().map(|_| "pump")))),
        ("site", Arc::new(StringArray::from_iter_values(rows.iter().map(|_| "s1")))),
    ];
    let batch = RecordBatch::try_from_iter(columns)?;
    let file = std::fs::File::create(raw.join("points.parquet"))?;
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None)?;
    writer.write(&batch)?;
    writer.close()?;

    let spec = demo_spec(dir.path()).replace("end = \"2026-02-04T00:00:00Z\"", "end = \"2026-01-06T00:00:00Z\"");
    let status = run_embedded(&spec, cluster()).await?;
    assert_eq!(status.state, JobState::Succeeded, "{:?}", status.error);
    assert_eq!(status.metrics.rows_read, 52);
    assert_eq!(status.metrics.rows_dropped, 3);
    assert_eq!(status.metrics.series, 2);
    assert_eq!(status.metrics.points, 48);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_groups_outside_the_window_are_never_read() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let raw = dir.path().join("raw/date=2026-01-05");
    std::fs::create_dir_all(&raw)?;
    // One file, three row groups of 48 rows: the window's day, then two days after it (late
    // data landed in the wrong partition, as happens).
    let hours: Vec<i64> = (0..72).collect();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("series_id", Arc::new(StringArray::from_iter_values(hours.iter().flat_map(|_| ["a", "b"])))),
        (
            "ts",
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(hours.iter().flat_map(|h| [START + h * HOUR; 2]))
                    .with_timezone("UTC"),
            ),
        ),
        ("value", Arc::new(Float64Array::from_iter_values(hours.iter().flat_map(|_| [10.0, 20.0])))),
        ("region", Arc::new(StringArray::from_iter_values(hours.iter().flat_map(|_| ["eu"; 2])))),
        ("device_type", Arc::new(StringArray::from_iter_values(hours.iter().flat_map(|_| ["pump"; 2])))),
        ("site", Arc::new(StringArray::from_iter_values(hours.iter().flat_map(|_| ["s1"; 2])))),
    ];
    let batch = RecordBatch::try_from_iter(columns)?;
    let properties =
        parquet::file::properties::WriterProperties::builder().set_max_row_group_row_count(Some(48)).build();
    let file = std::fs::File::create(raw.join("points.parquet"))?;
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(properties))?;
    writer.write(&batch)?;
    writer.close()?;

    let spec = demo_spec(dir.path()).replace("end = \"2026-02-04T00:00:00Z\"", "end = \"2026-01-06T00:00:00Z\"");
    let status = run_embedded(&spec, cluster()).await?;
    assert_eq!(status.state, JobState::Succeeded, "{:?}", status.error);
    assert_eq!(status.metrics.rows_read, 48, "only the row group inside the window is read");
    assert_eq!(status.metrics.rows_dropped, 0);
    assert_eq!(status.metrics.points, 48);
    Ok(())
}
