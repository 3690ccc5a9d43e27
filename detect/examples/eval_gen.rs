//! Evaluates a detector on labelled data from `fathom gen`, as the engine runs it, without the
//! engine: `cargo run --release -p fathom-detect --example eval_gen -- DIR [DIR ...]
//! [--detector name:param=value,...] [--false KIND] [--dump SERIES_ID]`.
//!
//! Each `DIR` holds `hourly.csv` (`series_id,hour,value`: the hourly average of the 10-minute
//! points, hours 0..719 of the window; hours without data are absent) and `labels.csv`
//! (`series_id,kind,start_hour,end_hour,magnitude`, end inclusive; series without a label are
//! clean). Like the engine, each series becomes 720 hourly slots, NaN where no data arrived,
//! linearly filled, and goes through the detector in batch mode (default: the ensemble with
//! its default parameters); the per-kind table follows the rules of `fathom_detect::eval`,
//! as `fathom eval` does.
//!
//! Diagnostics: `--false KIND` lists the false alarms of that kind (series, first and last
//! point, peak score, and the series' label if any); `--dump SERIES_ID` prints that series
//! point by point (value, baseline, score, flag, kind); `--missed KIND` lists the labels of
//! that kind that were not found (series, window, and the alarms of the series).

use fathom_detect::{
    AnomalyKind, DetectorConfig, DetectorOutput, DetectorScratch, EvalReport, Fill, Label, Mode, evaluate, fill_gaps,
    run_detector,
};
use std::collections::BTreeMap;
use std::error::Error;
use std::path::Path;

/// Hours in the window of `fathom gen`'s default 30 days.
const HOURS: usize = 720;

/// One series of a dataset: its hourly slots (NaN = no data) and its labels.
struct Series {
    values: Vec<f64>,
    labels: Vec<Label>,
}

fn kind_of(name: &str) -> Option<AnomalyKind> {
    AnomalyKind::EVENTS.into_iter().find(|k| k.name() == name)
}

fn load(dir: &Path) -> Result<BTreeMap<String, Series>, Box<dyn Error>> {
    let mut series: BTreeMap<String, Series> = BTreeMap::new();
    let new = || Series { values: vec![f64::NAN; HOURS], labels: Vec::new() };
    let hourly = std::fs::read_to_string(dir.join("hourly.csv"))?;
    for (n, line) in hourly.lines().enumerate().skip(1) {
        let mut fields = line.split(',');
        let (Some(id), Some(hour), Some(value)) = (fields.next(), fields.next(), fields.next()) else {
            return Err(format!("hourly.csv line {}: expected series_id,hour,value", n + 1).into());
        };
        let hour: usize = hour.trim().parse()?;
        let value: f64 = value.trim().parse()?;
        let entry = series.entry(id.to_string()).or_insert_with(new);
        if let Some(slot) = entry.values.get_mut(hour) {
            *slot = value;
        }
    }
    let labels = std::fs::read_to_string(dir.join("labels.csv"))?;
    for (n, line) in labels.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let [id, kind, start, end, ..] = fields[..] else {
            return Err(format!("labels.csv line {}: expected series_id,kind,start_hour,end_hour,...", n + 1).into());
        };
        let kind = kind_of(kind.trim()).ok_or_else(|| format!("labels.csv line {}: unknown kind {kind}", n + 1))?;
        let label = Label { kind, start: start.trim().parse()?, end: end.trim().parse()? };
        series.entry(id.to_string()).or_insert_with(new).labels.push(label);
    }
    Ok(series)
}

/// `name:param=value,...` into a detector configuration.
fn parse_detector(spec: &str) -> Result<DetectorConfig, Box<dyn Error>> {
    let (name, params) = spec.split_once(':').unwrap_or((spec, ""));
    let pairs: Vec<(&str, &str)> =
        params.split(',').filter(|p| !p.is_empty()).filter_map(|p| p.split_once('=')).collect();
    Ok(DetectorConfig::from_params(name, &pairs)?)
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut dirs = Vec::new();
    let mut config = DetectorConfig::from_params("ensemble", &[])?;
    let (mut false_kind, mut dump, mut missed_kind) = (None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--detector" => config = parse_detector(&args.next().ok_or("--detector needs a value")?)?,
            "--false" => {
                let name = args.next().ok_or("--false needs a kind")?;
                false_kind = Some(kind_of(&name).ok_or_else(|| format!("unknown kind {name}"))?);
            }
            "--missed" => {
                let name = args.next().ok_or("--missed needs a kind")?;
                missed_kind = Some(kind_of(&name).ok_or_else(|| format!("unknown kind {name}"))?);
            }
            "--dump" => dump = Some(args.next().ok_or("--dump needs a series id")?),
            _ => dirs.push(arg),
        }
    }
    if dirs.is_empty() {
        return Err("usage: eval_gen DIR [DIR ...] [--detector name:param=value,...] [--false KIND] [--dump ID]".into());
    }
    let mut scratch = DetectorScratch::default();
    let mut out = DetectorOutput::default();
    for dir in &dirs {
        let data = load(Path::new(dir))?;
        let mut report = EvalReport { detector: format!("{} on {dir}", config.name()), ..EvalReport::default() };
        for (id, s) in &data {
            let mut values = s.values.clone();
            fill_gaps(&mut values, Fill::Linear);
            run_detector(&config, &values, Mode::Batch, &mut out, &mut scratch);
            let one = evaluate(&s.labels, &out);
            report.add(&one);
            if let Some(kind) = false_kind {
                print_false_alarms(id, s, &out, kind);
            }
            if let Some(kind) = missed_kind
                && one.stats(kind).hit < one.stats(kind).labels
            {
                let alarms: Vec<String> = (0..out.len())
                    .filter(|&i| out.flag[i] != 0)
                    .map(|i| format!("{i}:{}:{:.1}", out.kind[i].name(), out.score[i]))
                    .collect();
                let label = s.labels.iter().find(|l| l.kind == kind).map(|l| (l.start, l.end));
                println!("missed {} {id} {label:?} alarms {}", kind.name(), alarms.join(" "));
            }
            if dump.as_deref() == Some(id.as_str()) {
                for (i, v) in values.iter().enumerate() {
                    let (b, sc, f, k) = (out.baseline[i], out.score[i], out.flag[i], out.kind[i].name());
                    println!("{i:4} {v:12.4} {b:12.4} {:9.4} {sc:8.2} {f:2} {k}", v - b);
                }
            }
        }
        print!("{}", report.render());
    }
    Ok(())
}

/// Prints each alarm of `kind` in `out` that overlaps no label window of its kind.
fn print_false_alarms(id: &str, s: &Series, out: &DetectorOutput, kind: AnomalyKind) {
    let windows: Vec<(usize, usize)> =
        s.labels.iter().filter(|l| l.kind == kind).map(fathom_detect::eval::window).collect();
    let label = s.labels.first().map_or(String::from("clean"), |l| format!("{} {}..{}", l.kind.name(), l.start, l.end));
    let mut i = 0;
    while i < out.len() {
        if out.flag[i] == 0 || out.kind[i] != kind {
            i += 1;
            continue;
        }
        let (a, mut b) = (i, i);
        let mut j = i + 1;
        while j < out.len() && j - b <= fathom_detect::eval::MERGE_DISTANCE {
            if out.flag[j] != 0 && out.kind[j] == kind {
                b = j;
            }
            j += 1;
        }
        let peak = out.score[a..=b].iter().fold(0.0f64, |m, v| if v.abs() > m.abs() { *v } else { m });
        if !windows.iter().any(|&(lo, hi)| a <= hi && b >= lo) {
            println!("false {} {id} {a}..{b} score {peak:.1} ({label})", kind.name());
        }
        i = b + 1;
    }
}
