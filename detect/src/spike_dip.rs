//! Spikes and dips against a robust trailing history: the equivalent of Azure Stream
//! Analytics' `AnomalyDetection_SpikeAndDip(value, confidence, historySize, mode)`.
//!
//! ASA estimates the density of the last `historySize` values with an adaptive kernel and
//! flags a value whose probability under it is below `1 - confidence/100`. That has two
//! weaknesses this detector avoids: seasonality makes the history a mixture of levels (the
//! density is wide, so real spikes hide in it), and the anomalies in the history widen the
//! density too. Here:
//!
//! 1. the seasonal component is removed by per-phase medians ([`decompose`] with the
//!    `seasonality` parameter and no trend), robust to the anomalies among the cycles
//!    (`auto` detects the period on the gap-filled series, accepted at decompose's score);
//! 2. each point is predicted by the median of the previous [`LEVEL_WINDOW`] residuals
//!    (the current level: it follows drifts and slow patterns the seasonal model lacks, and
//!    a spike in it is ignored), giving a one-step prediction error `e`;
//! 3. `e` is scored against the `history` previous errors by a robust z-score:
//!    `(e - median) / σ̂` with `σ̂` = the interquartile range scaled to a Gaussian σ (falling
//!    back to wider percentile ranges for lumpy data). Medians and quartiles ignore the
//!    few anomalies in the history, where a density estimate or a standard deviation would
//!    widen.
//!
//! The score is that signed robust z. A point is flagged when its score is beyond the
//! normal quantile of the confidence, `Φ⁻¹(confidence / 100)`, in a direction `mode`
//! covers: confidence 99 flags `|z| > 2.33` (per direction, as in ASA a rate of about 1%
//! of ordinary points per direction on Gaussian noise), 99.9 `|z| > 3.09`, 99.99
//! `|z| > 3.72`. Points with fewer than `min(history, 24)` valid errors in their history
//! are not scored (score 0), as ASA waits for its history to fill.
//!
//! Baseline: seasonal + level + median error, the value the point was expected to have.
//! Missing points score 0; ±inf points are left out of the model and score ±inf (they are
//! flagged if `mode` covers their direction). Magnitudes near the limits of `f64` are
//! handled by an exact power-of-two rescaling.
//!
//! Causal mode: the trailing windows are causal already, but the seasonal medians are those
//! of the whole series in batch, so the causal output at `i` re-learns them from
//! `values[..=i]` (one decomposition per point, O(n) each) and scores only the newest
//! point; it is identical to the last point of a batch run over the prefix.

mod window;

pub(crate) use window::{Quantiles, SortedWindow, location_scale, robust_z};

use crate::decompose::{DecomposeParams, DecomposeScratch, Decomposition, Seasonality, Trend, decompose};
use crate::detector::normal::quantile;
use crate::detector::rank::RankTree;
use crate::detector::{AnomalyKind, DetectorOutput};
use crate::fill::{Fill, fill_gaps};
use crate::periods::{MIN_PERIOD, PeriodScratch, detect_period};
use crate::stats::{max_abs_finite, pow2_scale};

/// Residuals whose median predicts the next point's level.
pub const LEVEL_WINDOW: usize = 8;
/// A point is scored once its history holds `min(history, MIN_HISTORY)` valid errors.
pub const MIN_HISTORY: usize = 24;
/// Histories up to this long are kept sorted; longer ones go to a Fenwick tree.
const SORTED_MAX: usize = 2048;

/// Which direction is flagged (ASA's `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpikeDipMode {
    /// Only values above the expectation.
    Spikes,
    /// Only values below.
    Dips,
    /// Both (ASA `spikesanddips`).
    Both,
}

/// Parameters of [`spike_dip`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpikeDipParams {
    /// ASA confidence in `(0, 100]` (default 99): higher means fewer alarms.
    pub confidence: f64,
    /// Previous points each point is compared with (ASA `historySize`, default 168: a week
    /// of hourly points).
    pub history: usize,
    /// Flagged directions (default both).
    pub mode: SpikeDipMode,
    /// Seasonal component removed first (default auto).
    pub seasonality: Seasonality,
}

impl Default for SpikeDipParams {
    fn default() -> Self {
        SpikeDipParams { confidence: 99.0, history: 168, mode: SpikeDipMode::Both, seasonality: Seasonality::Auto }
    }
}

impl SpikeDipParams {
    /// The |z| beyond which a point is flagged: `Φ⁻¹(confidence / 100)` (NaN confidence
    /// counts as ASA's usual 99).
    pub fn z_threshold(&self) -> f64 {
        let c = if self.confidence.is_nan() { 99.0 } else { self.confidence.clamp(0.0, 100.0) };
        quantile(c / 100.0)
    }
}

/// Reusable buffers for [`spike_dip`] and [`spike_dip_causal`].
#[derive(Debug, Default)]
pub struct SpikeDipScratch {
    decompose: DecomposeScratch,
    decomposition: Decomposition,
    x: Vec<f64>,
    level: Vec<f64>,
    error: Vec<f64>,
    recent: SortedWindow,
    history: SortedWindow,
    ranks: RankTree,
    buf: Vec<f64>,
    window: Vec<f64>,
    filled: Vec<f64>,
    periods: PeriodScratch,
}

/// Batch spike-and-dip detection (see the module docs).
pub fn spike_dip(values: &[f64], params: &SpikeDipParams, out: &mut DetectorOutput, scratch: &mut SpikeDipScratch) {
    let n = values.len();
    out.reset(n);
    let scale = prepare(values, params, scratch);
    let SpikeDipScratch { decomposition: d, level, error, recent, history, ranks, .. } = scratch;

    // One-step prediction errors against the median of the previous residuals.
    level.clear();
    error.clear();
    recent.clear();
    for (i, &r) in d.residual.iter().enumerate() {
        let l = recent.as_slice().percentile(50.0);
        level.push(l);
        error.push(r - l);
        recent.insert(r);
        if let Some(old) = i.checked_sub(LEVEL_WINDOW).and_then(|j| d.residual.get(j)) {
            recent.remove(*old);
        }
    }

    let h = params.history.max(1);
    let need = h.min(MIN_HISTORY);
    let enough = |(count, stats): (usize, (f64, f64))| (count >= need).then_some(stats);
    if h <= SORTED_MAX {
        history.clear();
        for i in 0..n {
            let w = history.as_slice();
            let stats = enough((w.len(), location_scale(w)));
            write_point(values, i, scale, &d.seasonal, level, error, stats, out);
            history.insert(error[i]);
            if let Some(old) = i.checked_sub(h).and_then(|j| error.get(j)) {
                history.remove(*old);
            }
        }
    } else {
        ranks.build(error);
        for i in 0..n {
            let stats = enough((ranks.len(), location_scale(&*ranks)));
            write_point(values, i, scale, &d.seasonal, level, error, stats, out);
            ranks.insert(i);
            if let Some(old) = i.checked_sub(h) {
                ranks.remove(old);
            }
        }
    }
    flag(values, params, out);
}

/// Causal spike-and-dip detection: point `i` is scored as the last point of a batch run
/// over `values[..=i]` (see the module docs; O(n) per point).
pub fn spike_dip_causal(
    values: &[f64],
    params: &SpikeDipParams,
    out: &mut DetectorOutput,
    scratch: &mut SpikeDipScratch,
) {
    let n = values.len();
    out.reset(n);
    let h = params.history.max(1);
    let need = h.min(MIN_HISTORY);
    for i in 0..n {
        let prefix = &values[..=i];
        let scale = prepare(prefix, params, scratch);
        let SpikeDipScratch { decomposition: d, level, error, buf, window, .. } = scratch;
        let r = &d.residual;
        // Errors of the points in the newest point's history, and of the point itself.
        let from = i.saturating_sub(h);
        level.clear();
        level.resize(i + 1, f64::NAN);
        error.clear();
        error.resize(i + 1, f64::NAN);
        for j in from..=i {
            buf.clear();
            buf.extend(r[j.saturating_sub(LEVEL_WINDOW)..j].iter().copied().filter(|v| !v.is_nan()));
            buf.sort_unstable_by(f64::total_cmp);
            level[j] = buf.percentile(50.0);
            error[j] = r[j] - level[j];
        }
        window.clear();
        window.extend(error[from..i].iter().copied().filter(|v| !v.is_nan()));
        window.sort_unstable_by(f64::total_cmp);
        let stats = (window.len() >= need).then(|| location_scale(window.as_slice()));
        write_point(prefix, i, scale, &d.seasonal, level, error, stats, out);
    }
    flag(values, params, out);
}

/// Scales the finite values into `scratch.x` (non-finite ones become NaN) and decomposes
/// them (per-phase medians, no trend). Returns the power-of-two scale.
fn prepare(values: &[f64], params: &SpikeDipParams, scratch: &mut SpikeDipScratch) -> f64 {
    let scale = pow2_scale(max_abs_finite(values));
    scratch.x.clear();
    scratch.x.extend(values.iter().map(|&v| if v.is_finite() { v * scale } else { f64::NAN }));
    // Auto seasonality is detected on the gap-filled series (as decompose would on the
    // series itself, but a complete series takes the fast path of the period search).
    let seasonality = match params.seasonality {
        Seasonality::Auto => {
            scratch.filled.clear();
            scratch.filled.extend_from_slice(&scratch.x);
            fill_gaps(&mut scratch.filled, Fill::Linear);
            let n = scratch.filled.len();
            let threshold = DecomposeParams::default().seasonality_threshold;
            match detect_period(&scratch.filled, MIN_PERIOD, n / 2, &mut scratch.periods) {
                Some((p, score)) if score >= threshold => Seasonality::Period(p),
                _ => Seasonality::None,
            }
        }
        other => other,
    };
    let dp = DecomposeParams { seasonality, trend: Trend::None, ..DecomposeParams::default() };
    decompose(&scratch.x, &dp, &mut scratch.decomposition, &mut scratch.decompose);
    scale
}

/// Score and baseline of point `i` from its history's `(location, scale)` (None: too short).
#[allow(clippy::too_many_arguments)]
fn write_point(
    values: &[f64],
    i: usize,
    scale: f64,
    seasonal: &[f64],
    level: &[f64],
    error: &[f64],
    stats: Option<(f64, f64)>,
    out: &mut DetectorOutput,
) {
    let (Some(&x), Some(&s), Some(&l), Some(&e)) = (values.get(i), seasonal.get(i), level.get(i), error.get(i)) else {
        return;
    };
    let (loc, sc) = stats.unwrap_or((f64::NAN, 0.0));
    let expected = [s, l, loc].iter().filter(|v| v.is_finite()).sum::<f64>() / scale;
    if let (Some(b), Some(z)) = (out.baseline.get_mut(i), out.score.get_mut(i)) {
        *b = expected;
        *z = if x.is_infinite() {
            x
        } else if stats.is_some() {
            robust_z(e, loc, sc)
        } else {
            0.0
        };
    }
}

/// Flags by the confidence's normal quantile in the directions `mode` covers.
fn flag(values: &[f64], params: &SpikeDipParams, out: &mut DetectorOutput) {
    let z = params.z_threshold();
    let (up, down) = match params.mode {
        SpikeDipMode::Spikes => (true, false),
        SpikeDipMode::Dips => (false, true),
        SpikeDipMode::Both => (true, true),
    };
    for (((f, k), &s), &x) in out.flag.iter_mut().zip(out.kind.iter_mut()).zip(&out.score).zip(values) {
        *f = if x.is_nan() { 0 } else { i8::from(up && s > z) - i8::from(down && s < -z) };
        *k = AnomalyKind::from_flag(*f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{Rng, SyntheticSpec, generate_series};

    #[test]
    fn confidence_maps_to_a_normal_quantile() {
        let z = |c: f64| SpikeDipParams { confidence: c, ..SpikeDipParams::default() }.z_threshold();
        assert!((z(99.0) - 2.326_347_874).abs() < 1e-6);
        assert!((z(95.0) - 1.644_853_627).abs() < 1e-6);
        assert_eq!(z(100.0), f64::INFINITY);
        assert!((z(f64::NAN) - z(99.0)).abs() < 1e-12);
    }

    #[test]
    fn long_histories_match_sorted_windows() {
        // Above SORTED_MAX the history goes to the Fenwick tree; the scores must not change.
        let mut rng = Rng::new(8);
        let values: Vec<f64> =
            (0..5000).map(|i| (i % 24) as f64 + rng.normal() + if i == 4500 { 9.0 } else { 0.0 }).collect();
        let (mut a, mut b) = (DetectorOutput::default(), DetectorOutput::default());
        let mut scratch = SpikeDipScratch::default();
        let fenwick = SpikeDipParams { history: SORTED_MAX + 1, ..SpikeDipParams::default() };
        let sorted = SpikeDipParams { history: SORTED_MAX, ..SpikeDipParams::default() };
        spike_dip(&values, &fenwick, &mut a, &mut scratch);
        spike_dip(&values, &sorted, &mut b, &mut scratch);
        // Identical until the longer history starts to differ from the shorter one.
        for i in 0..=SORTED_MAX {
            assert!((a.score[i] - b.score[i]).abs() < 1e-12, "{i}");
        }
        assert_eq!(a.kind[4500], AnomalyKind::Spike);
    }

    #[test]
    fn robust_to_anomalies_in_its_history() {
        let spec = SyntheticSpec { missing_rate: 0.0, gaps: 0, ..SyntheticSpec::default() };
        let (mut x, _) = generate_series(&spec, None, 21);
        // A burst of earlier spikes does not hide a later one.
        for i in (200..260).step_by(6) {
            x[i] += 15.0;
        }
        x[300] += 9.0;
        let mut out = DetectorOutput::default();
        let params = SpikeDipParams { confidence: 99.99, ..SpikeDipParams::default() };
        spike_dip(&x, &params, &mut out, &mut SpikeDipScratch::default());
        assert_eq!(out.kind[300], AnomalyKind::Spike, "{}", out.score[300]);
    }
}
