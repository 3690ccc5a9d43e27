//! CSV sources: the same telemetry as CSV files gives the same anomalies as Parquet; a CSV
//! file with a bad value fails the job naming the file.

use std::path::Path;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema};
use fathom_client::{EmbeddedOptions, run_embedded};
use fathom_core::job::JobState;
use fathom_tests::{anomaly_rows, generated_job};

/// Copies every Parquet file under `raw` to a CSV file of the same name under `csv`, with
/// dictionary columns as text and times in RFC 3339.
fn to_csv(raw: &Path, csv: &Path) -> anyhow::Result<usize> {
    let mut count = 0;
    for day in std::fs::read_dir(raw)? {
        let day = day?.path();
        let target = csv.join(day.file_name().expect("a partition directory"));
        std::fs::create_dir_all(&target)?;
        for file in std::fs::read_dir(&day)? {
            let file = file?.path();
            let reader =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file)?)?
                    .build()?;
            let out = std::fs::File::create(target.join(file.with_extension("csv").file_name().expect("a name")))?;
            let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(out);
            for batch in reader {
                let batch = batch?;
                let fields: Vec<Field> = batch
                    .schema()
                    .fields()
                    .iter()
                    .map(|field| match field.data_type() {
                        DataType::Dictionary(_, _) => Field::new(field.name(), DataType::Utf8, true),
                        _ => field.as_ref().clone(),
                    })
                    .collect();
                let columns = batch
                    .columns()
                    .iter()
                    .zip(&fields)
                    .map(|(column, field)| arrow::compute::cast(column, field.data_type()))
                    .collect::<Result<Vec<_>, _>>()?;
                writer.write(&RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), columns)?)?;
            }
            count += 1;
        }
    }
    Ok(count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_files_give_the_same_anomalies_as_parquet() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let parquet_spec = generated_job(data.path(), 40, 4, 12, 0.4)?;
    let converted = to_csv(&data.path().join("raw"), &data.path().join("csv"))?;
    assert_eq!(converted, 4);
    let csv_spec = parquet_spec
        .replace("/raw/\"", "/csv/\"")
        .replace("format = \"parquet\"", "format = \"csv\"")
        .replace("/lake/anomalies", "/lake/from-csv");
    assert!(csv_spec.contains("format = \"csv\""), "{csv_spec}");
    let from_parquet = run_embedded(&parquet_spec, EmbeddedOptions::default()).await?;
    let from_csv = run_embedded(&csv_spec, EmbeddedOptions::default()).await?;
    assert_eq!(from_csv.state, JobState::Succeeded, "{:?}", from_csv.error);
    assert_eq!(from_csv.metrics.rows_read, from_parquet.metrics.rows_read);
    assert_eq!(from_csv.metrics.files_read, 4);
    assert_eq!(anomaly_rows(&data.path().join("lake/from-csv"))?, anomaly_rows(&data.path().join("lake/anomalies"))?);

    // A value that is not a number fails the job, naming the file.
    let bad = data.path().join("csv/date=2026-01-07");
    let file = std::fs::read_dir(&bad)?.next().expect("a csv file")?.path();
    let text = std::fs::read_to_string(&file)?;
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let value_column = header.iter().position(|name| *name == "value").expect("a value column");
    let mut cells: Vec<String> = lines[5].split(',').map(str::to_string).collect();
    cells[value_column] = "twelve".into();
    lines[5] = cells.join(",");
    std::fs::write(&file, lines.join("\n") + "\n")?;
    let failed = run_embedded(&csv_spec.replace("/lake/from-csv", "/lake/bad"), EmbeddedOptions::default()).await?;
    assert_eq!(failed.state, JobState::Failed);
    let error = failed.error.unwrap_or_default();
    assert!(error.contains("date=2026-01-07") && error.contains("is not a readable csv file"), "{error}");
    assert!(!data.path().join("lake/bad").exists(), "nothing committed");
    Ok(())
}
