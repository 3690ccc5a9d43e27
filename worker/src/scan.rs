//! Scan tasks: read whole Parquet objects, keep the needed columns, pre-aggregate every row into
//! the buckets of each make_series shuffle, and write the partitioned shuffle files.
//!
//! Runs on a blocking thread (decoding and aggregation are CPU work); object reads go through
//! the async runtime with `Handle::block_on`. One file is in memory at a time.

use std::path::Path;

use bytes::Bytes;
use fathom_core::aggregate::{PartialAggregator, ScanColumns};
use fathom_core::storage;
use fathom_core::task::{ScanTask, TaskMetrics, TaskOutput};
use object_store::ObjectStoreExt;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tokio::runtime::Handle;

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

    for uri in &task.files {
        cancel.check()?;
        let bytes = fetch(uri, runtime)?;
        metrics.files_read += 1;
        metrics.bytes_read += bytes.len() as u64;
        scan_file(uri, bytes, &needed, task, &mut aggregators, &mut metrics, cancel)?;
    }

    for aggregator in aggregators {
        let shuffle_id = aggregator.shuffle().shuffle_id;
        let outputs = aggregator.finish().map_err(|error| WorkerError::Merge(Box::new(error)))?;
        write_partitions(shuffle_root, prefix, shuffle_id, &outputs)?;
    }
    Ok(TaskOutput {
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
        let read_error = |source| WorkerError::ReadObject { uri: uri.to_string(), source: Box::new(source) };
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
    let decode_error = |source| WorkerError::DecodeParquet { uri: uri.to_string(), source: Box::new(source) };
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(decode_error)?;
    let available: Vec<String> = builder.schema().fields().iter().map(|field| field.name().clone()).collect();
    if let Some(missing) = needed.iter().find(|column| !available.iter().any(|name| name == *column)) {
        return Err(WorkerError::BadData {
            uri: uri.to_string(),
            source: Box::new(fathom_core::CoreError::MissingColumn {
                column: missing.to_string(),
                found: available.join(", "),
            }),
        });
    }
    let mask = ProjectionMask::columns(builder.parquet_schema(), needed.iter().copied());
    let reader = builder.with_projection(mask).with_batch_size(BATCH_ROWS).build().map_err(decode_error)?;
    for batch in reader {
        cancel.check()?;
        let batch = batch
            .map_err(|source| WorkerError::DecodeParquet { uri: uri.to_string(), source: Box::new(source.into()) })?;
        metrics.rows_read += batch.num_rows() as u64;
        for aggregator in aggregators.iter_mut() {
            let columns =
                ScanColumns::from_batch(&batch, aggregator.shuffle(), &task.timestamp_column, &task.value_column)
                    .map_err(|source| WorkerError::BadData { uri: uri.to_string(), source: Box::new(source) })?;
            aggregator.add(&columns, metrics);
        }
    }
    Ok(())
}
