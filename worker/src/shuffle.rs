//! Shuffle files on the producing worker's disk: per map task a directory with, per shuffle and
//! partition, `sh<id>-p<n>.series.arrow` (one row per series) and `sh<id>-p<n>.points.arrow`
//! (one row per series and bucket), in the Arrow IPC file format.
//!
//! Reduce tasks read them by path, which works when workers share a filesystem (embedded mode
//! and single-host clusters). Serving them over Arrow Flight to remote reducers is the cluster
//! issue's work; the file layout stays the same.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use fathom_core::aggregate::PartitionOutput;

use crate::error::WorkerError;

fn file_name(shuffle_id: u32, partition: u32, part: &str) -> String {
    format!("sh{shuffle_id}-p{partition}.{part}.arrow")
}

fn write_batch(path: &Path, batch: &RecordBatch) -> Result<(), WorkerError> {
    let io_error = |source: std::io::Error| WorkerError::WriteShuffle { path: path.display().to_string(), source };
    let file = File::create(path).map_err(io_error)?;
    let encode = |source| WorkerError::Encode { what: "shuffle batch", source };
    let mut writer = FileWriter::try_new(BufWriter::new(file), &batch.schema()).map_err(encode)?;
    writer.write(batch).map_err(encode)?;
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

/// Reads one partition of one map task's output: (series, points).
pub fn read_partition(
    directory: &str,
    shuffle_id: u32,
    partition: u32,
) -> Result<(RecordBatch, RecordBatch), WorkerError> {
    let directory = PathBuf::from(directory);
    let series = read_file(&directory.join(file_name(shuffle_id, partition, "series")))?;
    let points = read_file(&directory.join(file_name(shuffle_id, partition, "points")))?;
    Ok((series, points))
}
