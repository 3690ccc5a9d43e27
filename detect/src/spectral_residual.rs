//! Spectral residual (SR) saliency: the detector behind Microsoft's anomaly detection
//! service (Ren et al., "Time-Series Anomaly Detection Service at Microsoft", KDD 2019).
//!
//! The idea comes from visual saliency: the log amplitude spectrum of a "normal" signal is
//! smooth, so what sticks out of its local average (the spectral residual) is what makes
//! the signal surprising. Transforming the residual back with the original phases gives
//! the saliency map, large where the series does something unexpected:
//!
//! 1. `A(f)`, `P(f)`: amplitude and phase of the series' DFT; `L = ln A`;
//! 2. `AL = h_q * L`, the average of `L` over `q` frequencies (default 3);
//! 3. `R = L - AL`; saliency `S = |IDFT(exp(R + iP))|`;
//! 4. score `O(i) = (S(i) - S̄(i)) / S̄(i)`, `S̄(i)` the mean saliency of the `z` points
//!    before `i` (default 21); flagged where `O > threshold` (default 3).
//!
//! As in the paper, before the transform the series is extended by `k` points (default 5)
//! so that the newest point sits inside the window rather than at its edge, where the DFT's
//! implicit periodicity makes every series look surprising. The extension repeats one
//! estimate, the point `m` (default 5) steps back plus `m` times the average gradient from
//! the `m` previous points to the newest one. Following Microsoft's reference
//! implementation (`msanomalydetector`), the gradient is taken up to the point *before* the
//! newest, so that a spike in the newest point does not continue into the extension and
//! hide itself; so is its causal filter `h_q` over the spectrum (`AL(f)` averages
//! `L(f-q+1..=f)`), and amplitudes below 1e-8 of the (normalised) series are dropped.
//!
//! Choices of this implementation:
//! - missing and non-finite points are filled linearly for the transform (the DFT needs a
//!   complete series); missing points score 0, ±inf points score ±inf and are flagged;
//! - the transform runs over windows whose length (with the extension) is a power of two:
//!   the largest that fits the series, at most 4096, each scoring its last half, anchored
//!   at the newest point; a series too short for a 32-point
//!   window is transformed whole at its exact length by Bluestein's algorithm (see
//!   `spectral_residual/dft.rs`), since zero padding would put a step at the newest point.
//!   A 720-point series is thus scored by two windows of 507 points + 5 estimates, a
//!   million-point one by windows of 4091;
//! - the output score is `O(i)` clamped at 0 (a point less salient than its neighbours is
//!   not anomalous), signed by the direction of the point relative to the baseline, the
//!   mean of the `z` previous values; saliency differences at rounding level (1e-9
//!   relative) score 0, so a constant series scores 0;
//! - the series is normalised by an exact power of two before the transform, so the
//!   amplitude floor is relative and magnitudes near 1e300 do not overflow.
//!
//! Causal mode re-runs SR on every prefix, whose last window ends at the newest point (the
//! extension puts it mid-window): O(n log n) per point.

mod dft;

use crate::detector::{AnomalyKind, DetectorOutput};
use crate::fill::{Fill, fill_gaps};
use crate::stats::max_abs_finite;
use dft::Dft;

/// Amplitudes at or below this (for a series normalised to magnitude ~1) are dropped.
const EPS: f64 = 1e-8;
/// Relative saliency differences at or below this are rounding and score 0.
const ROUNDING: f64 = 1e-9;

/// Parameters of [`spectral_residual`] (defaults as in the paper).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpectralResidualParams {
    /// Width of the average filter over the log amplitude spectrum (3).
    pub q: usize,
    /// Number of preceding saliency values averaged for the score (21).
    pub z: usize,
    /// Flag where the score exceeds this (3).
    pub threshold: f64,
    /// Points whose gradient estimates the extension (5).
    pub m: usize,
    /// Number of estimated points appended (5).
    pub k: usize,
}

impl Default for SpectralResidualParams {
    fn default() -> Self {
        SpectralResidualParams { q: 3, z: 21, threshold: 3.0, m: 5, k: 5 }
    }
}

/// Longest transform: longer series are scored in windows of this many points.
const MAX_WINDOW: usize = 4096;
/// Shortest power-of-two window; shorter series are transformed whole, at their exact length.
const MIN_WINDOW: usize = 32;

/// Reusable buffers for [`spectral_residual`].
#[derive(Debug, Default)]
pub struct SpectralResidualScratch {
    dft: Dft,
    x: Vec<f64>,
    window: Vec<f64>,
    re: Vec<f64>,
    im: Vec<f64>,
    saliency: Vec<f64>,
    raw: Vec<f64>,
}

/// Batch spectral residual (see the module docs). `out.score` is the signed SR score,
/// `out.baseline` the mean of the `z` previous values.
pub fn spectral_residual(
    values: &[f64],
    params: &SpectralResidualParams,
    out: &mut DetectorOutput,
    scratch: &mut SpectralResidualScratch,
) {
    let n = values.len();
    out.reset(n);
    let z = params.z.max(1);
    if !values.iter().any(|v| v.is_finite()) {
        return;
    }
    let (scale, inv) = unit_scale(max_abs_finite(values));
    let mut x = std::mem::take(&mut scratch.x);
    x.clear();
    x.extend(values.iter().map(|&v| if v.is_finite() { v * scale } else { f64::NAN }));
    fill_gaps(&mut x, Fill::Linear);
    let mut raw = std::mem::take(&mut scratch.raw);
    raw_scores(&x, params, scratch, &mut raw);
    let mut sum_x = 0.0;
    for i in 0..n {
        let count = i.min(z);
        let mean_x = if count > 0 { sum_x / count as f64 } else { x[i] };
        let direction = x[i] - mean_x;
        let salient = raw[i] > ROUNDING && direction.abs() > ROUNDING * mean_x.abs();
        out.score[i] = if salient { raw[i].copysign(direction) } else { 0.0 };
        out.baseline[i] = mean_x * inv;
        sum_x += x[i];
        if i >= z {
            sum_x -= x[i - z];
        }
    }
    let threshold = params.threshold;
    for (i, &v) in values.iter().enumerate() {
        if v.is_nan() {
            out.score[i] = 0.0;
        } else if v.is_infinite() {
            out.score[i] = v;
        }
        let s = out.score[i];
        out.flag[i] = i8::from(s > threshold) - i8::from(s < -threshold);
        out.kind[i] = AnomalyKind::from_flag(out.flag[i]);
    }
    scratch.x = x;
    scratch.raw = raw;
}

/// An exact power of two bringing `max` (> 0) into `[0.5, 1)`, and its inverse; `(1, 1)`
/// for 0 or non-finite `max`.
pub(crate) fn unit_scale(max: f64) -> (f64, f64) {
    if !(max > 0.0 && max.is_finite()) {
        return (1.0, 1.0);
    }
    let e = (max.log2().floor() as i32).clamp(-1070, 1020);
    (2f64.powi(-e - 1), 2f64.powi(e + 1))
}

/// The raw SR score `O(i) = (S(i) - S̄(i)) / S̄(i)` of every point of a complete series `x`
/// (finite, gap-free, magnitude about 1) into `raw` (0 where undefined).
///
/// Series up to [`MAX_WINDOW`] points (with the extension) are transformed in one window
/// whose length is the largest power of two that fits, or whole below [`MIN_WINDOW`]. Each
/// window of `W - k` points is extended by `k` estimated points and scores its last `W / 2`
/// points; the windows are anchored at the end of the series (the first one at its start
/// scores everything before), so the newest point is always scored by a window ending at
/// it, as in the paper's online setting, and a batch run over a prefix scores its last point
/// exactly as the causal mode does.
pub(crate) fn raw_scores(
    x: &[f64],
    params: &SpectralResidualParams,
    scratch: &mut SpectralResidualScratch,
    raw: &mut Vec<f64>,
) {
    let n = x.len();
    raw.clear();
    raw.resize(n, 0.0);
    let (m, k, q, z) = (params.m.max(1), params.k, params.q.max(1), params.z.max(1));
    let total = n.saturating_add(k);
    let mut w = if total >= MAX_WINDOW { MAX_WINDOW } else { 1usize << (usize::BITS - 1 - total.leading_zeros()) };
    if w < MIN_WINDOW || k >= w / 2 || n == 0 {
        w = total;
    }
    let data = w.saturating_sub(k).clamp(1, n.max(1));
    let half = if w == total { n } else { w / 2 };
    let mut end = n;
    loop {
        let start = end.saturating_sub(data);
        let (start, stop) = if start == 0 { (0, data.min(n)) } else { (start, end) };
        let first_scored = if start == 0 { 0 } else { end.saturating_sub(half) };
        let window = &mut scratch.window;
        window.clear();
        window.extend_from_slice(&x[start..stop]);
        extend(window, m, k);
        if saliency(scratch, q) {
            let s = &scratch.saliency;
            let mut sum = 0.0;
            for (j, &sj) in s.iter().enumerate().take(end - start) {
                let i = start + j;
                let count = j.min(z);
                if i >= first_scored && count > 0 {
                    let mean = sum / count as f64;
                    let o = (sj - mean) / mean;
                    raw[i] = if o.is_finite() { o } else { 0.0 };
                }
                sum += sj;
                if j >= z {
                    sum -= s[j - z];
                }
            }
        }
        if start == 0 {
            break;
        }
        end = first_scored;
    }
}

/// The raw SR score `O(i)` of point `i` of a complete series `x` (as for [`raw_scores`])
/// computed on a window of `width - k` points around it (centred where the series allows),
/// extended by `k` estimates: a cheap score for a few candidate points. 0 if undefined.
pub(crate) fn local_score(
    x: &[f64],
    i: usize,
    width: usize,
    params: &SpectralResidualParams,
    scratch: &mut SpectralResidualScratch,
) -> f64 {
    let (m, k, q, z) = (params.m.max(1), params.k, params.q.max(1), params.z.max(1));
    let data = width.saturating_sub(k).max(2);
    let start = i.saturating_sub(data / 2).min(x.len().saturating_sub(data));
    let stop = (start + data).min(x.len());
    if i < start || i >= stop {
        return 0.0;
    }
    scratch.window.clear();
    scratch.window.extend_from_slice(&x[start..stop]);
    extend(&mut scratch.window, m, k);
    if !saliency(scratch, q) {
        return 0.0;
    }
    let s = &scratch.saliency;
    let j = i - start;
    let from = j.saturating_sub(z);
    if from == j {
        return 0.0;
    }
    let mean = s[from..j].iter().sum::<f64>() / (j - from) as f64;
    let o = (s[j] - mean) / mean;
    if o.is_finite() { o } else { 0.0 }
}

/// Appends `k` copies of the estimate: the point `m` steps before the newest-but-one plus
/// `m` times the mean gradient from the `m` points before it (Microsoft's `predict_next`
/// over `x[-m-2:-1]`). With too few points the newest-but-one (or only) point is repeated.
fn extend(x: &mut Vec<f64>, m: usize, k: usize) {
    let n = x.len();
    let Some(&last) = x.get(n.saturating_sub(2)) else {
        return;
    };
    let start = n.saturating_sub(m + 2);
    let window = &x[start..n.saturating_sub(1).max(start)];
    let next = match window {
        [_, second, ..] => {
            let w = window.len();
            let slopes: f64 = window[..w - 1].iter().enumerate().map(|(j, v)| (last - v) / (w - 1 - j) as f64).sum();
            second + slopes
        }
        _ => last,
    };
    let next = if next.is_finite() { next } else { last };
    x.extend(std::iter::repeat_n(next, k));
}

/// Computes the saliency map of `scratch.window` into `scratch.saliency`; false if the
/// transform failed.
fn saliency(scratch: &mut SpectralResidualScratch, q: usize) -> bool {
    let SpectralResidualScratch { dft, window, re, im, saliency, .. } = scratch;
    let n = window.len();
    re.clear();
    re.extend_from_slice(window);
    im.clear();
    im.resize(n, 0.0);
    if !dft.forward(re, im) {
        return false;
    }
    // L = ln A, kept in `saliency` for the trailing average over q frequencies (fewer at
    // the start), as msanomalydetector does. exp(L - AL) / A = exp(-AL), so the residual
    // spectrum is the original one times exp(-AL); dropped bins get 0.
    saliency.clear();
    saliency.extend(re.iter().zip(im.iter()).map(|(a, b)| {
        let power = a * a + b * b;
        if power > EPS * EPS { 0.5 * power.ln() } else { 0.0 }
    }));
    let q = q.min(n).max(1);
    let mut sum = 0.0;
    for f in 0..n {
        sum += saliency[f];
        if f >= q {
            sum -= saliency[f - q];
        }
        let avg = sum / (f + 1).min(q) as f64;
        let keep = re[f] * re[f] + im[f] * im[f] > EPS * EPS;
        let factor = if keep { (-avg).exp() } else { 0.0 };
        re[f] *= factor;
        im[f] *= factor;
    }
    if !dft.inverse(re, im) {
        return false;
    }
    saliency.clear();
    saliency.extend(re.iter().zip(im.iter()).map(|(a, b)| (a * a + b * b).sqrt()));
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{Rng, SyntheticSpec, generate_series};

    fn run(values: &[f64], params: &SpectralResidualParams) -> DetectorOutput {
        let mut out = DetectorOutput::default();
        spectral_residual(values, params, &mut out, &mut SpectralResidualScratch::default());
        out
    }

    #[test]
    fn finds_injected_spikes_and_dips() {
        let spec = SyntheticSpec { missing_rate: 0.0, gaps: 0, ..SyntheticSpec::default() };
        let (mut x, _) = generate_series(&spec, None, 4);
        x[200] += 25.0;
        x[500] -= 25.0;
        let out = run(&x, &SpectralResidualParams::default());
        assert_eq!((out.flag[200], out.kind[200]), (1, AnomalyKind::Spike), "{}", out.score[200]);
        assert_eq!((out.flag[500], out.kind[500]), (-1, AnomalyKind::Dip), "{}", out.score[500]);
        let top = out.score.iter().enumerate().filter(|(i, _)| *i != 200 && *i != 500).map(|(_, s)| s.abs());
        assert!(top.fold(0.0, f64::max) < out.score[200].abs().min(out.score[500].abs()));
    }

    #[test]
    fn newest_point_is_scored_thanks_to_the_extension() {
        let mut rng = Rng::new(1);
        let mut x: Vec<f64> = (0..300).map(|i| (i as f64 * 0.3).sin() * 3.0 + 0.2 * rng.normal()).collect();
        let quiet = run(&x, &SpectralResidualParams::default());
        assert_eq!(quiet.flag[299], 0, "{}", quiet.score[299]);
        x[299] += 20.0;
        let out = run(&x, &SpectralResidualParams::default());
        assert_eq!(out.flag[299], 1, "{}", out.score[299]);
    }

    #[test]
    fn extension_follows_the_gradient() {
        let mut x: Vec<f64> = (0..10).map(f64::from).collect();
        extend(&mut x, 5, 3);
        // Up to the newest-but-one point (8): 8 - 5 steps... predicts 9 for a straight line.
        assert_eq!(&x[10..], &[9.0, 9.0, 9.0]);
        let mut short = vec![4.0];
        extend(&mut short, 5, 2);
        assert_eq!(short, [4.0, 4.0, 4.0]);
        let mut empty: Vec<f64> = vec![];
        extend(&mut empty, 5, 5);
        assert!(empty.is_empty());
    }
}
