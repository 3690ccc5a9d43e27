//! Shuffle files on the producing worker's disk, in the Arrow IPC file format: per map task
//! and shuffle, two files, `<root>/<job>/s<stage>-t<task>-a<attempt>.sh<id>.series.arrow`
//! (one row per series) and `...points.arrow` (one row per series and bucket). Each holds the
//! batches of partition 0, then those of partition 1, and so on; the footer's custom metadata
//! [`PARTITION_BATCHES`] says how many batches each partition has, so a reader seeks straight
//! to its partition. An empty partition has no batch at all.
//!
//! Two files per map task whatever the partition count, sharing a prefix rather than a
//! directory of their own: file creation is the dominant per-task cost in a stage of thousands
//! of small tasks (a file per partition, or a `mkdir` per task, showed up first in profiles).
//! Deleting a job's directory deletes all of its shuffle output.
//!
//! A reducer on the same worker reads the files from disk; reducers elsewhere fetch them from
//! the producing worker over Arrow Flight ([`crate::shuffle_server`]), LZ4-compressed, a batch
//! of at most [`CHUNK_ROWS`] rows at a time so that neither side holds a whole partition twice.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
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

/// Footer metadata key: the number of batches of each partition, comma-separated, in order.
pub const PARTITION_BATCHES: &str = "fathom.partition_batches";

/// The path of one shuffle file; `prefix` is relative to `shuffle_root` (see the module docs).
pub(crate) fn shuffle_path(shuffle_root: &Path, prefix: &str, shuffle_id: u32, part: &str) -> PathBuf {
    shuffle_root.join(format!("{prefix}.sh{shuffle_id}.{part}.arrow"))
}

/// Writes one batch per partition (each split into chunks) into one file, with the index.
fn write_part<'a>(
    path: &Path,
    schema: &SchemaRef,
    partitions: impl Iterator<Item = &'a RecordBatch>,
) -> Result<(), WorkerError> {
    let io_error = |source: std::io::Error| WorkerError::WriteShuffle { path: path.display().to_string(), source };
    let encode = |source| WorkerError::Encode { what: "shuffle batch", source };
    let file = File::create(path).map_err(io_error)?;
    let mut writer = FileWriter::try_new(BufWriter::new(file), schema).map_err(encode)?;
    let mut counts = Vec::new();
    for batch in partitions {
        let mut chunks = 0;
        let mut offset = 0;
        while offset < batch.num_rows() {
            let length = CHUNK_ROWS.min(batch.num_rows() - offset);
            writer.write(&batch.slice(offset, length)).map_err(encode)?;
            offset += length;
            chunks += 1;
        }
        counts.push(chunks.to_string());
    }
    writer.write_metadata(PARTITION_BATCHES, counts.join(","));
    writer.finish().map_err(encode)?;
    let inner = writer.into_inner().map_err(encode)?;
    inner.into_inner().map_err(|error| io_error(error.into_error()))?;
    Ok(())
}

/// Writes every partition of one shuffle under `shuffle_root/prefix` (directories created if needed).
pub fn write_partitions(
    shuffle_root: &Path,
    prefix: &str,
    shuffle_id: u32,
    outputs: &[PartitionOutput],
) -> Result<(), WorkerError> {
    let Some(first) = outputs.first() else {
        return Ok(());
    };
    let series = shuffle_path(shuffle_root, prefix, shuffle_id, "series");
    if let Some(directory) = series.parent() {
        std::fs::create_dir_all(directory)
            .map_err(|source| WorkerError::WriteShuffle { path: directory.display().to_string(), source })?;
    }
    write_part(&series, &first.series.schema(), outputs.iter().map(|output| &output.series))?;
    let points = shuffle_path(shuffle_root, prefix, shuffle_id, "points");
    write_part(&points, &first.points.schema(), outputs.iter().map(|output| &output.points))
}

/// The batches of one partition of a shuffle file, read lazily.
pub struct PartitionReader {
    reader: FileReader<File>,
    remaining: usize,
}

impl PartitionReader {
    /// Opens `path` positioned at the first batch of `partition`.
    pub fn open(path: &Path, partition: u32) -> Result<PartitionReader, WorkerError> {
        let decode = |source| WorkerError::Encode { what: "shuffle file", source };
        let file =
            File::open(path).map_err(|source| WorkerError::ReadShuffle { path: path.display().to_string(), source })?;
        let mut reader = FileReader::try_new(file, None).map_err(decode)?;
        let bad_index =
            |reason: &str| decode(ArrowError::ParseError(format!("{}: {PARTITION_BATCHES} {reason}", path.display())));
        let counts = reader
            .custom_metadata()
            .get(PARTITION_BATCHES)
            .ok_or_else(|| bad_index("is missing"))?
            .split(',')
            .map(|count| count.parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| bad_index("is malformed"))?;
        let partition = partition as usize;
        let remaining = *counts.get(partition).ok_or_else(|| bad_index("has no such partition"))?;
        let start: usize = counts[..partition].iter().sum();
        if start + remaining > reader.num_batches() {
            return Err(bad_index("counts more batches than the file has"));
        }
        if remaining > 0 {
            reader.set_index(start).map_err(decode)?;
        }
        Ok(PartitionReader { reader, remaining })
    }

    pub fn schema(&self) -> SchemaRef {
        self.reader.schema()
    }
}

impl Iterator for PartitionReader {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        self.reader.next()
    }
}

fn read_partition(path: &Path, partition: u32) -> Result<RecordBatch, WorkerError> {
    let decode = |source| WorkerError::Encode { what: "shuffle file", source };
    let reader = PartitionReader::open(path, partition)?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(decode)?;
    concat_batches(&schema, &batches).map_err(decode)
}

/// Reads one partition of a map task's output on this worker: (series, points).
pub fn read_local(
    shuffle_root: &Path,
    prefix: &str,
    shuffle_id: u32,
    partition: u32,
) -> Result<(RecordBatch, RecordBatch), WorkerError> {
    let series = read_partition(&shuffle_path(shuffle_root, prefix, shuffle_id, "series"), partition)?;
    let points = read_partition(&shuffle_path(shuffle_root, prefix, shuffle_id, "points"), partition)?;
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
    prefix: &str,
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
            let ticket = crate::shuffle_server::ticket(prefix, shuffle_id, partition, part);
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
                        "{part} file of {prefix} came without a schema"
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(schema: &SchemaRef, rows: usize, base: i64) -> RecordBatch {
        let values = Int64Array::from_iter_values((0..rows as i64).map(|row| base + row));
        RecordBatch::try_new(schema.clone(), vec![Arc::new(values)]).expect("matches the schema")
    }

    #[test]
    fn each_partition_reads_back_alone_including_empty_and_multi_chunk_ones() {
        let root = tempfile::tempdir().expect("temp dir");
        let series_schema = Arc::new(Schema::new(vec![Field::new("key", DataType::Utf8, false)]));
        let points_schema = Arc::new(Schema::new(vec![Field::new("value", DataType::Int64, false)]));
        let keys = |names: &[&str]| {
            RecordBatch::try_new(series_schema.clone(), vec![Arc::new(StringArray::from(names.to_vec()))])
                .expect("matches the schema")
        };
        let outputs = vec![
            PartitionOutput { series: keys(&["a"]), points: batch(&points_schema, 3, 0) },
            PartitionOutput { series: keys(&[]), points: batch(&points_schema, 0, 0) },
            PartitionOutput { series: keys(&["b", "c"]), points: batch(&points_schema, CHUNK_ROWS + 5, 100) },
            PartitionOutput { series: keys(&["d"]), points: batch(&points_schema, 1, -7) },
        ];
        write_partitions(root.path(), "job/s0-t3-a1", 2, &outputs).expect("written");
        for (partition, expected) in outputs.iter().enumerate() {
            let (series, points) = read_local(root.path(), "job/s0-t3-a1", 2, partition as u32).expect("read");
            assert_eq!(series, expected.series, "series of partition {partition}");
            assert_eq!(points, expected.points, "points of partition {partition}");
        }
        // Two files for the map task, whatever the partition count.
        assert_eq!(std::fs::read_dir(root.path().join("job")).expect("job directory").count(), 2);
        let missing = read_local(root.path(), "job/s0-t3-a1", 2, 4).expect_err("there is no partition 4");
        assert!(missing.report().contains("has no such partition"), "{}", missing.report());
    }
}
