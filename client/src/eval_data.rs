//! `fathom eval --data DIR`: detectors scored end to end on a dataset written by `fathom gen`.
//!
//! For each detector, one job runs on an embedded cluster over `DIR/raw/` exactly as a user's
//! job would: hourly averages with linear fill, then the detect stage, into a scratch lake
//! table. The flagged points read back from that table are matched against
//! `DIR/labels.parquet` with the event rules of [`fathom_detect::eval`]. The window is the
//! whole dataset: from its first `date=` partition to the end of its last.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use arrow::array::{Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::DataType;
use fathom_core::job::JobState;
use fathom_detect::detector::{AnomalyKind, DetectorOutput};
use fathom_detect::eval::{EvalReport, evaluate};
use fathom_detect::synthetic::Label;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::{EmbeddedOptions, run_embedded};

const HOUR_MICROS: i64 = 3_600_000_000;
const DAY_MICROS: i64 = 24 * HOUR_MICROS;

/// A detector named on the command line: `name` or `name:param=value,...`.
pub struct NamedDetector {
    pub text: String,
    pub name: String,
    pub params: Vec<(String, String)>,
}

/// Scores each detector on the dataset in `data`; returns one rendered table per detector.
pub async fn run(data: &Path, detectors: &[NamedDetector], options: EmbeddedOptions) -> Result<String> {
    let (window_start, days) = window(&data.join("raw"))?;
    let points = days * 24;
    let labels = read_labels(&data.join("labels.parquet"), window_start, points)?;
    let scratch = tempfile::tempdir().context("cannot create a scratch directory")?;
    let mut out = String::new();
    for (index, detector) in detectors.iter().enumerate() {
        let lake = scratch.path().join(format!("lake-{index}"));
        let spec = job_spec(data, &lake, window_start, days, detector)?;
        let status = run_embedded(&spec, options).await.with_context(|| format!("evaluating {}", detector.text))?;
        if status.state != JobState::Succeeded {
            bail!("the job for {} {}: {}", detector.text, status.state.name(), status.error.unwrap_or_default());
        }
        let flagged = read_flags(&lake, window_start, points)?;
        let mut report = EvalReport::default();
        let mut output = DetectorOutput::default();
        let names: std::collections::BTreeSet<&String> = labels.keys().chain(flagged.keys()).collect();
        for name in names {
            output.reset(points);
            for &(index, flag, kind) in flagged.get(name).map(Vec::as_slice).unwrap_or_default() {
                output.flag[index] = flag;
                output.kind[index] = kind;
            }
            report.add(&evaluate(labels.get(name).map(Vec::as_slice).unwrap_or_default(), &output));
        }
        let labelled: usize = labels.values().map(Vec::len).sum();
        out.push_str(&format!(
            "== {} on {} ({labelled} labelled events, {days} days of hourly points; series without labels or alarms not counted)\n",
            detector.text,
            data.display()
        ));
        out.push_str(&report.render());
        out.push('\n');
    }
    Ok(out)
}

/// The dataset's window from its `date=YYYY-MM-DD` partitions: (start, days).
fn window(raw: &Path) -> Result<(i64, usize)> {
    let entries = std::fs::read_dir(raw)
        .with_context(|| format!("cannot list {} (is it a directory written by `fathom gen`?)", raw.display()))?;
    let mut days = Vec::new();
    for entry in entries {
        let name = entry?.file_name();
        let Some(date) = name.to_str().and_then(|name| name.strip_prefix("date=")) else {
            continue;
        };
        let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .with_context(|| format!("{}: partition date={date} is not a date", raw.display()))?;
        days.push(day);
    }
    let (Some(first), Some(last)) = (days.iter().min(), days.iter().max()) else {
        bail!("{} has no date=YYYY-MM-DD partitions; write one with `fathom gen`", raw.display());
    };
    let start = first.and_hms_opt(0, 0, 0).context("midnight exists")?.and_utc().timestamp_micros();
    Ok((start, (*last - *first).num_days() as usize + 1))
}

fn job_spec(data: &Path, lake: &Path, start: i64, days: usize, detector: &NamedDetector) -> Result<String> {
    let time = |micros: i64| {
        chrono::DateTime::from_timestamp_micros(micros)
            .map(|time| time.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .context("window out of range")
    };
    let raw = path_text(&std::path::absolute(data.join("raw"))?)?;
    let lake = path_text(lake)?;
    let params: Vec<String> =
        detector.params.iter().map(|(name, value)| format!("{name} = {}", toml_value(value))).collect();
    Ok(format!(
        r#"version = 1
name = "eval"
[source]
uri = {raw:?}
series_key = ["series_id"]
timestamp = "ts"
value = "value"
[window]
start = "{}"
end = "{}"
[[stage]]
id = "hourly"
op = "make_series"
input = "source"
step = "1h"
agg = "avg"
fill = "linear"
[[stage]]
id = "anomalies"
op = "detect"
input = "hourly"
detector = {:?}
params = {{ {} }}
[[sink]]
kind = "lake"
input = ["anomalies"]
uri = {:?}
"#,
        time(start)?,
        time(start + days as i64 * DAY_MICROS)?,
        detector.name,
        params.join(", "),
        lake,
    ))
}

fn path_text(path: &Path) -> Result<String> {
    path.to_str().map(str::to_string).with_context(|| format!("{} is not valid UTF-8", path.display()))
}

/// A parameter value as TOML: numbers and booleans as they are, anything else quoted.
fn toml_value(value: &str) -> String {
    if value.parse::<f64>().is_ok() || value == "true" || value == "false" {
        value.to_string()
    } else {
        format!("{value:?}")
    }
}

/// Labels per series, as point indices of the hourly grid.
fn read_labels(path: &Path, window_start: i64, points: usize) -> Result<HashMap<String, Vec<Label>>> {
    let mut labels: HashMap<String, Vec<Label>> = HashMap::new();
    for batch in read_parquet(path)? {
        let series = strings(&batch, "series_id", path)?;
        let kinds = strings(&batch, "kind", path)?;
        let starts = timestamps(&batch, "start", path)?;
        let ends = timestamps(&batch, "end", path)?;
        for row in 0..batch.num_rows() {
            let kind = kind_named(kinds.value(row))
                .with_context(|| format!("{}: unknown kind {:?}", path.display(), kinds.value(row)))?;
            let start = index_of(starts.value(row), window_start, points);
            // Labels end exclusively; the last affected point is the one before.
            let end = index_of(ends.value(row) - 1, window_start, points).max(start);
            labels.entry(series.value(row).to_string()).or_default().push(Label { kind, start, end });
        }
    }
    Ok(labels)
}

/// Flagged points per series: (index, flag, kind).
type Flags = HashMap<String, Vec<(usize, i8, AnomalyKind)>>;

fn read_flags(lake: &Path, window_start: i64, points: usize) -> Result<Flags> {
    let mut flagged = Flags::new();
    for file in parquet_files(lake)? {
        for batch in read_parquet(&file)? {
            let series = strings(&batch, "series_id", &file)?;
            let kinds = strings(&batch, "kind", &file)?;
            let times = timestamps(&batch, "ts", &file)?;
            let flags = batch
                .column_by_name("flag")
                .and_then(|column| column.as_any().downcast_ref::<arrow::array::Int8Array>())
                .with_context(|| format!("{}: no int8 column flag", file.display()))?;
            for row in 0..batch.num_rows() {
                let kind = kind_named(kinds.value(row)).unwrap_or(AnomalyKind::None);
                let index = index_of(times.value(row), window_start, points);
                flagged.entry(series.value(row).to_string()).or_default().push((index, flags.value(row), kind));
            }
        }
    }
    Ok(flagged)
}

fn index_of(micros: i64, window_start: i64, points: usize) -> usize {
    (((micros - window_start).max(0) / HOUR_MICROS) as usize).min(points.saturating_sub(1))
}

fn kind_named(name: &str) -> Option<AnomalyKind> {
    AnomalyKind::EVENTS.into_iter().find(|kind| kind.name() == name)
}

fn parquet_files(directory: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![directory.to_path_buf()];
    while let Some(directory) = pending.pop() {
        for entry in std::fs::read_dir(&directory).with_context(|| format!("cannot list {}", directory.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                if !path.ends_with("_delta_log") {
                    pending.push(path);
                }
            } else if path.extension().is_some_and(|extension| extension == "parquet") {
                files.push(path);
            }
        }
    }
    Ok(files)
}

fn read_parquet(path: &Path) -> Result<Vec<RecordBatch>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|builder| builder.build())
        .with_context(|| format!("{} is not a readable parquet file", path.display()))?;
    reader.collect::<Result<Vec<_>, _>>().with_context(|| format!("cannot decode {}", path.display()))
}

fn strings(batch: &RecordBatch, name: &str, path: &Path) -> Result<StringArray> {
    let column = batch.column_by_name(name).with_context(|| format!("{}: no column {name}", path.display()))?;
    let text = arrow::compute::cast(column, &DataType::Utf8)?;
    Ok(text.as_any().downcast_ref::<StringArray>().context("cast to utf8 gives strings")?.clone())
}

fn timestamps(batch: &RecordBatch, name: &str, path: &Path) -> Result<TimestampMicrosecondArray> {
    let column = batch.column_by_name(name).with_context(|| format!("{}: no column {name}", path.display()))?;
    let micros = arrow::compute::cast(column, &DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None))?;
    if micros.null_count() > 0 {
        bail!("{}: column {name} has nulls", path.display());
    }
    Ok(micros.as_any().downcast_ref::<TimestampMicrosecondArray>().context("cast gives timestamps")?.clone())
}
