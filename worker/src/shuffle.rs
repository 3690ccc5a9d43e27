//! Shuffle files on the producing worker's disk: per map task a directory with, per shuffle and
//! partition, `sh<id>-p<n>.series.arrow` (one row per series) and `sh<id>-p<n>.points.arrow`
//! (one row per series and bucket), in the Arrow IPC file format.
//!
//! A reducer on the same worker reads them from disk; reducers elsewhere fetch them from the
//! producing worker over Arrow Flight ([`crate::shuffle_server`]), LZ4-compressed, a batch of
//! at most [`CHUNK_ROWS`] rows at a time so that neither side holds a whole partition twice.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use arrow_flight::FlightClient;
use fathom_core::aggregate::PartitionOutput;
use futures::TryStreamExt;
use tokio::runtime::Handle;
use tonic::transport::{Channel, Endpoint};

use crate::error::WorkerError;

/// Rows per IPC batch in a shuffle file, and so per Flight message.
pub const CHUNK_ROWS: usize = 64 * 1024;

pub(crate) fn file_name(shuffle_id: u32, partition: u32, part: &str) -> String {
    format!("sh{shuffle_id}-p{partition}.{part}.arrow")
}

fn write_batch(path: &Path, batch: &RecordBatch) -> Result<(), WorkerError> {
    let io_error = |source: std::io::Error| WorkerError::WriteShuffle { path: path.display().to_string(), source };
    let file = File::create(path).map_err(io_error)?;
    let encode = |source| WorkerError::Encode { what: "shuffle batch", source };
    let mut writer = FileWriter::try_new(BufWriter::new(file), &batch.schema()).map_err(encode)?;
    if batch.num_rows() == 0 {
        // An empty partition still carries its schema as one empty batch, so readers need no special case.
        writer.write(batch).map_err(encode)?;
    }
    let mut offset = 0;
    while offset < batch.num_rows() {
        let length = CHUNK_ROWS.min(batch.num_rows() - offset);
        writer.write(&batch.slice(offset, length)).map_err(encode)?;
        offset += length;
    }
    writer.finish().map_err(encode)?;
    let inner = writer.into_inner().map_err(encode)?;
    inner.into_inner().map_err(|error| io_error(error.into_error()))?;
    Ok(())
}

/// Writes every partition of one shuffle into `directory` (created if needed).
pub fn write_partitions(directory: &Path, shuffle_id: u32, outputs: &[PartitionOutput]) -> Result<(), WorkerError> {
    std::fs::create_dir_all(directory)
        .map_err(|source| WorkerError::WriteShuffle { path: directory.display().to_string(), source })?;
    for (partition, output) in outputs.iter().enumerate() {
        write_batch(&directory.join(file_name(shuffle_id, partition as u32, "series")), &output.series)?;
        write_batch(&directory.join(file_name(shuffle_id, partition as u32, "points")), &output.points)?;
    }
    Ok(())
}

fn read_file(path: &Path) -> Result<RecordBatch, WorkerError> {
    let io_error = |source: std::io::Error| WorkerError::ReadShuffle { path: path.display().to_string(), source };
    let decode = |source| WorkerError::Encode { what: "shuffle file", source };
    let file = File::open(path).map_err(io_error)?;
    let reader = FileReader::try_new(file, None).map_err(decode)?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(decode)?;
    concat_batches(&schema, &batches).map_err(decode)
}

/// Reads one partition of a map task's output on this worker: (series, points).
pub fn read_local(
    shuffle_root: &Path,
    directory: &str,
    shuffle_id: u32,
    partition: u32,
) -> Result<(RecordBatch, RecordBatch), WorkerError> {
    let directory = shuffle_root.join(directory);
    let series = read_file(&directory.join(file_name(shuffle_id, partition, "series")))?;
    let points = read_file(&directory.join(file_name(shuffle_id, partition, "points")))?;
    Ok((series, points))
}

/// Flight connections of one reduce task, one per producing worker: a reducer reads many map
/// outputs from each worker, and a connection per map output would be as many handshakes.
#[derive(Default)]
pub struct ShuffleConnections(std::collections::HashMap<String, Channel>);

/// Fetches one partition of a map task's output from the worker that produced it.
pub fn fetch_remote(
    runtime: &Handle,
    connections: &mut ShuffleConnections,
    worker_id: &str,
    address: &str,
    directory: &str,
    shuffle_id: u32,
    partition: u32,
) -> Result<(RecordBatch, RecordBatch), WorkerError> {
    let failed = |reason: String| WorkerError::FetchShuffle {
        worker_id: worker_id.to_string(),
        address: address.to_string(),
        reason,
    };
    runtime.block_on(async {
        let channel = match connections.0.get(address) {
            Some(channel) => channel.clone(),
            None => {
                let channel = Endpoint::from_shared(format!("http://{address}"))
                    .map_err(|error| failed(error.to_string()))?
                    .connect_timeout(std::time::Duration::from_secs(5))
                    .connect()
                    .await
                    .map_err(|error| failed(error.to_string()))?;
                connections.0.insert(address.to_string(), channel.clone());
                channel
            }
        };
        let mut client = FlightClient::new(channel);
        let mut parts = Vec::with_capacity(2);
        for part in ["series", "points"] {
            let ticket = crate::shuffle_server::ticket(directory, shuffle_id, partition, part);
            let mut stream = client.do_get(ticket).await.map_err(|error| failed(error.to_string()))?;
            let mut batches: Vec<RecordBatch> = Vec::new();
            while let Some(batch) = stream.try_next().await.map_err(|error| failed(error.to_string()))? {
                batches.push(batch);
            }
            // An empty partition arrives as a schema and no batch at all.
            let Some(schema) = batches.first().map(RecordBatch::schema).or_else(|| stream.schema().cloned()) else {
                return Err(WorkerError::Encode {
                    what: "fetched shuffle data",
                    source: arrow::error::ArrowError::SchemaError(format!(
                        "{part} file of {directory} came without a schema"
                    )),
                });
            };
            let batch = concat_batches(&schema, &batches)
                .map_err(|source| WorkerError::Encode { what: "fetched shuffle data", source })?;
            parts.push(batch);
        }
        let points = parts.pop().ok_or_else(|| failed("no points".to_string()))?;
        let series = parts.pop().ok_or_else(|| failed("no series".to_string()))?;
        Ok((series, points))
    })
}
