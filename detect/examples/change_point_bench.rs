//! Throughput check: `cargo run --release -p fathom-detect --example change_point_bench`.
//!
//! Runs `detect_change_points` (default parameters: automatic seasonality and penalty) over many 720-point hourly
//! series (daily seasonality, noise, a few spikes and missing points; a quarter each with a level shift, a trend
//! change, a variance change or nothing) and prints the time per series (target: at most 40 us on one core), plus
//! the same with a given period (no period detection) and `change_point_scores`. Each figure is the best of a few
//! runs, to filter out noise from other work on the machine; the CPU time (from `/proc/thread-self/schedstat`, on
//! Linux) also leaves out the time spent waiting for a core.

use fathom_detect::{
    ChangeKind, ChangePointParams, ChangePointScratch, Seasonality, change_point_scores, detect_change_points,
};
use std::hint::black_box;
use std::time::Instant;

const ROUNDS: usize = 40;
const REPEATS: usize = 5;

/// This thread's CPU time in nanoseconds (Linux `schedstat`), if available: unlike the wall clock it does not
/// count the time spent waiting for a core, which matters on a busy machine.
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
}

/// Best wall-clock and CPU time per series, in microseconds, of `REPEATS` runs of `ROUNDS` passes.
fn time_per_series(series: &[Vec<f64>], mut run: impl FnMut(&[f64])) -> (f64, Option<f64>) {
    series.iter().for_each(|x| run(x));
    let calls = (ROUNDS * series.len()) as f64;
    (0..REPEATS)
        .map(|_| {
            let (start, cpu) = (Instant::now(), cpu_ns());
            for _ in 0..ROUNDS {
                series.iter().for_each(|x| run(x));
            }
            let wall = start.elapsed().as_secs_f64() / calls * 1e6;
            let cpu = cpu.zip(cpu_ns()).map(|(a, b)| b.saturating_sub(a) as f64 / calls / 1e3);
            (wall, cpu)
        })
        .fold((f64::INFINITY, None), |(w, c), (wall, cpu)| {
            (
                w.min(wall),
                match (c, cpu) {
                    (Some(a), Some(b)) => Some(f64::min(a, b)),
                    (a, b) => a.or(b),
                },
            )
        })
}

/// Formats a timing as "wall us/series (CPU us)".
fn show((wall, cpu): (f64, Option<f64>)) -> String {
    match cpu {
        Some(cpu) => format!("{wall:.1} us/series wall, {cpu:.1} us CPU"),
        None => format!("{wall:.1} us/series wall"),
    }
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
            let at = 48 + (s * 37) % 624;
            (0..720)
                .map(|i| {
                    let t = 2.0 * std::f64::consts::PI * i as f64 / 24.0;
                    let noise = ((0..4).map(|_| uniform()).sum::<f64>() - 2.0) * 1.7;
                    let spike = if (i * 31 + s) % 97 == 0 { 8.0 } else { 0.0 };
                    let event = match (s % 4, i >= at) {
                        (1, true) => 30.0,
                        (2, true) => 0.08 * (i - at) as f64,
                        (3, true) => 2.0 * noise,
                        _ => 0.0,
                    };
                    let v = 100.0 + 20.0 * t.sin() + 6.0 * (2.0 * t).cos() + noise + spike + event;
                    if (i * 13 + s) % 101 == 0 { f64::NAN } else { v }
                })
                .collect()
        })
        .collect();

    let mut out = Vec::new();
    let mut scratch = ChangePointScratch::default();
    let auto = ChangePointParams::default();
    let auto_time = time_per_series(&series, |x| {
        detect_change_points(x, &auto, &mut out, &mut scratch);
        black_box(&out);
    });
    let found = series
        .iter()
        .map(|x| {
            detect_change_points(x, &auto, &mut out, &mut scratch);
            out.len()
        })
        .sum::<usize>();
    println!(
        "detect_change_points(auto, 720 points): {} ({found} change points in {} series)",
        show(auto_time),
        series.len()
    );
    let fixed = ChangePointParams { seasonality: Seasonality::Period(24), ..auto };
    let time = time_per_series(&series, |x| {
        detect_change_points(x, &fixed, &mut out, &mut scratch);
        black_box(&out);
    });
    println!("  with a given period (no detection): {}", show(time));
    let (mut baseline, mut score, mut kinds) = (vec![0.0; 720], vec![0.0; 720], vec![None::<ChangeKind>; 720]);
    let time = time_per_series(&series, |x| {
        change_point_scores(x, &auto, &mut baseline, &mut score, &mut kinds, &mut scratch);
        black_box(&score);
    });
    println!("  change_point_scores(auto): {}", show(time));
}
