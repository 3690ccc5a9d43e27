//! Throughput check: `cargo run --release -p fathom-detect --example bench`.
//!
//! Runs `decompose_anomalies` (auto seasonality, ADX defaults) over many 720-point hourly
//! series and prints the time per series (target: at most 20 us, i.e. 50,000 series per
//! second on one core), plus the main stages on their own. Each figure is the best of a
//! few runs, to filter out noise from other work on the machine.

use fathom_detect::{
    AnomalyOutput, DecomposeParams, DecomposeScratch, Decomposition, OutlierTest, PeriodScratch, Seasonality,
    decompose, decompose_anomalies, detect_period,
};
use std::hint::black_box;
use std::time::Instant;

const ROUNDS: usize = 100;
const REPEATS: usize = 5;

/// Best time per series, in microseconds, of `REPEATS` runs of `ROUNDS` passes.
fn time_per_series(series: &[Vec<f64>], mut run: impl FnMut(&[f64])) -> f64 {
    series.iter().for_each(|x| run(x));
    (0..REPEATS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..ROUNDS {
                series.iter().for_each(|x| run(x));
            }
            start.elapsed().as_secs_f64() / (ROUNDS * series.len()) as f64 * 1e6
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let series: Vec<Vec<f64>> = (0..256)
        .map(|s| {
            (0..720)
                .map(|i| {
                    let t = 2.0 * std::f64::consts::PI * i as f64 / 24.0;
                    let noise = (0..4).map(|_| uniform()).sum::<f64>() - 2.0;
                    let spike = if (i * 31 + s) % 97 == 0 { 8.0 } else { 0.0 };
                    100.0 + s as f64 + 10.0 * t.sin() + 3.0 * (2.0 * t).cos() + noise + spike
                })
                .collect()
        })
        .collect();

    let mut out = AnomalyOutput::default();
    let mut decomposition = Decomposition::default();
    let mut scratch = DecomposeScratch::default();
    let mut periods = PeriodScratch::default();
    let test = OutlierTest::default();
    let auto = DecomposeParams::default();
    let fixed = DecomposeParams { seasonality: Seasonality::Period(24), ..auto };

    let us = time_per_series(&series, |x| {
        decompose_anomalies(x, &auto, 1.5, test, &mut out, &mut scratch);
        black_box(&out);
    });
    println!(
        "decompose_anomalies(auto, 720 points): {us:.1} us/series = {:.0} series/s (period {:?})",
        1e6 / us,
        out.period
    );
    let us = time_per_series(&series, |x| {
        decompose_anomalies(x, &fixed, 1.5, test, &mut out, &mut scratch);
        black_box(&out);
    });
    println!("  with a given period (no detection): {us:.1} us/series");
    let us = time_per_series(&series, |x| {
        decompose(x, &fixed, &mut decomposition, &mut scratch);
        black_box(&decomposition);
    });
    println!("  decompose alone, given period: {us:.1} us/series");
    let us = time_per_series(&series, |x| {
        black_box(detect_period(x, 4, 360, &mut periods));
    });
    println!("  detect_period alone: {us:.1} us/series");
}
