//! `fathom gen`: synthetic raw telemetry with labelled anomalies, in the layout Fathom reads:
//! `OUT/raw/date=YYYY-MM-DD/part-NNNN.parquet` (one row per point: series_id, ts, value,
//! region, device_type, site) and `OUT/labels.parquet` (series_id, start, end, kind, magnitude).
//!
//! Every series has a level, daily and weekly seasonality, a slow trend, noise and a few missing
//! points; some have a gap of several hours with no data at all (not an anomaly). Some series
//! carry one injected anomaly: a one-hour spike or dip, or, lasting to the end of the window, a
//! level shift, a trend change or a variance change. Output is a pure function of the flags
//! and the seed.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::{
    ArrayRef, DictionaryArray, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray, UInt32Array,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

const HOUR_MICROS: i64 = 3_600_000_000;
const DAY_MICROS: i64 = 24 * HOUR_MICROS;
const REGIONS: [&str; 6] = ["us-east", "us-west", "eu-west", "eu-north", "ap-south", "ap-east"];
const DEVICE_TYPES: [&str; 4] = ["pump", "compressor", "valve", "turbine"];
const SITES: usize = 200;
/// Series per Parquet file; a day with more series is split over several files.
const SERIES_PER_FILE: usize = 2_500;

#[derive(Debug, Clone)]
pub struct GenOptions {
    pub series: usize,
    pub days: u32,
    pub step_micros: i64,
    pub start_micros: i64,
    pub out: PathBuf,
    pub seed: u64,
    /// Share of series that get an injected anomaly.
    pub anomaly_fraction: f64,
}

/// The kinds of injected anomaly are the detectors' kinds (never `None`).
pub use fathom_detect::detector::AnomalyKind;

/// The injected anomaly of one series.
#[derive(Debug, Clone, Copy)]
pub struct Injected {
    pub kind: AnomalyKind,
    pub start_micros: i64,
    pub end_micros: i64,
    /// Spike, dip, level shift: the offset; trend change: the offset reached at the end of the
    /// window; variance change: the factor on the noise.
    pub magnitude: f64,
}

#[derive(Debug, Default)]
pub struct GenReport {
    pub files: usize,
    pub rows: u64,
    pub bytes: u64,
    pub labels: usize,
}

/// SplitMix64: tiny, fast, and good enough for synthetic data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }

    fn range(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.uniform()
    }

    /// Approximately standard normal (Irwin-Hall with four terms, rescaled).
    fn normal(&mut self) -> f64 {
        (self.uniform() + self.uniform() + self.uniform() + self.uniform() - 2.0) * 3.0_f64.sqrt()
    }
}

/// The fixed character of one series.
struct SeriesShape {
    level: f64,
    daily_amplitude: f64,
    daily_phase: f64,
    weekly_amplitude: f64,
    trend_per_day: f64,
    noise: f64,
    anomaly: Option<Injected>,
    /// Hours (from the start) of a run of missing points, if the series has one.
    gap: Option<(i64, i64)>,
}

fn shape(options: &GenOptions, series: usize) -> SeriesShape {
    let mut rng = Rng::new(options.seed ^ (series as u64).wrapping_mul(0xa076_1d64_78bd_642f));
    let level = rng.range(20.0, 200.0);
    let mut shape = SeriesShape {
        level,
        daily_amplitude: level * rng.range(0.1, 0.3),
        daily_phase: rng.range(0.0, std::f64::consts::TAU),
        weekly_amplitude: level * rng.range(0.0, 0.04),
        trend_per_day: level * rng.range(-0.002, 0.002),
        noise: level * rng.range(0.005, 0.02),
        anomaly: None,
        gap: None,
    };
    if rng.uniform() < options.anomaly_fraction && options.days >= 3 {
        // EVENTS lists spike, dip, level shift, trend change, variance change: never `None`.
        let kind = AnomalyKind::EVENTS[(rng.next_u64() % 5) as usize];
        // Away from the edges, on an hour boundary, so labels name whole hours.
        let hours = i64::from(options.days) * 24;
        let hour = 24 + (rng.next_u64() % (hours as u64 - 48)) as i64;
        let start_micros = options.start_micros + hour * HOUR_MICROS;
        let window_end = options.start_micros + i64::from(options.days) * DAY_MICROS;
        let (end_micros, magnitude) = match kind {
            AnomalyKind::Spike => (start_micros + HOUR_MICROS, level * rng.range(0.6, 1.0)),
            AnomalyKind::Dip => (start_micros + HOUR_MICROS, -level * rng.range(0.5, 0.8)),
            AnomalyKind::LevelShift => {
                (window_end, level * rng.range(0.3, 0.5) * if rng.uniform() < 0.5 { 1.0 } else { -1.0 })
            }
            AnomalyKind::TrendChange => {
                (window_end, level * rng.range(0.2, 0.4) * if rng.uniform() < 0.5 { 1.0 } else { -1.0 })
            }
            // `None` is never drawn above.
            AnomalyKind::VarianceChange | AnomalyKind::None => (window_end, rng.range(3.0, 5.0)),
        };
        shape.anomaly = Some(Injected { kind, start_micros, end_micros, magnitude });
    }
    // About one series in thirty loses a few hours of data: a gap, which is not an anomaly.
    if rng.uniform() < 1.0 / 30.0 && options.days >= 2 {
        let hours = i64::from(options.days) * 24;
        let start = (rng.next_u64() % (hours as u64 - 8)) as i64;
        shape.gap = Some((start, start + 3 + (rng.next_u64() % 6) as i64));
    }
    shape
}

fn series_id(series: usize) -> String {
    format!("pump-{series:06}")
}

fn tags(series: usize) -> (usize, usize, usize) {
    let mixed = (series as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
    ((mixed % REGIONS.len() as u64) as usize, series % DEVICE_TYPES.len(), (mixed % SITES as u64) as usize)
}

pub fn raw_schema() -> SchemaRef {
    let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    Arc::new(Schema::new(vec![
        Field::new("series_id", dictionary.clone(), false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        Field::new("value", DataType::Float64, true),
        Field::new("region", dictionary.clone(), false),
        Field::new("device_type", dictionary.clone(), false),
        Field::new("site", dictionary, false),
    ]))
}

/// The value of a series at a time, before noise.
fn signal(shape: &SeriesShape, options: &GenOptions, ts: i64) -> f64 {
    let days = (ts - options.start_micros) as f64 / DAY_MICROS as f64;
    let daily = (std::f64::consts::TAU * days + shape.daily_phase).sin();
    let weekly = (std::f64::consts::TAU * days / 7.0).sin();
    let mut value =
        shape.level + shape.daily_amplitude * daily + shape.weekly_amplitude * weekly + shape.trend_per_day * days;
    if let Some(anomaly) = shape.anomaly
        && ts >= anomaly.start_micros
        && ts < anomaly.end_micros
    {
        match anomaly.kind {
            AnomalyKind::Spike | AnomalyKind::Dip | AnomalyKind::LevelShift => value += anomaly.magnitude,
            AnomalyKind::TrendChange => {
                let progress = (ts - anomaly.start_micros) as f64 / (anomaly.end_micros - anomaly.start_micros) as f64;
                value += anomaly.magnitude * progress;
            }
            AnomalyKind::VarianceChange | AnomalyKind::None => {}
        }
    }
    value
}

/// The noise level of a series at a time (a variance change multiplies it).
fn noise_at(shape: &SeriesShape, ts: i64) -> f64 {
    match shape.anomaly {
        Some(anomaly) if anomaly.kind == AnomalyKind::VarianceChange && ts >= anomaly.start_micros => {
            shape.noise * anomaly.magnitude
        }
        _ => shape.noise,
    }
}

fn write_parquet(path: &Path, batches: &[RecordBatch], schema: SchemaRef) -> Result<u64> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    // Write to a temporary name and rename, so a crash never leaves a half-written file behind.
    let partial = path.with_extension("parquet.partial");
    let file = File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let properties = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut writer = ArrowWriter::try_new(file, schema, Some(properties))?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.close()?;
    std::fs::rename(&partial, path).with_context(|| format!("cannot rename {}", partial.display()))?;
    Ok(std::fs::metadata(path)?.len())
}

/// One file: a day of points for a range of series.
fn day_file(
    options: &GenOptions,
    shapes: &[SeriesShape],
    day: u32,
    series: std::ops::Range<usize>,
) -> Result<RecordBatch> {
    let day_start = options.start_micros + i64::from(day) * DAY_MICROS;
    let points_per_day = (DAY_MICROS / options.step_micros) as usize;
    let capacity = series.len() * points_per_day;
    let mut keys = Vec::with_capacity(capacity);
    let mut times = Vec::with_capacity(capacity);
    let mut values = Vec::with_capacity(capacity);
    let mut tag_keys: [Vec<i32>; 3] =
        [Vec::with_capacity(capacity), Vec::with_capacity(capacity), Vec::with_capacity(capacity)];
    for (local, index) in series.clone().enumerate() {
        let shape = &shapes[index];
        let mut rng =
            Rng::new(options.seed ^ ((index as u64) << 20) ^ u64::from(day).wrapping_mul(0x2545_f491_4f6c_dd1d));
        let (region, device_type, site) = tags(index);
        for point in 0..points_per_day {
            let ts = day_start + point as i64 * options.step_micros;
            // About one point in a thousand never arrives, and gaps lose whole hours.
            let hour = (ts - options.start_micros) / HOUR_MICROS;
            let in_gap = shape.gap.is_some_and(|(from, to)| hour >= from && hour < to);
            if rng.next_u64().is_multiple_of(1000) || in_gap {
                continue;
            }
            keys.push(local as i32);
            times.push(ts);
            values.push(signal(shape, options, ts) + noise_at(shape, ts) * rng.normal());
            tag_keys[0].push(region as i32);
            tag_keys[1].push(device_type as i32);
            tag_keys[2].push(site as i32);
        }
    }
    let ids = StringArray::from_iter_values(series.clone().map(series_id));
    let sites = StringArray::from_iter_values((0..SITES).map(|site| format!("site-{site:03}")));
    let dictionary = |keys: Vec<i32>, values: StringArray| -> Result<ArrayRef> {
        Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(keys.into(), Arc::new(values))?))
    };
    let [regions, device_types, site_keys] = tag_keys;
    let columns = vec![
        dictionary(keys, ids)?,
        Arc::new(TimestampMicrosecondArray::from(times).with_timezone("UTC")) as ArrayRef,
        Arc::new(Float64Array::from(values)),
        dictionary(regions, StringArray::from_iter_values(REGIONS))?,
        dictionary(device_types, StringArray::from_iter_values(DEVICE_TYPES))?,
        dictionary(site_keys, sites)?,
    ];
    Ok(RecordBatch::try_new(raw_schema(), columns)?)
}

/// The anomalies `gen` injects, one entry per affected series.
pub fn injected(options: &GenOptions) -> Vec<(String, Injected)> {
    (0..options.series)
        .filter_map(|series| shape(options, series).anomaly.map(|anomaly| (series_id(series), anomaly)))
        .collect()
}

pub fn generate(options: &GenOptions, progress: &(dyn Fn(usize, usize) + Sync)) -> Result<GenReport> {
    if options.series == 0 || options.days == 0 {
        bail!("--series and --days must be at least 1");
    }
    if options.step_micros <= 0 || DAY_MICROS % options.step_micros != 0 {
        bail!("--step must divide a day evenly (e.g. 1m, 10m, 1h)");
    }
    let raw = options.out.join("raw");
    if raw.exists() {
        std::fs::remove_dir_all(&raw).with_context(|| format!("cannot clear {}", raw.display()))?;
    }
    let shapes: Vec<SeriesShape> = (0..options.series).map(|series| shape(options, series)).collect();
    let chunks: Vec<std::ops::Range<usize>> = (0..options.series)
        .step_by(SERIES_PER_FILE)
        .map(|start| start..(start + SERIES_PER_FILE).min(options.series))
        .collect();
    let jobs: Vec<(u32, usize)> =
        (0..options.days).flat_map(|day| (0..chunks.len()).map(move |chunk| (day, chunk))).collect();
    let total = jobs.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map(|cores| cores.get()).unwrap_or(1).min(total);
    let results: Vec<Result<(u64, u64)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let (jobs, shapes, chunks, raw, done) = (&jobs, &shapes, &chunks, &raw, &done);
                scope.spawn(move || -> Result<(u64, u64)> {
                    let (mut rows, mut bytes) = (0, 0);
                    for (day, chunk) in jobs.iter().skip(thread).step_by(threads) {
                        let batch = day_file(options, shapes, *day, chunks[*chunk].clone())?;
                        let date = chrono::DateTime::from_timestamp_micros(
                            options.start_micros + i64::from(*day) * DAY_MICROS,
                        )
                        .map(|time| time.format("%Y-%m-%d").to_string())
                        .unwrap_or_default();
                        let path = raw.join(format!("date={date}")).join(format!("part-{chunk:04}.parquet"));
                        rows += batch.num_rows() as u64;
                        let slices: Vec<RecordBatch> = (0..batch.num_rows())
                            .step_by(65_536)
                            .map(|offset| batch.slice(offset, 65_536.min(batch.num_rows() - offset)))
                            .collect();
                        bytes += write_parquet(&path, &slices, raw_schema())?;
                        let finished = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        progress(finished, total);
                    }
                    Ok((rows, bytes))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap_or_else(|_| Err(anyhow::anyhow!("generator thread panicked"))))
            .collect()
    });
    let mut report = GenReport { files: total, ..GenReport::default() };
    for result in results {
        let (rows, bytes) = result?;
        report.rows += rows;
        report.bytes += bytes;
    }
    report.labels = write_labels(options)?;
    Ok(report)
}

fn write_labels(options: &GenOptions) -> Result<usize> {
    let labels = injected(options);
    let time =
        |values: Vec<i64>| -> ArrayRef { Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC")) };
    let schema = Arc::new(Schema::new(vec![
        Field::new("series_id", DataType::Utf8, false),
        Field::new("start", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        Field::new("end", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("magnitude", DataType::Float64, false),
        Field::new("hours", DataType::UInt32, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(labels.iter().map(|(id, _)| id.as_str()))),
            time(labels.iter().map(|(_, label)| label.start_micros).collect()),
            time(labels.iter().map(|(_, label)| label.end_micros).collect()),
            Arc::new(StringArray::from_iter_values(labels.iter().map(|(_, label)| label.kind.name()))),
            Arc::new(Float64Array::from_iter_values(labels.iter().map(|(_, label)| label.magnitude))),
            Arc::new(UInt32Array::from_iter_values(
                labels.iter().map(|(_, label)| ((label.end_micros - label.start_micros) / HOUR_MICROS) as u32),
            )),
        ],
    )?;
    write_parquet(&options.out.join("labels.parquet"), &[batch], schema)?;
    Ok(labels.len())
}
