//! Event-level evaluation on labelled synthetic series:
//! `cargo run --release -p fathom-detect --example eval [per_kind] [clean] [causal] [seed=N]`.
//!
//! Generates `per_kind` series (default 200) for each event kind plus `clean` series
//! (default 200) of 720 hourly points with daily and weekly seasonality, missing points and
//! gaps (`SyntheticSpec::default()`), runs the ADX baseline (`decompose`, threshold 3) and
//! the `ensemble` over the same series, and prints one table per detector (see
//! `fathom_detect::eval` for how events are matched). The logic is in the library; this
//! only calls it.

use fathom_detect::{DetectorConfig, EvalPlan, Mode, SyntheticSpec, evaluate_detectors};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let per_kind = args.first().map(|a| a.parse()).transpose()?.unwrap_or(200);
    let clean = args.get(1).map(|a| a.parse()).transpose()?.unwrap_or(200);
    let mode = if args.iter().any(|a| a == "causal") { Mode::Causal } else { Mode::Batch };
    let seed = args.iter().find_map(|a| a.strip_prefix("seed=")).map(str::parse).transpose()?.unwrap_or(1);
    let configs = [
        DetectorConfig::from_params("decompose", &[("threshold", "3")])?,
        DetectorConfig::from_params("ensemble", &[])?,
    ];
    let plan = EvalPlan { per_kind, clean, mode, seed };
    let start = Instant::now();
    let reports = evaluate_detectors(&configs, &SyntheticSpec::default(), &plan);
    for report in &reports {
        println!("{}", report.render());
    }
    println!("{:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}
