//! Time to commit a job window of 1,000 files to a Delta table, and to replace it (a rerun of
//! the window: 1,000 removes and 1,000 adds in one transaction). Real Parquet files of the
//! anomalies schema on local disk; median of RUNS fresh tables.
//! Usage: cargo run --release -p fathom-tests --example commit_bench [FILES] [RUNS]

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, Float64Array, Int8Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use fathom_coordinator::lake_commit::commit;
use fathom_core::schema::anomalies_schema;
use fathom_core::spec::TimeWindow;
use fathom_core::task::{LakeFile, lake_file_prefix};
use parquet::arrow::ArrowWriter;

const DAY: i64 = 86_400_000_000;
const START: i64 = 1_767_571_200_000_000; // 2026-01-05

fn batch(columns: &[String]) -> anyhow::Result<RecordBatch> {
    let text = |value: &str| -> ArrayRef { Arc::new(StringArray::from(vec![value])) };
    let time =
        |micros: i64| -> ArrayRef { Arc::new(TimestampMicrosecondArray::from(vec![micros]).with_timezone("UTC")) };
    let mut arrays = vec![text("bench"), time(START), time(START + DAY), text("anomalies"), text("pump-1")];
    arrays.extend(columns.iter().map(|_| text("x")));
    arrays.extend([
        time(START + 3_600_000_000),
        Arc::new(Float64Array::from(vec![1.0])) as ArrayRef,
        Arc::new(Float64Array::from(vec![0.5])),
        Arc::new(Float64Array::from(vec![4.0])),
        Arc::new(Int8Array::from(vec![1])),
        text("spike"),
        text("ensemble"),
    ]);
    Ok(RecordBatch::try_new(anomalies_schema(columns), arrays)?)
}

/// Writes `count` files of one window under `table` and returns them as a job would report them.
fn write_files(
    table: &std::path::Path,
    job_id: &str,
    count: usize,
    columns: &[String],
) -> anyhow::Result<Vec<LakeFile>> {
    let prefix = lake_file_prefix("bench", TimeWindow { start_micros: START, end_micros: START + DAY });
    let batch = batch(columns)?;
    let mut files = Vec::with_capacity(count);
    for index in 0..count {
        let relative = format!("date=2026-01-05/{prefix}{job_id}-s1-p{index}-a0.zstd.parquet");
        let path = table.join(&relative);
        std::fs::create_dir_all(path.parent().expect("has a parent"))?;
        let mut writer = ArrowWriter::try_new(std::fs::File::create(&path)?, batch.schema(), None)?;
        writer.write(&batch)?;
        writer.close()?;
        let size_bytes = std::fs::metadata(&path)?.len();
        files.push(LakeFile {
            table_uri: String::new(),
            path: relative,
            size_bytes,
            rows: 1,
            date: "2026-01-05".into(),
        });
    }
    Ok(files)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(1000);
    let runs: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(5);
    let columns = vec!["series_id".to_string(), "region".to_string()];
    let prefix = lake_file_prefix("bench", TimeWindow { start_micros: START, end_micros: START + DAY });
    let (mut first, mut replace) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let dir = tempfile::tempdir()?;
        let table = dir.path().join("anomalies");
        let uri = format!("file://{}", table.display());
        let files = write_files(&table, &format!("bench-{run}-a"), count, &columns)?;
        let started = Instant::now();
        commit(&uri, &columns, &format!("bench-{run}-a"), &prefix, &files).await?;
        first.push(started.elapsed().as_secs_f64());
        let files = write_files(&table, &format!("bench-{run}-b"), count, &columns)?;
        let started = Instant::now();
        commit(&uri, &columns, &format!("bench-{run}-b"), &prefix, &files).await?;
        replace.push(started.elapsed().as_secs_f64());
    }
    println!("commit of a {count}-file window: median {:.3} s over {runs} runs", median(first));
    println!("rerun replacing it ({count} removes + {count} adds): median {:.3} s", median(replace));
    Ok(())
}
