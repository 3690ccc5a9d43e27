//! Reduce tasks: merge one partition from every map task into regular series, run the
//! sample/detect chain, and write each lake output as Parquet files under the table, one per
//! date partition. Files are named by job, stage, partition and attempt, so a retried attempt
//! never overwrites or duplicates what the committed attempt wrote.

use fathom_core::alert::alert_events;
use fathom_core::series::{RunInfo, SeriesMerger, anomaly_batches, run_chain, top_anomalies};
use fathom_core::storage;
use fathom_core::task::{LakeFile, ReduceTask, TaskDefinition, TaskMetrics, TaskOutput, lake_file_prefix};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use tokio::runtime::Handle;

use crate::error::WorkerError;
use crate::shuffle::{ShuffleConnections, fetch_remote, read_local};
use crate::{CancelFlag, WorkerContext};

/// Anomalies reported per task for the job summary.
const TOP_PER_TASK: usize = 10;

pub fn run_reduce(
    definition: &TaskDefinition,
    task: &ReduceTask,
    context: &WorkerContext,
    runtime: &Handle,
    cancel: &CancelFlag,
) -> Result<TaskOutput, WorkerError> {
    let mut merger = SeriesMerger::new(&task.shuffle, task.window);
    let (shuffle_id, partition) = (task.shuffle.shuffle_id, task.partition);
    let mut connections = ShuffleConnections::default();
    for input in &task.inputs {
        cancel.check()?;
        let (series, points) = if input.worker_id == context.config.worker_id {
            read_local(&context.config.shuffle_dir, &input.prefix, shuffle_id, partition)?
        } else {
            fetch_remote(
                runtime,
                &mut connections,
                &input.worker_id,
                &input.address,
                &input.prefix,
                shuffle_id,
                partition,
            )?
        };
        merger.add(&series, &points).map_err(|error| WorkerError::Merge(Box::new(error)))?;
    }
    let set = merger.finish(task.fill);
    let results = run_chain(&set, &task.chain);
    let run = RunInfo { job_name: task.job_name.clone(), window: task.window };

    let mut lake_files = Vec::new();
    for output in &task.outputs {
        cancel.check()?;
        let table = storage::open(&output.table_uri)
            .map_err(|source| WorkerError::OpenLocation { uri: output.table_uri.clone(), source: Box::new(source) })?;
        for (date, batch) in anomaly_batches(&set, &task.chain, &results, output, &run)
            .map_err(|error| WorkerError::Merge(Box::new(error)))?
        {
            let relative = format!(
                "date={date}/{}{}-s{}-p{}-a{}.zstd.parquet",
                lake_file_prefix(&task.job_name, task.window),
                definition.task_id.job_id,
                definition.task_id.stage,
                task.partition,
                definition.attempt
            );
            let bytes = encode_parquet(&batch, &relative)?;
            let size_bytes = bytes.len() as u64;
            let path = Path::from(format!("{}/{relative}", table.path.as_ref().trim_end_matches('/')));
            runtime.block_on(table.store.put(&path, bytes.into())).map_err(|source| WorkerError::WriteObject {
                uri: storage::join(&table.url, &relative),
                source: Box::new(source),
            })?;
            lake_files.push(LakeFile {
                table_uri: output.table_uri.clone(),
                path: relative,
                size_bytes,
                rows: batch.num_rows() as u64,
                date,
            });
        }
    }

    let mut alerts = Vec::new();
    let mut alerts_held_back = 0;
    for output in &task.alerts {
        let (events, held_back) = alert_events(&set, &task.chain, &results, output, &run);
        alerts.extend(events);
        alerts_held_back += held_back;
    }

    let anomalies: usize = results.iter().flatten().map(Vec::len).sum();
    Ok(TaskOutput {
        alerts,
        alerts_held_back,
        skipped_files: Vec::new(),
        shuffle_prefix: None,
        shuffle_address: None,
        lake_files,
        top_anomalies: top_anomalies(&set, &task.chain, &results, TOP_PER_TASK),
        metrics: TaskMetrics {
            series: set.len() as u64,
            points: (set.len() * set.buckets) as u64,
            anomalies: anomalies as u64,
            ..TaskMetrics::default()
        },
    })
}

fn encode_parquet(batch: &arrow::array::RecordBatch, path: &str) -> Result<Vec<u8>, WorkerError> {
    let encode_error = |source| WorkerError::EncodeParquet { path: path.to_string(), source: Box::new(source) };
    let properties = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default())).build();
    let mut buffer = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buffer, batch.schema(), Some(properties)).map_err(encode_error)?;
    writer.write(batch).map_err(encode_error)?;
    writer.close().map_err(encode_error)?;
    Ok(buffer)
}
