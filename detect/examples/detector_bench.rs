//! Throughput of every detector: `cargo run --release -p fathom-detect --example detector_bench [names...]`.
//!
//! Runs each detector (default parameters, plus decompose with threshold 3) in batch mode
//! over 256 labelled synthetic 720-point hourly series (`SyntheticSpec::default()`: daily
//! and weekly seasonality, missing points and gaps, a mix of clean series and every event
//! kind) and prints the median wall time per series over several runs, the CPU time per
//! series (from `/proc/thread-self/stat`, which leaves out the time the thread waited for a
//! core on a busy machine) and the series per second on one core at that CPU time.
//! Targets: ensemble <= 100 us (10,000 series/s), decompose <= 20 us (50,000 series/s).
//! One scratch is reused throughout, as the engine does, so steady-state runs do not
//! allocate.

use fathom_detect::{
    AnomalyKind, DetectorConfig, DetectorOutput, DetectorScratch, Mode, SyntheticSpec, generate_series, run_detector,
};
use std::hint::black_box;
use std::time::Instant;

const RUNS: usize = 9;

/// CPU time of this thread in seconds (user + system), if the platform tells.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let spec = SyntheticSpec::default();
    let kinds = [None].into_iter().chain(AnomalyKind::EVENTS.map(Some)).collect::<Vec<_>>();
    let series: Vec<Vec<f64>> =
        (0..256u64).map(|s| generate_series(&spec, kinds[s as usize % kinds.len()], s).0).collect();
    let filter: Vec<String> = std::env::args().skip(1).collect();
    let mut configs: Vec<DetectorConfig> =
        DetectorConfig::NAMES.iter().map(|n| DetectorConfig::from_params(n, &[])).collect::<Result<_, _>>()?;
    configs.insert(2, DetectorConfig::from_params("decompose", &[("threshold", "3")])?);
    let mut out = DetectorOutput::default();
    let mut scratch = DetectorScratch::default();
    for config in configs.iter().filter(|c| filter.is_empty() || filter.iter().any(|f| f == c.name())) {
        let mut run = || {
            for x in &series {
                run_detector(config, x, Mode::Batch, &mut out, &mut scratch);
                black_box(&out);
            }
        };
        run();
        let cpu_start = cpu_seconds();
        let mut times: Vec<f64> = (0..RUNS)
            .map(|_| {
                let start = Instant::now();
                run();
                start.elapsed().as_secs_f64() / series.len() as f64 * 1e6
            })
            .collect();
        let cpu = cpu_start.zip(cpu_seconds()).map(|(a, b)| (b - a) / (RUNS * series.len()) as f64 * 1e6);
        times.sort_by(f64::total_cmp);
        let wall = times[RUNS / 2];
        let us = cpu.unwrap_or(wall);
        let params: Vec<String> = config.to_params().iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "{:<18} {:>7.1} us/series wall, {:>7.1} us cpu {:>8.0} series/s  ({})",
            config.name(),
            wall,
            us,
            1e6 / us,
            params.join(" ")
        );
    }
    Ok(())
}
