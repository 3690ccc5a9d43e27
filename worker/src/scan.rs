//! Scan tasks: read whole Parquet objects, keep the needed columns, pre-aggregate every row into
//! the buckets of each make_series shuffle, and write the partitioned shuffle files.
//!
//! Runs on a blocking thread (decoding and aggregation are CPU work); object reads go through
//! the async runtime with `Handle::block_on`. One file is in memory at a time.

use std::path::Path;

use arrow::array::RecordBatch;
use bytes::Bytes;
use fathom_core::aggregate::{PartialAggregator, ScanColumns};
use fathom_core::spec::SourceFormat;
use fathom_core::storage;
use fathom_core::task::{ScanTask, TaskMetrics, TaskOutput};
use object_store::ObjectStoreExt;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tokio::runtime::Handle;
use tracing::warn;

use crate::CancelFlag;
use crate::error::WorkerError;
use crate::shuffle::write_partitions;

const BATCH_ROWS: usize = 64 * 1024;

/// Scans `task.files`; shuffle files go to `shuffle_root/prefix.*`, served at `address`.
pub fn run_scan(
    task: &ScanTask,
    runtime: &Handle,
    shuffle_root: &Path,
    prefix: &str,
    address: &str,
    cancel: &CancelFlag,
) -> Result<TaskOutput, WorkerError> {
    let mut metrics = TaskMetrics::default();
    let mut aggregators: Vec<PartialAggregator> =
        task.shuffles.iter().map(|shuffle| PartialAggregator::new(shuffle.clone(), task.window)).collect();
    let mut needed: Vec<&str> = vec![task.timestamp_column.as_str(), task.value_column.as_str()];
    for shuffle in &task.shuffles {
        for column in shuffle.key_columns.iter().chain(&shuffle.tag_columns) {
            if !needed.contains(&column.as_str()) {
                needed.push(column);
            }
        }
    }

    let mut skipped_files = Vec::new();
    for uri in &task.files {
        cancel.check()?;
        let bytes = fetch(uri, runtime)?;
        metrics.files_read += 1;
        metrics.bytes_read += bytes.len() as u64;
        if !task.skip_bad_files {
            scan_file(uri, bytes, &needed, task, &mut aggregators, &mut metrics, cancel)?;
            continue;
        }
        // Decode the whole file before aggregating any of it, so that a file found bad halfway
        // leaves nothing behind.
        match decode_file(uri, bytes, &needed, task, cancel) {
            Ok(batches) => {
                for batch in &batches {
                    aggregate(uri, batch, task, &mut aggregators, &mut metrics)?;
                }
            }
            Err(
                error @ (WorkerError::DecodeParquet { .. }
                | WorkerError::DecodeCsv { .. }
                | WorkerError::BadData { .. }),
            ) => {
                warn!(%uri, error = %error.report(), "skipping a bad input file (on_bad_file = \"skip\")");
                metrics.files_skipped += 1;
                skipped_files.push(format!("{uri}: {}", error.report()));
            }
            Err(other) => return Err(other),
        }
    }

    for aggregator in aggregators {
        let shuffle_id = aggregator.shuffle().shuffle_id;
        let outputs = aggregator.finish().map_err(|error| WorkerError::Merge(Box::new(error)))?;
        write_partitions(shuffle_root, prefix, shuffle_id, &outputs)?;
    }
    Ok(TaskOutput {
        skipped_files,
        shuffle_prefix: Some(prefix.to_string()),
        shuffle_address: Some(address.to_string()),
        metrics,
        ..TaskOutput::default()
    })
}

fn fetch(uri: &str, runtime: &Handle) -> Result<Bytes, WorkerError> {
    let location = storage::open(uri)
        .map_err(|source| WorkerError::OpenLocation { uri: uri.to_string(), source: Box::new(source) })?;
    // A local file is read right here, on the task's blocking thread: object_store would hop
    // to another blocking thread and back, which costs more than reading a small file.
    if location.url.scheme() == "file"
        && let Ok(path) = location.url.to_file_path()
    {
        return std::fs::read(&path)
            .map(Bytes::from)
            .map_err(|source| WorkerError::ReadFile { path: path.display().to_string(), source });
    }
    runtime.block_on(async {
        let read_error = |source| WorkerError::ReadObject {
            uri: uri.to_string(),
            advice: storage::advice(uri, &source),
            source: Box::new(source),
        };
        location.store.get(&location.path).await.map_err(read_error)?.bytes().await.map_err(read_error)
    })
}

fn scan_file(
    uri: &str,
    bytes: Bytes,
    needed: &[&str],
    task: &ScanTask,
    aggregators: &mut [PartialAggregator],
    metrics: &mut TaskMetrics,
    cancel: &CancelFlag,
) -> Result<(), WorkerError> {
    for batch in open_reader(uri, bytes, needed, task)? {
        cancel.check()?;
        aggregate(uri, &batch?, task, aggregators, metrics)?;
    }
    Ok(())
}

/// Every batch of a file, decoded and its columns checked; an error if any part of it is bad.
fn decode_file(
    uri: &str,
    bytes: Bytes,
    needed: &[&str],
    task: &ScanTask,
    cancel: &CancelFlag,
) -> Result<Vec<RecordBatch>, WorkerError> {
    let mut batches = Vec::new();
    for batch in open_reader(uri, bytes, needed, task)? {
        cancel.check()?;
        let batch = batch?;
        for shuffle in &task.shuffles {
            ScanColumns::from_batch(&batch, shuffle, &task.timestamp_column, &task.value_column)
                .map_err(|source| WorkerError::BadData { uri: uri.to_string(), source: Box::new(source) })?;
        }
        batches.push(batch);
    }
    Ok(batches)
}

/// The batches of one file, only the `needed` columns.
type Batches = Box<dyn Iterator<Item = Result<RecordBatch, WorkerError>>>;

fn open_reader(uri: &str, bytes: Bytes, needed: &[&str], task: &ScanTask) -> Result<Batches, WorkerError> {
    match task.format {
        SourceFormat::Parquet => open_parquet(uri, bytes, needed, task),
        SourceFormat::Csv => open_csv(uri, bytes, needed, task),
    }
}

fn missing_column(uri: &str, needed: &[&str], available: &[String]) -> Result<(), WorkerError> {
    match needed.iter().find(|column| !available.iter().any(|name| name == *column)) {
        Some(missing) => Err(WorkerError::BadData {
            uri: uri.to_string(),
            source: Box::new(fathom_core::CoreError::MissingColumn {
                column: missing.to_string(),
                found: available.join(", "),
            }),
        }),
        None => Ok(()),
    }
}

fn open_parquet(uri: &str, bytes: Bytes, needed: &[&str], task: &ScanTask) -> Result<Batches, WorkerError> {
    let decode_error = |source| WorkerError::DecodeParquet { uri: uri.to_string(), source: Box::new(source) };
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(decode_error)?;
    let available: Vec<String> = builder.schema().fields().iter().map(|field| field.name().clone()).collect();
    missing_column(uri, needed, &available)?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), needed.iter().copied());
    let row_groups = row_groups_in_window(&builder, &task.timestamp_column, task.window);
    let reader = builder
        .with_projection(mask)
        .with_row_groups(row_groups)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(decode_error)?;
    let uri = uri.to_string();
    Ok(Box::new(reader.map(move |batch| {
        batch.map_err(|source| WorkerError::DecodeParquet { uri: uri.clone(), source: Box::new(source.into()) })
    })))
}

/// CSV with a header row: the timestamp column is read as RFC 3339 times, the value column as
/// numbers, every other needed column as text.
fn open_csv(uri: &str, bytes: Bytes, needed: &[&str], task: &ScanTask) -> Result<Batches, WorkerError> {
    let decode_error = |source| WorkerError::DecodeCsv { uri: uri.to_string(), source };
    let header_end = bytes.iter().position(|&byte| byte == b'\n').unwrap_or(bytes.len());
    let header = std::str::from_utf8(&bytes[..header_end])
        .map_err(|error| decode_error(arrow::error::ArrowError::CsvError(format!("header is not UTF-8: {error}"))))?;
    let names: Vec<String> =
        header.trim_end_matches('\r').split(',').map(|name| name.trim().trim_matches('"').to_string()).collect();
    missing_column(uri, needed, &names)?;
    let fields: Vec<arrow::datatypes::Field> = names
        .iter()
        .map(|name| {
            let data_type = if *name == task.timestamp_column {
                arrow::datatypes::DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, Some("UTC".into()))
            } else if *name == task.value_column {
                arrow::datatypes::DataType::Float64
            } else {
                arrow::datatypes::DataType::Utf8
            };
            arrow::datatypes::Field::new(name, data_type, true)
        })
        .collect();
    let mut projection: Vec<usize> =
        needed.iter().filter_map(|column| names.iter().position(|name| name == column)).collect();
    projection.sort_unstable();
    let reader = arrow::csv::ReaderBuilder::new(std::sync::Arc::new(arrow::datatypes::Schema::new(fields)))
        .with_header(true)
        .with_batch_size(BATCH_ROWS)
        .with_projection(projection)
        .build(std::io::Cursor::new(bytes))
        .map_err(decode_error)?;
    let uri = uri.to_string();
    Ok(Box::new(reader.map(move |batch| batch.map_err(|source| WorkerError::DecodeCsv { uri: uri.clone(), source }))))
}

fn aggregate(
    uri: &str,
    batch: &RecordBatch,
    task: &ScanTask,
    aggregators: &mut [PartialAggregator],
    metrics: &mut TaskMetrics,
) -> Result<(), WorkerError> {
    metrics.rows_read += batch.num_rows() as u64;
    for aggregator in aggregators.iter_mut() {
        let columns = ScanColumns::from_batch(batch, aggregator.shuffle(), &task.timestamp_column, &task.value_column)
            .map_err(|source| WorkerError::BadData { uri: uri.to_string(), source: Box::new(source) })?;
        aggregator.add(&columns, metrics);
    }
    Ok(())
}

/// The row groups whose timestamp statistics overlap `window`: the others are never read.
/// A row group without usable statistics (or a timestamp column that is not a timestamp) is
/// kept; the window is then applied row by row, as always.
fn row_groups_in_window<T>(
    builder: &parquet::arrow::arrow_reader::ArrowReaderBuilder<T>,
    timestamp_column: &str,
    window: fathom_core::spec::TimeWindow,
) -> Vec<usize> {
    let metadata = builder.metadata();
    let all: Vec<usize> = (0..metadata.num_row_groups()).collect();
    let unit_micros = match builder.schema().field_with_name(timestamp_column).map(|field| field.data_type()) {
        Ok(arrow::datatypes::DataType::Timestamp(unit, _)) => match unit {
            arrow::datatypes::TimeUnit::Second => |value: i64| value.saturating_mul(1_000_000),
            arrow::datatypes::TimeUnit::Millisecond => |value: i64| value.saturating_mul(1_000),
            arrow::datatypes::TimeUnit::Microsecond => |value: i64| value,
            arrow::datatypes::TimeUnit::Nanosecond => |value: i64| value / 1_000,
        },
        _ => return all,
    };
    let Some(column) = metadata
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|column| column.path().parts() == [timestamp_column.to_string()])
    else {
        return all;
    };
    all.into_iter()
        .filter(|&index| match metadata.row_group(index).column(column).statistics() {
            Some(parquet::file::statistics::Statistics::Int64(statistics)) => {
                match (statistics.min_opt(), statistics.max_opt()) {
                    (Some(&min), Some(&max)) => {
                        unit_micros(max) >= window.start_micros && unit_micros(min) < window.end_micros
                    }
                    _ => true,
                }
            }
            _ => true,
        })
        .collect()
}
