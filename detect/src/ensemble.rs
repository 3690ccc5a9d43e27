//! The ensemble detector: one calibrated score per point and a kind (spike, dip, level
//! shift, trend change, variance change), the default for new users.
//!
//! # Model
//!
//! The series is `seasonal + level + noise + anomalies`:
//!
//! 1. **seasonal** (the `decompose` idea, made robust; see `ensemble/seasonal.rs`): a main
//!    period (auto-detected, or given) and, when the data has one, a longer one (a week over
//!    a day), each a trimmed per-phase mean of the deviations from a centred moving
//!    average, weighted by the local noise level, so that level shifts, spikes and noisy
//!    stretches cannot bend the profile. The long period is looked for on clipped lag
//!    differences, and the week is always tried, so that a large level shift or trend change
//!    cannot hide it; once the change-point search has found the level shifts, the long
//!    profile is learned again with them taken out (a shift of a hundred σ otherwise bends it
//!    a week on either side) and the search is run again. On smooth data (hourly means of
//!    `fathom gen` series: noise 0.2-0.8% of the level under a daily swing of 10-30% and a
//!    weekly one of up to 4%) any weekly swing left in the residual is a string of trend
//!    changes and level shifts of tens of σ;
//! 2. **change points** ([`detect_change_points`] on the deseasonalised series, no
//!    seasonality of its own): level shifts, trend changes and variance changes, each with
//!    its `√χ²` statistic; variance changes are then re-placed on the residuals of the full
//!    model, where the posterior probability that the change lies within the tolerance of
//!    [`crate::eval`] (3 points early, 6 late) is largest: the likelihood of a noise increase
//!    is lopsided, and its maximum is often late (see `ensemble/level.rs`). A level or trend
//!    change that the re-placed variance change leaves fewer than `min_segment` points away
//!    is an artefact of the first noisy points and is absorbed into it;
//! 3. **level**: one robust least-squares line per segment between level and trend changes,
//!    plus a slow block-median correction where the lines and the seasonal profiles leave a
//!    misfit (see `ensemble/level.rs`);
//! 4. **noise scale**: one robust σ per regime between variance changes, the larger of the
//!    residuals' interquartile range and the spread of consecutive residuals (the latter
//!    guards against profiles fitted to the few cycles of a short quiet regime);
//! 5. **spikes and dips**: the residual `x - seasonal - level` in units of its regime's σ
//!    (decompose-style scoring), put to a vote with the point against its neighbours (the
//!    spike_dip idea) and its spectral residual saliency; the middle opinion is the score
//!    (see `ensemble/vote.rs`).
//!
//! # Calibration
//!
//! Every statistic the ensemble reports is a z-score, a number that at a fixed point and
//! without an anomaly is distributed like a standard normal: the residual over its robust
//! σ, the change-point search's `√χ²₁`. The score is the normal tail probability of that
//! z on a log scale: `score = -log10 P(|N(0,1)| > |z|) - 2`, signed by the direction (up for
//! spikes, upward shifts and trends, noise increases), and 0 when `P > 1%`. So a score
//! means the same on every series, whatever its units, noise or seasonality: **score 3 is a
//! one-in-100,000 event per point** (|z| ≈ 4.4), score 4 one in a million, and the default
//! threshold 3 gives about one false alarm per 100,000 clean points (one per ~140 series of
//! 720 points). Residual z-scores are divided by [`TAIL`] (1.07) first: the estimation
//! noise of the seasonal profiles and the level makes the residuals' tails slightly heavier
//! than their interquartile range implies. On 1000 clean synthetic series (700,000 points)
//! the measured rate of points above each threshold is within a factor 1.5-2 of nominal:
//! 1.0e-3 above score 1, 1.5e-4 above 2, 2e-5 above 3.
//!
//! Scores saturate at [`MAX_SCORE`] (100, |z| ≈ 21.5): a tail probability of 1e-102 is far
//! beyond where any noise model holds, and a large level shift's `√χ²` of a few hundred
//! would otherwise score in the tens of thousands, a number that reads like a bug. Only an
//! infinite input value scores ±inf. A threshold of 100 or more therefore flags nothing but
//! ±inf points.
//!
//! # Kinds
//!
//! A change point is flagged at its index with its kind when its score passes the
//! threshold; flagged residuals within [`CHANGE_REACH`] points of a change belong to it (a
//! shift placed one point off leaves one large residual, which is part of the shift, not a
//! spike), and up to [`VARIANCE_REACH`] points after a variance change. Every other flagged
//! point is a spike (above) or a dip (below). Missing points are never flagged; ±inf points
//! are left out of the model and flagged as spike / dip with an infinite score. Points of a
//! noisy series that lie exactly on the line through their two neighbours are gaps that the
//! engine filled by linear interpolation, and count as missing (see `ensemble/filled.rs`):
//! such a line cuts across the daily cycle and would otherwise be a string of spikes or
//! dips (on `fathom gen` data, 71 of 85 false spikes and dips in 4,000 series).
//!
//! # Quality and speed
//!
//! On the evaluation of `examples/eval.rs` (720 hourly points with daily and weekly
//! seasonality, drift, missing points and gaps; 200 series per kind and 200 clean series;
//! see [`crate::eval`] for the matching rules), the ensemble finds at least 95% of the
//! events of every kind with a precision of at least 0.9 per kind, where `decompose` at
//! threshold 3 finds about a third of the spikes and dips and no change. Across seeds 1-8
//! (`examples/eval_seeds.rs`) the lowest recall of any kind on any seed is 0.97 (variance
//! changes: 0.97-0.985, median 0.975) and the lowest precision 0.93 (level shifts on seed 5;
//! 0.95 for every other kind and seed); most variance changes
//! still missed are placed 7-15 points off, where the estimation noise of the seasonal
//! profiles blurs the boundary (with the true baseline the same placement finds 99%). It
//! runs in about 82 us per 720-point series on one core (`examples/detector_bench.rs`:
//! about 12,000 series/s/core; the block medians of the local noise and the level
//! correction come from one sorting network per series, and the per-phase loops run cycle
//! by cycle rather than dividing by the period at every point).
//!
//! On labelled `fathom gen` data run as the engine runs it (`examples/eval_gen.rs`: hourly
//! means, linear fill), the seasonal model above matters most: before the long period was
//! made robust to large shifts and trend changes, trend changes had a precision of 0.13-0.14
//! and level shifts 0.44-0.57 (about 1,300 false trend changes in 2,000 series, nearly all
//! in series with a level shift or a trend change whose weekly cycle went unmodelled). On
//! two such datasets of 2,000 series every kind now has a recall of at least 0.95 and a
//! precision of at least 0.94; extrapolating the ends of the weekly moving average (see
//! `ensemble/seasonal.rs`) raised the recall of trend changes from 0.94 and 0.97 to 0.975
//! and 0.98, all twelve of the first dataset's misses being trend changes that start in the
//! first 25-57 hours.
//!
//! A series needs some history before a residual means anything: in series with fewer than
//! [`MIN_HISTORY`] (48) valid points, or fewer than [`MIN_CYCLES`] (3) main periods, only
//! change points and ±inf points are flagged. In causal mode this is the warm-up: the first
//! 72 points of an hourly series with a daily cycle are not scored for spikes and dips.
//!
//! Baseline: seasonal + level, the value expected at each point.
//!
//! Causal mode re-runs the ensemble on every prefix (see [`crate::detector`]). The newest
//! point is then judged without hindsight: a level shift, trend change or variance change
//! first shows as spikes or dips at the newest points and is recognised as a change only
//! once its new segment holds enough points for the change-point search (12 by default), so
//! in causal evaluation the changes are found but reported late and as spikes first.

mod filled;
mod level;
mod seasonal;
mod vote;

use crate::change_point::{ChangeKind, ChangePoint, ChangePointParams, ChangePointScratch, detect_change_points};
use crate::decompose::Seasonality;
use crate::detector::normal::upper_tail_log10;
use crate::detector::{AnomalyKind, DetectorOutput};
use crate::fill::{Fill, fill_gaps};
use crate::spectral_residual::unit_scale;
use crate::stats::max_abs_finite;
use filled::unfill_gaps;
use level::{BlockWork, VarianceSearch, block_correction, diff_sigma, fit_line, place_variance_change, robust_sigma};
use seasonal::{SeasonalWork, refit_long, seasonal_component};
use vote::{Vote, VoteWork};

/// Parameters of [`ensemble`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnsembleParams {
    /// Flag where `|score| > threshold` (default 3: one false alarm per 100,000 clean points).
    pub threshold: f64,
    /// Seasonal model (default auto: a main period and, if present, a longer one).
    pub seasonality: Seasonality,
}

impl Default for EnsembleParams {
    fn default() -> Self {
        EnsembleParams { threshold: 3.0, seasonality: Seasonality::Auto }
    }
}

/// Scores of finite z-scores saturate here (|z| ≈ 21.5; see the module docs).
pub const MAX_SCORE: f64 = 100.0;
/// |z| at or below this scores 0 (tail probability 1%).
const Z_FLOOR: f64 = 2.575_829_303_548_901;
/// Residual z-scores are divided by this before the tail is read (see the module docs).
pub const TAIL: f64 = 1.07;
/// Flagged residuals this close to a change point belong to the change.
pub const CHANGE_REACH: usize = 2;
/// After a variance change, flagged residuals this close belong to it: the first large
/// residuals of a noisier regime are what announces it, and its position is uncertain by a
/// few points.
pub const VARIANCE_REACH: usize = 6;
/// Variance changes are re-placed within this many points of where the search put them.
const VARIANCE_RADIUS: usize = 30;
/// A variance change is reported where the true change most likely lies within this
/// tolerance: reported at most `.0` points early or `.1` points late. It is the tolerance of
/// [`crate::eval`], chosen there as what an operator accepts (a test keeps them equal).
const PLACEMENT_TOLERANCE: (usize, usize) = (3, 6);
/// Squared residuals are clipped at this many σ of the noisier side when placing a
/// variance change.
const VARIANCE_CLIP_SIGMAS: f64 = 5.0;
/// Below this σ (the series being normalised to magnitude ~1) residuals are rounding.
const SIGMA_FLOOR: f64 = 1e-9;
/// Residuals are scored only in series with at least this many valid points, and at least
/// [`MIN_CYCLES`] main periods when there is a period: with less, the seasonal profile and
/// the noise scale are guesses, and the tail probabilities of the calibration mean nothing.
pub const MIN_HISTORY: usize = 48;
/// See [`MIN_HISTORY`].
pub const MIN_CYCLES: usize = 3;
/// Block length of the level correction and the trailing history when the main period
/// does not give one.
const DEFAULT_BLOCK: usize = 24;

/// Reusable buffers for [`ensemble`]; after the first series of a given length no call
/// allocates.
#[derive(Debug, Default)]
pub struct EnsembleScratch {
    x: Vec<f64>,
    on_line: Vec<bool>,
    filled: Vec<f64>,
    seasonal: Vec<f64>,
    season: SeasonalWork,
    y: Vec<f64>,
    level: Vec<f64>,
    r: Vec<f64>,
    sigma: Vec<f64>,
    buf: Vec<f64>,
    blocks: BlockWork,
    sums: Vec<(f64, f64)>,
    change_points: ChangePointScratch,
    changes: Vec<ChangePoint>,
    shifts: Vec<usize>,
    vote: VoteWork,
}

/// The calibrated score of a z-score (see the module docs): `-log10 P(|N(0,1)| > |z|) - 2`
/// with the sign of `z`, 0 up to |z| = 2.58, at most [`MAX_SCORE`] in magnitude for finite
/// z, ±inf for infinite z, 0 for NaN.
pub fn calibrated(z: f64) -> f64 {
    let a = z.abs();
    if a.is_nan() || a <= Z_FLOOR {
        return 0.0;
    }
    if a.is_infinite() {
        return z;
    }
    let s = (upper_tail_log10(a) - std::f64::consts::LOG10_2 - 2.0).min(MAX_SCORE);
    if s > 0.0 { s.copysign(z) } else { 0.0 }
}

fn residual_score(z: f64) -> f64 {
    calibrated(z / TAIL)
}

/// Runs the ensemble over `values` (see the module docs).
pub fn ensemble(values: &[f64], params: &EnsembleParams, out: &mut DetectorOutput, scratch: &mut EnsembleScratch) {
    let n = values.len();
    out.reset(n);
    if !values.iter().any(|v| v.is_finite()) {
        infinities(values, params.threshold, out);
        return;
    }
    let s = scratch;
    let (scale, inv) = unit_scale(max_abs_finite(values));
    s.x.clear();
    s.x.extend(values.iter().map(|&v| if v.is_finite() { v * scale } else { f64::NAN }));
    // Hours the engine filled by interpolation are missing data, not values to judge.
    unfill_gaps(&mut s.x, &mut s.on_line);
    s.filled.clear();
    s.filled.extend_from_slice(&s.x);
    fill_gaps(&mut s.filled, Fill::Linear);
    let periods = seasonal_component(&s.x, &s.filled, params.seasonality, &mut s.season, &mut s.seasonal);
    s.y.clear();
    s.y.extend(s.x.iter().zip(&s.seasonal).map(|(x, se)| x - se));

    let search = ChangePointParams { seasonality: Seasonality::None, ..ChangePointParams::default() };
    detect_change_points(&s.y, &search, &mut s.changes, &mut s.change_points);
    s.changes.sort_by_key(|c| c.index);
    let mut periods = periods;
    s.shifts.clear();
    s.shifts.extend(s.changes.iter().filter(|c| c.kind == ChangeKind::Level).map(|c| c.index));
    let refit = if periods.main.is_some() && !s.shifts.is_empty() {
        refit_long(&s.x, &s.shifts, &mut s.season, &mut s.seasonal)
    } else {
        None
    };
    if let Some(long) = refit {
        periods.long = long;
        s.y.clear();
        s.y.extend(s.x.iter().zip(&s.seasonal).map(|(x, se)| x - se));
        detect_change_points(&s.y, &search, &mut s.changes, &mut s.change_points);
        s.changes.sort_by_key(|c| c.index);
    }

    let sigma = diff_sigma(&s.y, &mut s.buf);
    let block = periods.main.filter(|p| (8..=48).contains(p)).unwrap_or(DEFAULT_BLOCK);
    fit_level(s, sigma, block);
    place_variance_changes(s, n);
    if absorb_into_variance_changes(&mut s.changes, search.min_segment) {
        // The level no longer bends at the absorbed changes, and the variance changes are
        // judged against their new neighbours.
        fit_level(s, sigma, block);
        place_variance_changes(s, n);
    }
    s.sigma.clear();
    s.sigma.resize(n, 0.0);
    let mut start = 0;
    let ends = s.changes.iter().filter(|c| c.kind == ChangeKind::Variance).map(|c| c.index);
    for end in ends.chain([n]) {
        let end = end.clamp(start, n);
        // The spread of consecutive residuals guards against a spread shrunk by a profile
        // fitted to the few quiet cycles of a regime.
        let spread = robust_sigma(&s.r, start, end, &mut s.buf);
        let steps = if start == 0 && end == n { sigma } else { diff_sigma(&s.r[start..end], &mut s.buf) };
        let regime = spread.max(steps).max(SIGMA_FLOOR);
        s.sigma[start..end].fill(regime);
        start = end;
    }

    // Spikes and dips: the regime's z, voted on where it is not 0.
    let vote = Vote { y: &s.y, sigma: &s.sigma, calibrate: residual_score };
    vote.prepare(&mut s.vote);
    let threshold = params.threshold;
    // Too little history to know what is normal: no residual is scored.
    let valid = s.x.iter().filter(|v| v.is_finite()).count();
    let history = periods.main.map_or(MIN_HISTORY, |p| p.saturating_mul(MIN_CYCLES).max(MIN_HISTORY));
    let judged = valid >= history;
    for i in 0..n {
        let (r, sg) = (s.r[i], s.sigma[i]);
        let z = if judged && r.is_finite() && r.abs() > SIGMA_FLOOR { r / sg } else { 0.0 };
        let mut score = residual_score(z);
        if score != 0.0 && score.is_finite() {
            score = vote.score(i, score, &mut s.vote);
        }
        out.score[i] = score;
        let b = (s.seasonal[i] + s.level[i]) * inv;
        out.baseline[i] = if b.is_finite() { b } else { f64::NAN };
    }
    infinities(values, threshold, out);

    for c in &s.changes {
        let kind = change_kind(c.kind);
        let after = if c.kind == ChangeKind::Variance { VARIANCE_REACH } else { CHANGE_REACH };
        let lo = c.index.saturating_sub(CHANGE_REACH);
        let hi = (c.index + after + 1).min(n);
        for ((f, k), x) in out.flag[lo..hi].iter().zip(&mut out.kind[lo..hi]).zip(&values[lo..hi]) {
            if *f != 0 && x.is_finite() {
                *k = kind;
            }
        }
        let Some(&x) = values.get(c.index) else {
            continue;
        };
        let score = calibrated(c.score.copysign(c.magnitude));
        if score.abs() >= out.score[c.index].abs() {
            out.score[c.index] = score;
        }
        if x.is_finite() && score.abs() > threshold {
            out.flag[c.index] = if score > 0.0 { 1 } else { -1 };
            out.kind[c.index] = kind;
        }
    }
}

/// Writes the level (one line per segment between level and trend changes, plus the block
/// correction) and the residuals `r = y - level`.
fn fit_level(s: &mut EnsembleScratch, sigma: f64, block: usize) {
    let n = s.y.len();
    s.level.clear();
    s.level.resize(n, 0.0);
    let mut start = 0;
    let ends = s.changes.iter().filter(|c| c.kind != ChangeKind::Variance).map(|c| c.index);
    for end in ends.chain([n]) {
        let end = end.clamp(start, n);
        fit_line(&s.y, start, end, sigma, &mut s.level, &mut s.buf);
        start = end;
    }
    block_correction(&s.y, &mut s.level, block, &s.season.weights, &mut s.blocks);
    s.r.clear();
    s.r.extend(s.y.iter().zip(&s.level).map(|(y, l)| y - l));
}

/// Removes every level or trend change just before a (re-placed) variance increase, closer
/// to it than `min_segment` points; the variance change keeps the larger score of the two.
/// True if any was removed.
///
/// The change-point search often places a noise increase a few points late (the first
/// points of the noisier regime are often small), and then finds a hinge or a step in the
/// quiet segment before it, fitted to the noisy points it was left: a trend change
/// `min_segment` points before the variance change, with a large score (the noisy points are
/// many quiet σ out), which also robs the variance change of the quiet segment it is
/// measured against, so that it goes unflagged. Once the variance change is placed where it
/// belongs, the segment between the two is shorter than the search ever splits off, so it
/// does not support a change of its own: its evidence is that of the variance change.
fn absorb_into_variance_changes(changes: &mut Vec<ChangePoint>, min_segment: usize) -> bool {
    let mut absorbed = false;
    for j in 0..changes.len() {
        let variance = changes[j];
        if variance.kind != ChangeKind::Variance {
            continue;
        }
        // Only increases, where the artefact is seen. A decrease placed early would leave
        // its mirror image after it, but the one such pair on the synthetic evaluation (16
        // seeds) was a real level shift just after a spurious decrease.
        let Some(k) = j.checked_sub(1).filter(|_| variance.magnitude > 0.0) else {
            continue;
        };
        let Some(&other) = changes.get(k) else {
            continue;
        };
        if other.kind != ChangeKind::Variance
            && !other.magnitude.is_nan()
            && other.index.abs_diff(variance.index) < min_segment
        {
            changes[j].score = variance.score.max(other.score);
            changes[k].magnitude = f64::NAN;
            absorbed = true;
        }
    }
    changes.retain(|c| !c.magnitude.is_nan());
    absorbed
}

/// Sets flag and kind from the score (spike / dip), with ±inf points scored ±inf and
/// missing points 0.
fn infinities(values: &[f64], threshold: f64, out: &mut DetectorOutput) {
    for (i, &x) in values.iter().enumerate() {
        if x.is_nan() {
            out.score[i] = 0.0;
        } else if x.is_infinite() {
            out.score[i] = x;
        }
        let s = out.score[i];
        out.flag[i] = i8::from(s > threshold) - i8::from(s < -threshold);
        out.kind[i] = AnomalyKind::from_flag(out.flag[i]);
    }
}

/// Re-places every variance change between its neighbouring changes on the residuals (see
/// [`place_variance_change`]).
fn place_variance_changes(s: &mut EnsembleScratch, n: usize) {
    if !s.changes.iter().any(|c| c.kind == ChangeKind::Variance) {
        return;
    }
    for j in 0..s.changes.len() {
        if s.changes[j].kind != ChangeKind::Variance {
            continue;
        }
        let a = j.checked_sub(1).map_or(0, |p| s.changes[p].index);
        let b = s.changes.get(j + 1).map_or(n, |c| c.index);
        let guess = s.changes[j].index.clamp(a, b);
        let (before, after) = (robust_sigma(&s.r, a, guess, &mut s.buf), robust_sigma(&s.r, guess, b, &mut s.buf));
        if before.min(after) <= SIGMA_FLOOR {
            // A noise-free side (a constant stretch) has no variance to compare.
            s.changes[j].magnitude = f64::NAN;
            continue;
        }
        // Only spikes are clipped: at 5 σ of the noisier side.
        let noisier = before.max(after);
        let clip = (VARIANCE_CLIP_SIGMAS * noisier).powi(2).max(f64::MIN_POSITIVE);
        let (early, late) = PLACEMENT_TOLERANCE;
        let search = VarianceSearch {
            segment: (a, b),
            range: (guess.saturating_sub(VARIANCE_RADIUS), guess + VARIANCE_RADIUS + 1),
            guess,
            clip,
            early,
            late,
        };
        s.changes[j].index = place_variance_change(&s.r, &search, &mut s.sums);
    }
    s.changes.retain(|c| !c.magnitude.is_nan());
}

fn change_kind(kind: ChangeKind) -> AnomalyKind {
    match kind {
        ChangeKind::Level => AnomalyKind::LevelShift,
        ChangeKind::Trend => AnomalyKind::TrendChange,
        ChangeKind::Variance => AnomalyKind::VarianceChange,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::{DetectorConfig, Mode};
    use crate::eval::{EvalPlan, EvalReport, evaluate_detectors};
    use crate::synthetic::{SyntheticSpec, generate_series};

    #[test]
    fn calibration_reads_the_normal_tail() {
        // P(|N| > 4.417) = 1e-5: score 3; P(|N| > 4.892) = 1e-6: score 4.
        assert!((calibrated(4.417_173) - 3.0).abs() < 1e-4);
        assert!((calibrated(-4.891_638) + 4.0).abs() < 1e-4);
        assert_eq!(calibrated(2.0), 0.0);
        assert_eq!(calibrated(f64::NAN), 0.0);
        assert_eq!(calibrated(f64::INFINITY), f64::INFINITY);
        assert_eq!(calibrated(f64::NEG_INFINITY), f64::NEG_INFINITY);
        // Saturation: monotone up to the cap, and the cap for anything larger.
        assert!(calibrated(21.0) > 90.0 && calibrated(21.0) < MAX_SCORE);
        assert_eq!(calibrated(40.0), MAX_SCORE);
        assert_eq!(calibrated(-1e300), -MAX_SCORE);
    }

    fn run(values: &[f64]) -> DetectorOutput {
        let mut out = DetectorOutput::default();
        ensemble(values, &EnsembleParams::default(), &mut out, &mut EnsembleScratch::default());
        out
    }

    #[test]
    fn labels_each_kind_at_its_event() {
        let spec = SyntheticSpec::default();
        for kind in AnomalyKind::EVENTS {
            // A variance change cannot always be placed within a few points (the
            // evaluation measures how often); most of the time it is.
            let found = (11..14)
                .filter(|&seed| {
                    let (values, labels) = generate_series(&spec, Some(kind), seed);
                    let out = run(&values);
                    let (lo, hi) = crate::eval::window(&labels[0]);
                    let hit = (lo..=hi.min(values.len() - 1)).any(|i| out.kind[i] == kind);
                    let elsewhere = (0..values.len()).filter(|&i| out.flag[i] != 0 && (i < lo || i > hi)).count();
                    hit && elsewhere <= 1
                })
                .count();
            assert!(found >= 2, "{kind:?}: {found} of 3");
        }
    }

    /// A noise increase that the change-point search places a few points late leaves the
    /// first noisy points in the quiet segment before it, where they fit a hinge: a trend
    /// change 12 points before the variance change, flagged, which took the variance
    /// change's quiet segment and left it unflagged. (Series where that happened.)
    #[test]
    fn a_noise_increase_is_not_a_trend_change() {
        let spec = SyntheticSpec::default();
        for seed in [16, 278, 506] {
            let (values, labels) = generate_series(&spec, Some(AnomalyKind::VarianceChange), seed);
            let out = run(&values);
            let (lo, hi) = crate::eval::window(&labels[0]);
            assert!((lo..=hi).any(|i| out.kind[i] == AnomalyKind::VarianceChange), "seed {seed}: {lo}..={hi}");
            let flagged: Vec<_> = (0..values.len()).filter(|&i| out.flag[i] != 0).map(|i| (i, out.kind[i])).collect();
            assert!(
                flagged.iter().all(|&(_, k)| k != AnomalyKind::TrendChange && k != AnomalyKind::LevelShift),
                "seed {seed}: {flagged:?}"
            );
        }
    }

    #[test]
    fn level_and_trend_changes_crowding_a_variance_change_are_absorbed() {
        let change = |index, kind, magnitude, score| ChangePoint { index, kind, magnitude, score };
        let key = |v: &[ChangePoint]| v.iter().map(|c| (c.index, c.kind, c.score)).collect::<Vec<_>>();
        // An increase absorbs the change before it, not the one after.
        let mut changes = vec![
            change(100, ChangeKind::Level, 4.0, 9.0),
            change(362, ChangeKind::Trend, -4.2, 8.3),
            change(371, ChangeKind::Variance, 7.0, 3.7),
            change(380, ChangeKind::Level, 5.0, 5.0),
        ];
        assert!(absorb_into_variance_changes(&mut changes, 12));
        let kept = [(100, ChangeKind::Level, 9.0), (371, ChangeKind::Variance, 8.3), (380, ChangeKind::Level, 5.0)];
        assert_eq!(key(&changes), kept);
        // A decrease absorbs nothing.
        let mut changes = vec![change(362, ChangeKind::Trend, 4.0, 6.0), change(371, ChangeKind::Variance, -7.0, 3.7)];
        assert!(!absorb_into_variance_changes(&mut changes, 12));
        assert_eq!(changes.len(), 2);
        // Twelve points apart, a segment the search could have split off: both stay.
        let mut apart = vec![change(359, ChangeKind::Trend, 4.0, 8.3), change(371, ChangeKind::Variance, 7.0, 3.7)];
        assert!(!absorb_into_variance_changes(&mut apart, 12));
        assert_eq!(apart.len(), 2);
    }

    /// The ensemble places a variance change where it most likely lies within the tolerance
    /// of the evaluation; the two must agree.
    #[test]
    fn placement_tolerance_is_the_evaluation_tolerance() {
        let (before, after) = crate::eval::tolerance(AnomalyKind::VarianceChange);
        assert_eq!(PLACEMENT_TOLERANCE, (before, after));
    }

    /// An hourly series shaped like `fathom gen`'s: hourly means of 10-minute points with a
    /// daily cycle of 20% of the level, a weekly one of 3%, a slow trend and noise of 1% (so
    /// 0.4% on hourly means), plus `event(hour)` added to the signal.
    fn gen_like(seed: u64, event: impl Fn(f64) -> f64) -> Vec<f64> {
        let mut rng = crate::synthetic::Rng::new(seed);
        let (level, tau) = (100.0, std::f64::consts::TAU);
        let phase = rng.range(0.0, tau);
        (0..720)
            .map(|hour| {
                let sum: f64 = (0..6)
                    .map(|k| {
                        let days = (hour as f64 + k as f64 / 6.0) / 24.0;
                        level
                            + 20.0 * (tau * days + phase).sin()
                            + 2.0 * (tau * days / 7.0).sin()
                            + 0.1 * days
                            + event(days * 24.0)
                            + 0.6 * rng.normal()
                    })
                    .sum();
                sum / 6.0
            })
            .collect()
    }

    fn alarms(out: &DetectorOutput) -> Vec<(usize, AnomalyKind)> {
        (0..out.len()).filter(|&i| out.flag[i] != 0).map(|i| (i, out.kind[i])).collect()
    }

    /// A level shift of a third of the level is a hundred σ of the hourly noise: it drowned
    /// the weekly cycle in the correlations the long period is looked for by, and bent the
    /// weekly profile a week on either side of it; the weekly swing left in the residual was
    /// then a string of trend changes and level shifts of tens of σ.
    #[test]
    fn a_large_level_shift_does_not_hide_the_week() {
        for seed in 1..=4 {
            let values = gen_like(seed, |hour| if hour >= 300.0 { -45.0 } else { 0.0 });
            let found = alarms(&run(&values));
            assert!(
                found.iter().all(|&(i, k)| k == AnomalyKind::LevelShift && (297..=306).contains(&i))
                    && !found.is_empty(),
                "seed {seed}: {found:?}"
            );
        }
    }

    /// A trend change leaves a step in the differences at lag one day, which correlates with
    /// itself at every lag and can hide the weekly cycle from the correlations (seen on
    /// `fathom gen` data; the week is now tried whatever they say). A guard: these series
    /// passed before too.
    #[test]
    fn a_trend_change_does_not_hide_the_week() {
        for seed in 1..=16 {
            let values = gen_like(seed, |hour| if hour >= 100.0 { 40.0 * (hour - 100.0) / 620.0 } else { 0.0 });
            let found = alarms(&run(&values));
            assert!(
                found.iter().all(|&(i, k)| k == AnomalyKind::TrendChange && (88..=124).contains(&i))
                    && !found.is_empty(),
                "seed {seed}: {found:?}"
            );
        }
    }

    /// The engine fills hours without data by linear interpolation; across the daily cycle's
    /// curve that line was a string of spikes or dips of up to 100 (most false spikes and
    /// dips on `fathom gen` data).
    #[test]
    fn a_filled_gap_is_not_a_spike() {
        for seed in 1..=8 {
            let mut values = gen_like(seed, |_| 0.0);
            for start in [200, 430] {
                values[start..start + 5].fill(f64::NAN);
            }
            crate::fill::fill_gaps(&mut values, crate::fill::Fill::Linear);
            let found = alarms(&run(&values));
            assert!(found.is_empty(), "seed {seed}: {found:?}");
        }
    }

    #[test]
    fn short_series_are_not_scored() {
        let values: Vec<f64> = (0..40).map(|i| if i == 20 { 50.0 } else { (i % 3) as f64 }).collect();
        assert!(run(&values).flag.iter().all(|&f| f == 0));
        let values: Vec<f64> = (0..60).map(|i| if i == 30 { 50.0 } else { (i % 3) as f64 }).collect();
        assert_eq!(run(&values).kind[30], AnomalyKind::Spike);
    }

    #[test]
    fn a_constant_series_with_one_spike() {
        let mut values = vec![5.0; 300];
        values[150] = 6.0;
        let out = run(&values);
        assert_eq!((out.flag[150], out.kind[150]), (1, AnomalyKind::Spike));
        assert_eq!(out.flag.iter().filter(|&&f| f != 0).count(), 1, "{:?}", out.kind);
        values[150] = f64::INFINITY;
        let out = run(&values);
        assert_eq!((out.flag[150], out.score[150]), (1, f64::INFINITY));
    }

    fn check_targets(
        per_kind: usize,
        clean: usize,
        seed: u64,
        recall: f64,
        precision: f64,
    ) -> (EvalReport, EvalReport) {
        let configs = [
            DetectorConfig::from_params("decompose", &[("threshold", "3")]).expect("valid"),
            DetectorConfig::Ensemble(EnsembleParams::default()),
        ];
        let plan = EvalPlan { per_kind, clean, seed, mode: Mode::Batch };
        let mut reports = evaluate_detectors(&configs, &SyntheticSpec::default(), &plan);
        let ensemble = reports.pop().expect("two reports");
        let decompose = reports.pop().expect("two reports");
        for kind in AnomalyKind::EVENTS {
            let s = ensemble.stats(kind);
            assert!(s.recall() >= recall, "{kind:?} recall {}\n{}", s.recall(), ensemble.render());
            assert!(s.precision() >= precision, "{kind:?} precision {}\n{}", s.precision(), ensemble.render());
        }
        // The ADX baseline cannot place level shifts.
        assert!(decompose.stats(AnomalyKind::LevelShift).hit < per_kind / 10, "{}", decompose.render());
        (decompose, ensemble)
    }

    /// A trend change in the first two days of a `fathom gen`-like series (level 100, daily
    /// swing 20, weekly 2, hourly noise 0.5, the trend reaching 20-40 at the end): the
    /// weekly moving average, held flat over its first half week, bent the long profile
    /// there by part of the new trend, which took part of the bend out of the deseasonalised
    /// series (all twelve trend changes missed on the `fathom gen` evaluation started in
    /// hours 25-57). With the ends extrapolated 33 of these 40 are found, 27 before.
    #[test]
    fn an_early_trend_change_is_found() {
        let found = (1..=40u64)
            .filter(|&seed| {
                let mut rng = crate::synthetic::Rng::new(seed);
                let phase = rng.range(0.0, std::f64::consts::TAU);
                let start = 25 + (rng.next_u64() % 33) as usize;
                let size = rng.range(20.0, 40.0) * if rng.uniform() < 0.5 { 1.0 } else { -1.0 };
                let values: Vec<f64> = (0..720)
                    .map(|h| {
                        let t = h as f64;
                        let trend = if h >= start { size * (t - start as f64) / (720 - start) as f64 } else { 0.0 };
                        100.0
                            + 20.0 * (std::f64::consts::TAU * t / 24.0 + phase).sin()
                            + 2.0 * (std::f64::consts::TAU * t / 168.0).sin()
                            + trend
                            + 0.5 * rng.normal()
                    })
                    .collect();
                let out = run(&values);
                let label = crate::synthetic::Label { kind: AnomalyKind::TrendChange, start, end: 719 };
                let (lo, hi) = crate::eval::window(&label);
                (lo..=hi).any(|i| out.kind[i] == AnomalyKind::TrendChange)
            })
            .count();
        assert!(found >= 32, "{found} of 40");
    }

    /// The quality target on a reduced set (fast in debug builds). With 40 events per
    /// kind one miss is 2.5% of recall, so the bars are those of the target minus one event
    /// (the full evaluation below asserts the target itself).
    #[test]
    fn meets_the_quality_target_on_a_reduced_set() {
        check_targets(40, 40, 7, 0.925, 0.875);
    }

    /// The full evaluation (200 series per kind and 200 clean) on seeds 1 to 8, each of which
    /// must meet the target: run with `cargo test --release -p fathom-detect -- --ignored`.
    #[test]
    #[ignore]
    fn meets_the_quality_target() {
        for seed in 1..=8 {
            let (decompose, ensemble) = check_targets(200, 200, seed, 0.95, 0.9);
            println!("seed {seed}\n{}\n{}", decompose.render(), ensemble.render());
        }
    }
}
