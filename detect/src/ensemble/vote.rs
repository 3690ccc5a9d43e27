//! The spike-and-dip vote: three detectors judge each candidate point and the middle
//! opinion is its score.
//!
//! 1. decompose-style: the residual from the full model (seasonal profiles, lines between
//!    change points, block correction) in units of the regime's robust σ;
//! 2. spike_dip-style: the point against the median of its neighbours (up to
//!    [`NEIGHBOURS`] on each side, itself left out), in units of the same σ: ASA's
//!    `AnomalyDetection_SpikeAndDip` judges a point against its recent history, which is
//!    immune to whatever the global model gets slightly wrong around it;
//! 3. spectral residual: the saliency of the point in a 64-point window of the
//!    deseasonalised series around it, against its distribution on Gaussian white noise
//!    (measured once: `P(O > 2.29) = 1%`, each further 1.05 ten times rarer).
//!
//! All three are on the ensemble's calibrated scale (see the parent module). Taking the
//! median, no detector alone can raise an alarm or veto one: a point must look anomalous to
//! two of them. The last two only look at the point's surroundings, so a slow error of the
//! global model (a seasonal profile learned from few quiet cycles) cannot make a spike on
//! its own. Only candidates (points whose first score is not 0) are voted on, which keeps
//! the vote cheap.

use crate::fill::{Fill, fill_gaps};
use crate::spectral_residual::{SpectralResidualParams, SpectralResidualScratch, local_score};
use crate::stats::select_percentile;

/// Neighbours on each side of a point for its local level.
const NEIGHBOURS: usize = 6;
/// Window of the local spectral residual.
const SR_WINDOW: usize = 64;
/// 99th percentile of the local SR score on Gaussian white noise, and the score increase
/// per decade of rarity above it.
const SR_Q99: f64 = 2.29;
const SR_DECADE: f64 = 1.05;

/// Work buffers of [`Vote`].
#[derive(Debug, Default)]
pub(crate) struct VoteWork {
    buf: Vec<f64>,
    filled: Vec<f64>,
    sr: SpectralResidualScratch,
}

/// The inputs of the vote on one series.
pub(crate) struct Vote<'a> {
    /// The deseasonalised series (NaN = missing).
    pub y: &'a [f64],
    /// The regime's robust σ at each point.
    pub sigma: &'a [f64],
    /// Maps a z-score to the calibrated scale.
    pub calibrate: fn(f64) -> f64,
}

impl Vote<'_> {
    /// Prepares `work` for a series (the deseasonalised series gap-filled for the spectral
    /// transform).
    pub(crate) fn prepare(&self, work: &mut VoteWork) {
        work.filled.clear();
        work.filled.extend_from_slice(self.y);
        fill_gaps(&mut work.filled, Fill::Linear);
        if work.filled.iter().any(|v| !v.is_finite()) {
            work.filled.fill(0.0);
        }
    }

    /// The median of the three detectors' calibrated scores at `i`, given the first one.
    pub(crate) fn score(&self, i: usize, first: f64, work: &mut VoteWork) -> f64 {
        let (Some(&y), Some(&sigma)) = (self.y.get(i), self.sigma.get(i)) else {
            return first;
        };
        let lo = i.saturating_sub(NEIGHBOURS);
        let hi = (i + NEIGHBOURS + 1).min(self.y.len());
        work.buf.clear();
        work.buf.extend((lo..hi).filter(|&j| j != i).map(|j| self.y[j]).filter(|v| v.is_finite()));
        let local = if work.buf.is_empty() || sigma.is_nan() || sigma <= 0.0 {
            first.abs()
        } else {
            (self.calibrate)((y - select_percentile(&mut work.buf, 50.0)) / sigma).abs()
        };
        let o = local_score(&work.filled, i, SR_WINDOW, &SpectralResidualParams::default(), &mut work.sr);
        let saliency = ((o - SR_Q99) / SR_DECADE).max(0.0);
        let a = first.abs();
        a.max(local).min(a.min(local).max(saliency)).copysign(first)
    }
}
