//! Seasonal/trend decomposition and anomaly flagging (ADX `series_decompose` and
//! `series_decompose_anomalies`).
//!
//! Following ADX's documented order of operations:
//! 1. find the period (given, auto-detected and accepted if its score reaches the
//!    threshold, or none);
//! 2. seasonal = the median of the learning points with the same phase `i % period` (0
//!    without a period);
//! 3. trend, fitted on the deseasonalised series `x - seasonal`: `Avg` is its mean (a
//!    constant), `Linefit` its least-squares line, `None` is 0;
//! 4. baseline = seasonal + trend, residual = x - baseline.
//!
//! The last `test_points` points are excluded from learning (period detection, phase
//! medians, trend fit, outlier fences) but still get a baseline (seasonal by phase, the
//! learned mean, or the fitted line extended) and a residual, as ADX does for forecasting.
//!
//! Choices where ADX's documentation is silent:
//! - an explicit `Period(p)` is used only if the learning part holds at least two full
//!   cycles (`2p <= learning length`, `p >= 1`); otherwise there is no seasonal component
//!   and `period` is None, since one cycle would make the seasonal component equal the data;
//! - a phase without any valid learning point takes the median of the other phases'
//!   medians, so every point has a finite baseline whenever anything could be learned;
//! - with no valid learning point at all the baseline is 0;
//! - NaN inputs get a baseline and a NaN residual; non-finite points are left out of the
//!   trend fit;
//! - values beyond 1e±60 are scaled by an exact power of two while computing, so huge
//!   magnitudes neither overflow nor lose precision.

use crate::outliers::{OutlierTest, outlier_fences, score_with_fences};
use crate::periods::{MIN_PERIOD, PeriodScratch, detect_period};
use crate::stats::{finite_sum, lerp, max_abs_finite, pow2_scale, select_percentile, sort_columns};

/// How the seasonal component is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Seasonality {
    /// Detect the period with [`detect_period`]; used only if its score reaches
    /// [`DecomposeParams::seasonality_threshold`] (ADX `-1`).
    Auto,
    /// No seasonal component (ADX `0`).
    None,
    /// This period, in bins.
    Period(usize),
}

/// How the trend component is fitted on the deseasonalised series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trend {
    /// The mean: a constant (ADX `avg`, the default).
    Avg,
    /// The least-squares line (ADX `linefit`).
    Linefit,
    /// No trend (ADX `none`).
    None,
}

/// Parameters of [`decompose`] and [`decompose_anomalies`], with ADX's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecomposeParams {
    /// Seasonal analysis (default `Auto`).
    pub seasonality: Seasonality,
    /// Trend analysis (default `Avg`).
    pub trend: Trend,
    /// Trailing points excluded from learning (default 0).
    pub test_points: usize,
    /// Minimum period score accepted by `Auto` (default 0.6).
    pub seasonality_threshold: f64,
}

impl Default for DecomposeParams {
    fn default() -> Self {
        DecomposeParams {
            seasonality: Seasonality::Auto,
            trend: Trend::Avg,
            test_points: 0,
            seasonality_threshold: 0.6,
        }
    }
}

/// Output buffers, reused across series (cleared and resized, which does not reallocate
/// once they have the capacity).
#[derive(Debug, Default)]
pub struct Decomposition {
    /// seasonal + trend.
    pub baseline: Vec<f64>,
    /// Per-phase medians repeated along the series (0 without a period).
    pub seasonal: Vec<f64>,
    /// The trend component.
    pub trend: Vec<f64>,
    /// x - baseline (NaN where x is NaN).
    pub residual: Vec<f64>,
    /// The period used, if any.
    pub period: Option<usize>,
}

/// Reusable work buffers for [`decompose`] and [`decompose_anomalies`].
#[derive(Debug, Default)]
pub struct DecomposeScratch {
    work: Work,
    decomposition: Decomposition,
}

#[derive(Debug, Default)]
struct Work {
    periods: PeriodScratch,
    buf: Vec<f64>,
    medians: Vec<f64>,
    counts: Vec<usize>,
    scaled: Vec<f64>,
    /// The learning values with gaps filled, for period detection.
    filled: Vec<f64>,
}

/// Output of [`decompose_anomalies`].
#[derive(Debug, Default)]
pub struct AnomalyOutput {
    /// seasonal + trend, as in [`Decomposition::baseline`].
    pub baseline: Vec<f64>,
    /// Outlier score of the residual (0 where the input is NaN).
    pub score: Vec<f64>,
    /// +1 above `threshold`, -1 below `-threshold`, else 0 (0 where the input is NaN).
    pub flag: Vec<i8>,
    /// The period used, if any.
    pub period: Option<usize>,
}

/// ADX `series_decompose`: fills `out` with the decomposition of `values` (see the module
/// docs for the exact semantics). Every output vector has the input's length.
pub fn decompose(values: &[f64], params: &DecomposeParams, out: &mut Decomposition, scratch: &mut DecomposeScratch) {
    decompose_with(values, params, out, &mut scratch.work);
}

/// ADX `series_decompose_anomalies`: decomposes, scores the residual with the outlier test
/// `test` (fences learned from the learning part's residuals, every point scored), and flags
/// +1 where `score > threshold`, -1 where `score < -threshold`, else 0. NaN inputs get score
/// 0 and flag 0. ADX's default threshold is 1.5 and its default test `ctukey` 10/90.
pub fn decompose_anomalies(
    values: &[f64],
    params: &DecomposeParams,
    threshold: f64,
    test: OutlierTest,
    out: &mut AnomalyOutput,
    scratch: &mut DecomposeScratch,
) {
    let DecomposeScratch { work, decomposition: d } = scratch;
    decompose_with(values, params, d, work);
    out.period = d.period;
    out.baseline.clear();
    out.baseline.extend_from_slice(&d.baseline);

    let learn = learning_len(values.len(), params.test_points);
    let learned = d.residual.get(..learn).unwrap_or(&[]);
    let (lo, hi) = outlier_fences(learned, test, &mut work.buf).unwrap_or((0.0, 0.0));
    out.score.clear();
    out.score.resize(values.len(), 0.0);
    score_with_fences(&d.residual, lo, hi, &mut out.score);
    out.flag.clear();
    out.flag.extend(values.iter().zip(&out.score).map(|(&x, &s)| {
        let flag = i8::from(s > threshold) - i8::from(s < -threshold);
        if x.is_nan() { 0 } else { flag }
    }));
}

fn learning_len(n: usize, test_points: usize) -> usize {
    n - test_points.min(n)
}

fn decompose_with(values: &[f64], params: &DecomposeParams, out: &mut Decomposition, work: &mut Work) {
    let n = values.len();
    for v in [&mut out.baseline, &mut out.seasonal, &mut out.trend, &mut out.residual] {
        v.clear();
        v.resize(n, 0.0);
    }
    let learn = learning_len(n, params.test_points);

    // Work on an exactly rescaled copy only when magnitudes are extreme.
    let scale = pow2_scale(max_abs_finite(values));
    let mut scaled = std::mem::take(&mut work.scaled);
    let x: &[f64] = if scale == 1.0 {
        values
    } else {
        scaled.clear();
        scaled.extend(values.iter().map(|v| v * scale));
        &scaled
    };
    let learning = x.get(..learn).unwrap_or(&[]);

    out.period = choose_period(learning, params, &mut work.periods, &mut work.filled);
    if let Some(p) = out.period {
        seasonal_medians(learning, p, work);
        for chunk in out.seasonal.chunks_mut(p) {
            for (s, &m) in chunk.iter_mut().zip(&work.medians) {
                *s = m;
            }
        }
    }
    fit_trend(learning, &out.seasonal, params.trend, &mut out.trend);

    for (((b, r), (&s, &t)), &v) in
        out.baseline.iter_mut().zip(out.residual.iter_mut()).zip(out.seasonal.iter().zip(&out.trend)).zip(x)
    {
        *b = s + t;
        *r = v - *b;
    }
    if scale != 1.0 {
        let inv = 1.0 / scale;
        for v in [&mut out.baseline, &mut out.seasonal, &mut out.trend, &mut out.residual] {
            v.iter_mut().for_each(|e| *e *= inv);
        }
    }
    work.scaled = scaled;
}

/// Period detection sees gaps filled linearly: a handful of NaNs otherwise sends it down its
/// slow gap-aware path (2.5x the cost per series) for the same answer.
fn choose_period(
    learning: &[f64],
    params: &DecomposeParams,
    periods: &mut PeriodScratch,
    filled: &mut Vec<f64>,
) -> Option<usize> {
    let n = learning.len();
    match params.seasonality {
        Seasonality::None => None,
        Seasonality::Period(p) => (p >= 1 && p <= n / 2).then_some(p),
        Seasonality::Auto => {
            let input = if learning.iter().any(|value| value.is_nan()) {
                filled.clear();
                filled.extend_from_slice(learning);
                crate::fill::fill_gaps(filled, crate::fill::Fill::Linear);
                filled.as_slice()
            } else {
                learning
            };
            detect_period(input, MIN_PERIOD, n / 2, periods)
                .filter(|&(_, score)| score >= params.seasonality_threshold)
                .map(|(p, _)| p)
        }
    }
}

/// Up to this many cycles, phase medians come from sorting all phases at once with a
/// sorting network; beyond, one linear-time selection per phase is cheaper.
const NETWORK_MAX_CYCLES: usize = 40;

/// `work.medians[phase]` = median of the non-NaN learning values with that phase.
fn seasonal_medians(learning: &[f64], period: usize, work: &mut Work) {
    let Work { buf, medians, counts, .. } = work;
    medians.clear();
    let cycles = learning.len().div_ceil(period);
    if cycles <= NETWORK_MAX_CYCLES {
        // One row per cycle, one column per phase; NaN and the missing end of a partial
        // last cycle become +inf, which sorts after every real value, so the median of a
        // column with `m` real values sits at rows (m - 1) / 2 and m / 2.
        buf.clear();
        buf.extend(learning.iter().map(|&v| if v.is_nan() { f64::INFINITY } else { v }));
        buf.resize(cycles * period, f64::INFINITY);
        counts.clear();
        counts.resize(period, 0);
        for cycle in learning.chunks(period) {
            for (c, v) in counts.iter_mut().zip(cycle) {
                *c += usize::from(!v.is_nan());
            }
        }
        sort_columns(buf, cycles, period);
        medians.extend(counts.iter().enumerate().map(|(phase, &m)| {
            let at = |row: usize| buf.get(row * period + phase).copied();
            match (m, at(m.saturating_sub(1) / 2), at(m / 2)) {
                (0, _, _) => f64::NAN,
                (_, Some(a), Some(b)) if m % 2 == 0 => lerp(a, b, 0.5),
                (_, Some(a), _) => a,
                _ => f64::NAN,
            }
        }));
    } else {
        for phase in 0..period {
            buf.clear();
            if let Some(tail) = learning.get(phase..) {
                buf.extend(tail.iter().step_by(period).copied().filter(|v| !v.is_nan()));
            }
            medians.push(select_percentile(buf, 50.0));
        }
    }
    if medians.iter().any(|m| m.is_nan()) {
        buf.clear();
        buf.extend(medians.iter().copied().filter(|m| !m.is_nan()));
        let fallback = select_percentile(buf, 50.0);
        let fallback = if fallback.is_nan() { 0.0 } else { fallback };
        medians.iter_mut().filter(|m| m.is_nan()).for_each(|m| *m = fallback);
    }
}

/// Fits the trend on the finite deseasonalised learning points and writes it for every
/// point (extrapolating past the learning part).
fn fit_trend(learning: &[f64], seasonal: &[f64], kind: Trend, trend: &mut [f64]) {
    if kind == Trend::None {
        trend.fill(0.0);
        return;
    }
    // The deseasonalised learning points go through `trend` itself before it is written.
    let learn = learning.len().min(trend.len());
    let deseasonalised = &mut trend[..learn];
    for ((d, &x), &s) in deseasonalised.iter_mut().zip(learning).zip(seasonal) {
        *d = x - s;
    }
    let (sum, count) = finite_sum(deseasonalised);
    if count == 0 {
        trend.fill(0.0);
        return;
    }
    let mean_d = sum / count as f64;
    let mut line = (mean_d, 0.0, 0.0);
    if kind == Trend::Linefit {
        let points = deseasonalised.iter().enumerate().filter(|(_, d)| d.is_finite()).map(|(i, &d)| (i as f64, d));
        let sum_t: f64 = points.clone().map(|(t, _)| t).sum();
        let mean_t = sum_t / count as f64;
        let (sxx, sxy) = points.fold((0.0, 0.0), |(sxx, sxy), (t, d)| {
            let dt = t - mean_t;
            (sxx + dt * dt, sxy + dt * (d - mean_d))
        });
        if sxx > 0.0 && sxy.is_finite() {
            line = (mean_d, sxy / sxx, mean_t);
        }
    }
    let (mean, slope, mean_t) = line;
    if slope == 0.0 {
        trend.fill(mean);
    } else {
        for (i, v) in trend.iter_mut().enumerate() {
            *v = mean + slope * (i as f64 - mean_t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::XorShift;
    use proptest::prelude::*;
    use std::f64::consts::PI;

    fn daily(i: usize) -> f64 {
        let t = 2.0 * PI * i as f64 / 24.0;
        10.0 + 5.0 * t.sin() + 2.0 * (2.0 * t).cos()
    }

    #[test]
    fn pure_seasonal_plus_constant_has_zero_residual() {
        let x: Vec<f64> = (0..720).map(daily).collect();
        let mut out = Decomposition::default();
        let mut scratch = DecomposeScratch::default();
        decompose(&x, &DecomposeParams::default(), &mut out, &mut scratch);
        assert_eq!(out.period, Some(24));
        assert!(out.residual.iter().all(|r| r.abs() < 1e-9));
        assert!(out.baseline.iter().zip(&x).all(|(b, v)| (b - v).abs() < 1e-9));
        assert!(out.trend.iter().all(|t| t.abs() < 1e-9));
    }

    #[test]
    fn linefit_extrapolates_over_test_points() {
        let x: Vec<f64> = (0..100).map(|i| if i < 90 { 3.0 + 0.5 * i as f64 } else { 1000.0 }).collect();
        let params = DecomposeParams {
            seasonality: Seasonality::None,
            trend: Trend::Linefit,
            test_points: 10,
            ..DecomposeParams::default()
        };
        let mut out = Decomposition::default();
        let mut scratch = DecomposeScratch::default();
        decompose(&x, &params, &mut out, &mut scratch);
        assert_eq!(out.period, None);
        for (i, b) in out.baseline.iter().enumerate() {
            assert!((b - (3.0 + 0.5 * i as f64)).abs() < 1e-9);
        }
        assert!(out.residual[..90].iter().all(|r| r.abs() < 1e-9));
        assert!(out.residual[90..].iter().all(|r| *r > 900.0));
    }

    #[test]
    fn avg_trend_and_explicit_period_with_test_points() {
        let mut x: Vec<f64> = (0..120).map(|i| [1.0, 5.0, 3.0, 7.0][i % 4] + 2.0).collect();
        x[5] = f64::NAN;
        x[119] = 100.0;
        let params =
            DecomposeParams { seasonality: Seasonality::Period(4), test_points: 20, ..DecomposeParams::default() };
        let mut out = Decomposition::default();
        let mut scratch = DecomposeScratch::default();
        decompose(&x, &params, &mut out, &mut scratch);
        assert_eq!(out.period, Some(4));
        assert!((out.baseline[119] - 9.0).abs() < 1e-12);
        assert!((out.residual[119] - 91.0).abs() < 1e-12);
        assert!((out.baseline[5] - 7.0).abs() < 1e-12);
        assert!(out.residual[5].is_nan());
        // Too long for two cycles: no seasonality.
        let params = DecomposeParams { seasonality: Seasonality::Period(80), ..DecomposeParams::default() };
        decompose(&x, &params, &mut out, &mut scratch);
        assert_eq!(out.period, None);
    }

    #[test]
    fn flags_injected_spikes_and_dips() {
        let mut rng = XorShift(0x1234_5678_9abc_def1);
        let sigma = 0.3;
        let mut x: Vec<f64> = (0..720).map(|i| daily(i) + sigma * rng.normal()).collect();
        let spikes = [50usize, 333, 601];
        let dips = [200usize, 479];
        for &i in &spikes {
            x[i] += 10.0 * sigma;
        }
        for &i in &dips {
            x[i] -= 10.0 * sigma;
        }
        let mut out = AnomalyOutput::default();
        let mut scratch = DecomposeScratch::default();
        let params = DecomposeParams::default();
        decompose_anomalies(&x, &params, 3.0, OutlierTest::default(), &mut out, &mut scratch);
        assert_eq!(out.period, Some(24));
        for (i, &f) in out.flag.iter().enumerate() {
            let want = if spikes.contains(&i) {
                1
            } else if dips.contains(&i) {
                -1
            } else {
                0
            };
            assert_eq!(f, want, "index {i} score {}", out.score[i]);
        }
        // Reusing the buffers gives the same answer.
        let first = out.score.clone();
        decompose_anomalies(&x, &params, 3.0, OutlierTest::default(), &mut out, &mut scratch);
        assert_eq!(first, out.score);
    }

    #[test]
    fn huge_series_is_fast_and_correct() {
        let n = 1 << 20;
        let mut rng = XorShift(99);
        let mut x: Vec<f64> = (0..n).map(|i| daily(i) + 0.3 * rng.normal()).collect();
        x[777_777] += 30.0;
        x[12_345] = f64::NAN;
        let mut out = AnomalyOutput::default();
        let mut scratch = DecomposeScratch::default();
        let params = DecomposeParams::default();
        decompose_anomalies(&x, &params, 3.0, OutlierTest::default(), &mut out, &mut scratch);
        assert_eq!(out.period, Some(24));
        assert_eq!(out.flag.len(), n);
        assert_eq!(out.flag[777_777], 1);
        assert_eq!(out.score[12_345], 0.0);
    }

    #[test]
    fn degenerate_inputs() {
        let mut out = AnomalyOutput::default();
        let mut scratch = DecomposeScratch::default();
        let p = DecomposeParams::default();
        for x in [vec![], vec![1.0], vec![f64::NAN; 10], vec![1e300, -1e300, f64::MAX, 0.0]] {
            decompose_anomalies(&x, &p, 1.5, OutlierTest::Tukey, &mut out, &mut scratch);
            assert_eq!(out.score.len(), x.len());
        }
        let huge: Vec<f64> = (0..240).map(|i| daily(i) * 1e300).collect();
        let mut d = Decomposition::default();
        decompose(&huge, &p, &mut d, &mut scratch);
        assert_eq!(d.period, Some(24));
        assert!(d.residual.iter().all(|r| r.abs() < 1e288));
        let all_test = DecomposeParams { test_points: 1000, ..p };
        decompose(&huge, &all_test, &mut d, &mut scratch);
        assert!(d.baseline.iter().all(|b| *b == 0.0));
    }

    fn any_f64() -> impl Strategy<Value = f64> {
        prop_oneof![
            3 => -1e3f64..1e3,
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
            1 => Just(1e300),
            1 => Just(-1e300),
            1 => proptest::num::f64::ANY,
        ]
    }

    fn any_params() -> impl Strategy<Value = DecomposeParams> {
        (
            prop_oneof![Just(Seasonality::Auto), Just(Seasonality::None), (0usize..400).prop_map(Seasonality::Period),],
            prop_oneof![Just(Trend::Avg), Just(Trend::Linefit), Just(Trend::None)],
            0usize..400,
            prop_oneof![0.0f64..1.0, Just(f64::NAN)],
        )
            .prop_map(|(seasonality, trend, test_points, seasonality_threshold)| DecomposeParams {
                seasonality,
                trend,
                test_points,
                seasonality_threshold,
            })
    }

    proptest! {
        #[test]
        fn constant_series_has_no_anomalies(
            c in prop_oneof![-1e300f64..1e300, -10.0f64..10.0],
            n in 0usize..300,
            params in any_params(),
        ) {
            let x = vec![c; n];
            let mut out = AnomalyOutput::default();
            let mut scratch = DecomposeScratch::default();
            decompose_anomalies(&x, &params, 1.5, OutlierTest::default(), &mut out, &mut scratch);
            prop_assert_eq!(out.flag.len(), n);
            prop_assert!(out.flag.iter().all(|&f| f == 0));
            prop_assert!(out.score.iter().all(|&s| s == 0.0));
        }

        #[test]
        fn arbitrary_input_never_panics(
            x in proptest::collection::vec(any_f64(), 0..300),
            params in any_params(),
            threshold in prop_oneof![0.0f64..5.0, Just(f64::NAN), Just(-1.0)],
        ) {
            let mut out = AnomalyOutput::default();
            let mut scratch = DecomposeScratch::default();
            decompose_anomalies(&x, &params, threshold, OutlierTest::default(), &mut out, &mut scratch);
            prop_assert_eq!(out.baseline.len(), x.len());
            prop_assert_eq!(out.score.len(), x.len());
            prop_assert_eq!(out.flag.len(), x.len());
            for ((s, f), v) in out.score.iter().zip(&out.flag).zip(&x) {
                prop_assert!(!s.is_nan());
                if v.is_nan() {
                    prop_assert_eq!(*s, 0.0);
                    prop_assert_eq!(*f, 0);
                }
            }
            let mut d = Decomposition::default();
            decompose(&x, &params, &mut d, &mut scratch);
            for v in [&d.baseline, &d.seasonal, &d.trend, &d.residual] {
                prop_assert_eq!(v.len(), x.len());
            }
        }
    }
}
