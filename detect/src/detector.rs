//! One entry point for every anomaly detector: [`run_detector`] with a [`DetectorConfig`].
//!
//! The engine and the CLI name a detector and pass `name=value` parameters as strings
//! ([`DetectorConfig::from_params`]); the config travels on the wire as the same strings
//! ([`DetectorConfig::to_params`]). Every detector fills the same [`DetectorOutput`]: a
//! baseline (what the detector expected), a signed score, a flag (+1 above, -1 below, 0)
//! and an [`AnomalyKind`] per point, all with the input's length. Missing points (NaN) are
//! never flagged: score 0, flag 0, kind [`AnomalyKind::None`].
//!
//! # Batch and causal modes
//!
//! In [`Mode::Batch`] a detector sees the whole series, so a point can be judged with
//! hindsight (a level shift is easier to place once the new level has settled). In
//! [`Mode::Causal`] the output at `i` depends only on `values[..=i]`, and equals the last
//! point of a batch run over that prefix: streaming and backfilling agree on the newest
//! point. Per detector:
//!
//! - `outliers`: incremental and exact, O(n log n): the prefix's fences come from a Fenwick
//!   tree of ranks (see `detector/rank.rs`);
//! - `spike_dip`: the scoring is trailing already, but the seasonal medians are those of
//!   the prefix, so each point re-learns them from its prefix (O(n)) and scores only
//!   itself (O(history log history));
//! - `decompose`, `change_point`, `spectral_residual`, `ensemble`: every point re-runs the
//!   batch detector on its prefix, so a causal run costs about `n / 2` batch runs. This is
//!   meant for scoring the newest points of a bounded window (a few thousand points), not
//!   for backfilling a million-point series in one call.

pub(crate) mod normal;
mod params;
pub(crate) mod rank;
#[cfg(test)]
mod tests;

pub use params::ParamError;

use crate::change_point::{ChangeKind, ChangePointParams, ChangePointScratch, change_point_scores};
use crate::decompose::{AnomalyOutput, DecomposeParams, DecomposeScratch, decompose_anomalies};
use crate::ensemble::{EnsembleParams, EnsembleScratch, ensemble};
use crate::outliers::{OutlierTest, outlier_fences, score_with_fences};
use crate::spectral_residual::{SpectralResidualParams, SpectralResidualScratch, spectral_residual};
use crate::spike_dip::{SpikeDipParams, SpikeDipScratch, spike_dip, spike_dip_causal};
use crate::stats::select_percentile;
use rank::RankTree;

/// What kind of anomaly a flagged point is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnomalyKind {
    /// Not anomalous.
    None,
    /// A short excursion above the baseline.
    Spike,
    /// A short excursion below the baseline.
    Dip,
    /// The level changes and stays changed.
    LevelShift,
    /// The slope changes.
    TrendChange,
    /// The noise level changes.
    VarianceChange,
}

impl AnomalyKind {
    /// Every kind but `None`, in the order reports list them.
    pub const EVENTS: [AnomalyKind; 5] = [
        AnomalyKind::Spike,
        AnomalyKind::Dip,
        AnomalyKind::LevelShift,
        AnomalyKind::TrendChange,
        AnomalyKind::VarianceChange,
    ];

    /// The name used in outputs: `""` for `None`, else `spike`, `dip`, `level_shift`,
    /// `trend_change`, `variance_change`.
    pub fn name(self) -> &'static str {
        match self {
            AnomalyKind::None => "",
            AnomalyKind::Spike => "spike",
            AnomalyKind::Dip => "dip",
            AnomalyKind::LevelShift => "level_shift",
            AnomalyKind::TrendChange => "trend_change",
            AnomalyKind::VarianceChange => "variance_change",
        }
    }

    /// Spike for a positive flag, Dip for a negative one, None for 0.
    pub fn from_flag(flag: i8) -> AnomalyKind {
        match flag.signum() {
            1 => AnomalyKind::Spike,
            -1 => AnomalyKind::Dip,
            _ => AnomalyKind::None,
        }
    }
}

/// Output of [`run_detector`]; every vector has the input's length. Reused across calls
/// (cleared and refilled, so no allocation once it has the capacity).
#[derive(Debug, Default)]
pub struct DetectorOutput {
    /// What the detector expected at each point (detector-specific; see each detector).
    pub baseline: Vec<f64>,
    /// Signed anomaly score: positive above the baseline, negative below. Never NaN; 0 at
    /// missing points.
    pub score: Vec<f64>,
    /// +1 / -1 where the point is flagged above / below, else 0.
    pub flag: Vec<i8>,
    /// The kind of each flagged point; `AnomalyKind::None` where `flag == 0`.
    pub kind: Vec<AnomalyKind>,
}

impl DetectorOutput {
    /// Empties every vector and gives it length `n`: baseline NaN, score 0, flag 0, kind None.
    pub fn reset(&mut self, n: usize) {
        self.baseline.clear();
        self.baseline.resize(n, f64::NAN);
        self.score.clear();
        self.score.resize(n, 0.0);
        self.flag.clear();
        self.flag.resize(n, 0);
        self.kind.clear();
        self.kind.resize(n, AnomalyKind::None);
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.flag.len()
    }

    /// True if there are no points.
    pub fn is_empty(&self) -> bool {
        self.flag.is_empty()
    }

    /// Sets flag and kind from the score: +1 / Spike where `score > threshold`, -1 / Dip
    /// where `score < -threshold`, else 0 / None (always 0 where the input is NaN).
    pub(crate) fn flag_spikes_dips(&mut self, values: &[f64], threshold: f64) {
        for (((f, k), &s), &x) in self.flag.iter_mut().zip(self.kind.iter_mut()).zip(&self.score).zip(values) {
            *f = if x.is_nan() { 0 } else { i8::from(s > threshold) - i8::from(s < -threshold) };
            *k = AnomalyKind::from_flag(*f);
        }
    }

    /// Copies point `from` of `other` to point `to` of `self` (ignored if out of range).
    fn copy_point(&mut self, to: usize, other: &DetectorOutput, from: usize) {
        if let (Some(b), Some(s), Some(f), Some(k)) =
            (other.baseline.get(from), other.score.get(from), other.flag.get(from), other.kind.get(from))
            && let (Some(tb), Some(ts), Some(tf), Some(tk)) =
                (self.baseline.get_mut(to), self.score.get_mut(to), self.flag.get_mut(to), self.kind.get_mut(to))
        {
            (*tb, *ts, *tf, *tk) = (*b, *s, *f, *k);
        }
    }
}

/// Which detector to run, with its parameters. See [`DetectorConfig::from_params`] for the
/// parameter names and [`DetectorConfig::describe`] for their meaning and defaults.
#[derive(Debug, Clone, PartialEq)]
pub enum DetectorConfig {
    /// ADX `series_outliers` on the raw values; flags `|score| > threshold` (default 1.5).
    /// Baseline: the median of the series.
    Outliers {
        /// Which percentile fences.
        test: OutlierTest,
        /// Flag threshold on the absolute score.
        threshold: f64,
    },
    /// ADX `series_decompose_anomalies` (see [`decompose_anomalies`]).
    Decompose {
        /// Decomposition parameters.
        params: DecomposeParams,
        /// Flag threshold on the absolute score (ADX default 1.5).
        threshold: f64,
        /// Outlier test on the residual.
        test: OutlierTest,
    },
    /// Spikes and dips against a robust trailing history (ASA `AnomalyDetection_SpikeAndDip`).
    SpikeDip(SpikeDipParams),
    /// Level, trend and variance changes.
    ChangePoint(ChangePointParams),
    /// Microsoft's spectral residual saliency detector.
    SpectralResidual(SpectralResidualParams),
    /// The calibrated combination of all of the above; the default for new users.
    Ensemble(EnsembleParams),
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig::Ensemble(EnsembleParams::default())
    }
}

impl DetectorConfig {
    /// Every detector name, in the order of the variants.
    pub const NAMES: [&'static str; 6] =
        ["outliers", "decompose", "spike_dip", "change_point", "spectral_residual", "ensemble"];

    /// The detector's name, as accepted by [`DetectorConfig::from_params`].
    pub fn name(&self) -> &'static str {
        match self {
            DetectorConfig::Outliers { .. } => "outliers",
            DetectorConfig::Decompose { .. } => "decompose",
            DetectorConfig::SpikeDip(_) => "spike_dip",
            DetectorConfig::ChangePoint(_) => "change_point",
            DetectorConfig::SpectralResidual(_) => "spectral_residual",
            DetectorConfig::Ensemble(_) => "ensemble",
        }
    }
}

/// Whether a detector may look ahead (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The whole series is known.
    Batch,
    /// The output at `i` depends only on `values[..=i]`.
    Causal,
}

/// Reusable buffers for [`run_detector`]; after the first series of a given length and
/// detector, no call allocates.
#[derive(Debug, Default)]
pub struct DetectorScratch {
    buf: Vec<f64>,
    ranks: RankTree,
    decompose: DecomposeScratch,
    anomaly: AnomalyOutput,
    spike_dip: SpikeDipScratch,
    change_point: ChangePointScratch,
    change_kinds: Vec<Option<ChangeKind>>,
    spectral: SpectralResidualScratch,
    ensemble: EnsembleScratch,
    /// Output of the batch runs over prefixes in causal mode.
    prefix: DetectorOutput,
}

/// Runs the detector `config` over `values` into `out` (every vector resized to
/// `values.len()`). Never panics, whatever the input.
pub fn run_detector(
    config: &DetectorConfig,
    values: &[f64],
    mode: Mode,
    out: &mut DetectorOutput,
    scratch: &mut DetectorScratch,
) {
    match (mode, config) {
        (Mode::Batch, _) => run_batch(config, values, out, scratch),
        (Mode::Causal, DetectorConfig::Outliers { test, threshold }) => {
            outliers_causal(values, *test, *threshold, out, scratch);
        }
        (Mode::Causal, DetectorConfig::SpikeDip(params)) => {
            spike_dip_causal(values, params, out, &mut scratch.spike_dip);
        }
        (Mode::Causal, _) => {
            out.reset(values.len());
            let mut prefix = std::mem::take(&mut scratch.prefix);
            for i in 0..values.len() {
                run_batch(config, &values[..=i], &mut prefix, scratch);
                out.copy_point(i, &prefix, i);
            }
            scratch.prefix = prefix;
        }
    }
}

fn run_batch(config: &DetectorConfig, values: &[f64], out: &mut DetectorOutput, scratch: &mut DetectorScratch) {
    match config {
        DetectorConfig::Outliers { test, threshold } => outliers_batch(values, *test, *threshold, out, scratch),
        DetectorConfig::Decompose { params, threshold, test } => {
            let anomaly = &mut scratch.anomaly;
            decompose_anomalies(values, params, *threshold, *test, anomaly, &mut scratch.decompose);
            out.reset(values.len());
            // Swap rather than copy: both sides are refilled from scratch on every call.
            std::mem::swap(&mut out.baseline, &mut anomaly.baseline);
            std::mem::swap(&mut out.score, &mut anomaly.score);
            std::mem::swap(&mut out.flag, &mut anomaly.flag);
            for (k, &f) in out.kind.iter_mut().zip(&out.flag) {
                *k = AnomalyKind::from_flag(f);
            }
        }
        DetectorConfig::SpikeDip(params) => spike_dip(values, params, out, &mut scratch.spike_dip),
        DetectorConfig::ChangePoint(params) => change_point(values, params, out, scratch),
        DetectorConfig::SpectralResidual(params) => spectral_residual(values, params, out, &mut scratch.spectral),
        DetectorConfig::Ensemble(params) => ensemble(values, params, out, &mut scratch.ensemble),
    }
}

/// ADX `series_outliers` over the whole series; baseline = the series' median.
fn outliers_batch(
    values: &[f64],
    test: OutlierTest,
    threshold: f64,
    out: &mut DetectorOutput,
    scratch: &mut DetectorScratch,
) {
    out.reset(values.len());
    let (lo, hi) = outlier_fences(values, test, &mut scratch.buf).unwrap_or((0.0, 0.0));
    // The fence selection left the non-NaN values in `buf`; their median is the baseline.
    let median = select_percentile(&mut scratch.buf, 50.0);
    score_with_fences(values, lo, hi, &mut out.score);
    out.baseline.fill(median);
    out.flag_spikes_dips(values, threshold);
}

/// Causal `series_outliers`: point `i` scored against the fences of `values[..=i]`, the
/// fences read from a Fenwick tree of ranks (O(log n) a point, identical to the batch
/// fences of the prefix).
fn outliers_causal(
    values: &[f64],
    test: OutlierTest,
    threshold: f64,
    out: &mut DetectorOutput,
    scratch: &mut DetectorScratch,
) {
    out.reset(values.len());
    let ranks = &mut scratch.ranks;
    ranks.build(values);
    let (p_lo, p_hi) = test.percentiles();
    for (i, &x) in values.iter().enumerate() {
        ranks.insert(i);
        let (lo, hi) = if ranks.len() == 0 { (0.0, 0.0) } else { (ranks.percentile(p_lo), ranks.percentile(p_hi)) };
        if let (Some(s), Some(b)) = (out.score.get_mut(i..=i), out.baseline.get_mut(i)) {
            score_with_fences(&[x], lo, hi, s);
            *b = ranks.percentile(50.0);
        }
    }
    out.flag_spikes_dips(values, threshold);
}

/// Change points: [`change_point_scores`]'s baseline (the fitted piecewise-linear model plus
/// the seasonal component) and score (the signed magnitude of each change in noise units at
/// its index, 0 elsewhere), flagged with the change's kind where a change is reported (its
/// magnitude reached `threshold`).
fn change_point(values: &[f64], params: &ChangePointParams, out: &mut DetectorOutput, scratch: &mut DetectorScratch) {
    let n = values.len();
    out.reset(n);
    let kinds = &mut scratch.change_kinds;
    kinds.clear();
    kinds.resize(n, None);
    change_point_scores(values, params, &mut out.baseline, &mut out.score, kinds, &mut scratch.change_point);
    for ((((f, k), s), c), &x) in
        out.flag.iter_mut().zip(out.kind.iter_mut()).zip(&mut out.score).zip(kinds.iter()).zip(values)
    {
        if s.is_nan() || x.is_nan() {
            *s = 0.0;
        }
        let kind = match c {
            Some(ChangeKind::Level) => AnomalyKind::LevelShift,
            Some(ChangeKind::Trend) => AnomalyKind::TrendChange,
            Some(ChangeKind::Variance) => AnomalyKind::VarianceChange,
            None => AnomalyKind::None,
        };
        // The search reports only changes whose magnitude reaches the threshold.
        let flagged = kind != AnomalyKind::None && *s != 0.0 && !x.is_nan();
        *f = if flagged { if *s < 0.0 { -1 } else { 1 } } else { 0 };
        *k = if flagged { kind } else { AnomalyKind::None };
    }
}
