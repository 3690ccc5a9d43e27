//! Preparation of a series for the change-point search: a seasonal profile that a level shift cannot bend, and
//! the robust noise scale and winsorised values of the deseasonalised series.
//!
//! The seasonal profile is not `decompose`'s plain per-phase median: with a level shift of size `J` splitting
//! the cycles `k : (c - k)`, every phase's median sits in a different place between the two levels, so the
//! profile picks up per-phase errors of the order of the noise (up to `J / 2` when the split is even) that
//! repeat every cycle and look like a burst of variance or many small shifts. Instead each point is measured
//! against a centred moving average over one period (a `2 x p` average for even `p`, which cancels the seasonal
//! component exactly and follows levels and trends), and the profile is the per-phase median of those
//! deviations. A change then only disturbs the one cycle around it, which the median ignores.
//!
//! A long component (a week under a daily cycle, [`long_profile`]) has only a few cycles in a series, so it is
//! measured against a robust running level instead, smoothed, and kept only when it is significant.

use crate::fill::{Fill, fill_gaps};
use crate::stats::{lerp, select_percentile, sort_columns};

/// Up to this many cycles the phase medians come from sorting all phases at once (as in `decompose`).
const NETWORK_MAX_CYCLES: usize = 40;
/// `σ = median|Δ| / (Φ⁻¹(3/4) √2)` for Gaussian noise.
pub(super) const MEDIAN_ABS_DIFF_TO_SIGMA: f64 = 1.048_358_037_009_529;
/// Points further than this many σ from the running median of 5 are pulled back to that distance.
const WINSOR_SIGMAS: f64 = 4.0;
/// Absolute differences are clipped at this many σ_Δ = √2 σ.
const DIFF_CLIP_SIGMAS: f64 = 5.0;

/// The long seasonal component tried after the main one has this many main periods (a week for a daily period).
pub(super) const LONG_CYCLE: usize = 7;
/// The smoothed long profile is kept when its variance exceeds this many times the variance of its noise.
const LONG_PROFILE_MIN_RATIO: f64 = 2.0;

/// Work buffers of [`seasonal_profile`].
#[derive(Debug, Default)]
pub(super) struct SeasonWork {
    /// The gap-filled series (see [`fill_linear`]).
    pub filled: Vec<f64>,
    /// Block levels, then the long profile's raw medians.
    levels: Vec<f64>,
    column: Vec<f64>,
    matrix: Vec<f64>,
    counts: Vec<usize>,
}

/// Puts `x` with its gaps filled by linear interpolation into `work.filled`: the period detection and the moving
/// average run on it, so a missing point neither biases a window nor slows the autocorrelation down.
pub(super) fn fill_linear(x: &[f64], work: &mut SeasonWork) {
    work.filled.clear();
    work.filled.extend_from_slice(x);
    fill_gaps(&mut work.filled, Fill::Linear);
}

/// `profile[phase]`: the zero-mean seasonal component of `x` (NaN = missing) for `period` (`2 <= period`,
/// `2 period <= x.len()`), from the per-phase medians of the deviations from a centred moving average.
/// `work.filled` must hold `x` gap-filled ([`fill_linear`]). Leaves `profile` empty if the period does not fit.
pub(super) fn seasonal_profile(x: &[f64], period: usize, work: &mut SeasonWork, profile: &mut Vec<f64>) {
    profile.clear();
    let n = x.len();
    let half = period / 2;
    let width = 2 * half + 1;
    if period < 2 || n < width || n / 2 < period || work.filled.len() != n {
        return;
    }
    let SeasonWork { filled, matrix, .. } = work;
    matrix.clear();
    matrix.resize(n.div_ceil(period) * period, f64::INFINITY);
    let inv = 1.0 / period as f64;
    let (mut sum, mut leaving) = (0.0, 0.0);
    for (j, window) in filled.windows(width).enumerate() {
        let (Some(&first), Some(&last)) = (window.first(), window.last()) else { break };
        sum = if j == 0 { window.iter().sum() } else { sum - leaving + last };
        leaving = first;
        let average = if period.is_multiple_of(2) { (sum - 0.5 * (first + last)) * inv } else { sum * inv };
        let i = j + half;
        if let (Some(&v), Some(slot)) = (x.get(i), matrix.get_mut(i))
            && (v - average).is_finite()
        {
            *slot = v - average;
        }
    }
    column_medians(work, period, profile);
}

/// `profile[phase]` = the zero-mean median of column `phase` of `work.matrix` (one row per cycle, +inf where
/// there is no value); 0 for a column without values.
fn column_medians(work: &mut SeasonWork, period: usize, profile: &mut Vec<f64>) {
    let SeasonWork { column, matrix, counts, .. } = work;
    let cycles = matrix.len() / period.max(1);
    counts.clear();
    counts.resize(period, 0);
    for row in matrix.chunks(period) {
        for (c, v) in counts.iter_mut().zip(row) {
            *c += usize::from(v.is_finite());
        }
    }
    if cycles <= NETWORK_MAX_CYCLES {
        // +inf sorts after every deviation, so a phase with m values has its median at rows (m-1)/2 and m/2.
        sort_columns(matrix, cycles, period);
        profile.extend(counts.iter().enumerate().map(|(phase, &m)| {
            let at = |row: usize| matrix.get(row * period + phase).copied().unwrap_or(f64::NAN);
            match m {
                0 => f64::NAN,
                _ if m % 2 == 0 => lerp(at(m / 2 - 1), at(m / 2), 0.5),
                _ => at(m / 2),
            }
        }));
    } else {
        for phase in 0..period {
            column.clear();
            if let Some(tail) = matrix.get(phase..) {
                column.extend(tail.iter().step_by(period).copied().filter(|v| v.is_finite()));
            }
            profile.push(select_percentile(column, 50.0));
        }
    }
    let (sum, count) = profile.iter().filter(|p| p.is_finite()).fold((0.0, 0usize), |(s, c), &p| (s + p, c + 1));
    let mean = if count == 0 { 0.0 } else { sum / count as f64 };
    for p in profile.iter_mut() {
        *p = if p.is_finite() { *p - mean } else { 0.0 };
    }
}

/// Subtracts the periodic `profile` from `x` and `work.filled` in place.
pub(super) fn remove_profile(x: &mut [f64], work: &mut SeasonWork, profile: &[f64]) {
    if profile.is_empty() {
        return;
    }
    for v in [x, work.filled.as_mut_slice()] {
        for chunk in v.chunks_mut(profile.len()) {
            chunk.iter_mut().zip(profile).for_each(|(v, p)| *v -= p);
        }
    }
}

/// A long seasonal component of [`LONG_CYCLE`] main periods (a week under a daily cycle) of `x` / `work.filled`,
/// from which the main component has been removed; empty unless it is significant.
///
/// A moving average over a whole long cycle would smear a level shift over that cycle and corrupt one of the few
/// values of every phase. The level is instead the running median of the main cycles' means over one long cycle
/// ([`running_level`]; it steps with a shift and runs along a trend), interpolated between the cycle centres.
/// The per-phase medians of the deviations from it are smoothed by a circular moving average over `2 half + 1`
/// phases (each phase has only a few noisy values), and kept if their variance exceeds
/// [`LONG_PROFILE_MIN_RATIO`] times that of their noise, estimated from the differences between neighbouring raw
/// phases (a real long pattern is smooth there).
pub(super) fn long_profile(x: &[f64], main: usize, half: usize, work: &mut SeasonWork, profile: &mut Vec<f64>) {
    profile.clear();
    let n = x.len();
    let long = main.saturating_mul(LONG_CYCLE);
    let blocks = n / main.max(1);
    if main == 0 || n / 2 < long || work.filled.len() != n {
        return;
    }
    let SeasonWork { filled, levels, column, matrix, .. } = work;
    column.clear();
    column.extend(filled.chunks_exact(main).map(|c| c.iter().sum::<f64>() / main as f64));
    // A running median of (level + long pattern) is not the level where the level moves (the pattern reorders the
    // window), so the pattern's per-block part is removed first. It is estimated from the deviations of the block
    // means from their centred moving average over one long cycle, which cancels the pattern and follows a trend
    // exactly; a level shift disturbs one long cycle of these deviations, which the per-phase median ignores.
    let h = LONG_CYCLE / 2;
    levels.clear();
    levels.extend(column.windows(LONG_CYCLE).map(|w| w.iter().sum::<f64>() / LONG_CYCLE as f64));
    for phase in 0..LONG_CYCLE {
        matrix.clear();
        let first = (phase + LONG_CYCLE - h % LONG_CYCLE) % LONG_CYCLE;
        let deviations = column.iter().skip(h).zip(levels.iter()).skip(first).step_by(LONG_CYCLE);
        matrix.extend(deviations.map(|(c, r)| c - r));
        let pattern = select_percentile(matrix, 50.0);
        if pattern.is_finite() {
            column.iter_mut().skip(phase).step_by(LONG_CYCLE).for_each(|c| *c -= pattern);
        }
    }
    running_level(column, levels);
    matrix.clear();
    matrix.resize(n.div_ceil(long) * long, f64::INFINITY);
    // The level is interpolated linearly between block centres (flat beyond the outer ones): from point
    // `main / 2` on, each run of `main` points rises by one step of `(next - this) / main` per point.
    let (inv, offset) = (1.0 / main as f64, (main / 2) as f64 - (main as f64 - 1.0) / 2.0);
    let mut deviate = |from: usize, to: usize, level: f64, step: f64| {
        let (Some(values), Some(slots)) = (x.get(from..to), matrix.get_mut(from..to)) else { return };
        let mut level = level;
        for (&v, slot) in values.iter().zip(slots) {
            if (v - level).is_finite() {
                *slot = v - level;
            }
            level += step;
        }
    };
    let (first, last) = (levels.first().copied().unwrap_or(0.0), levels.last().copied().unwrap_or(0.0));
    deviate(0, main / 2, first, 0.0);
    for (b, pair) in levels.windows(2).enumerate() {
        let step = (pair[1] - pair[0]) * inv;
        let from = b * main + main / 2;
        deviate(from, from + main, pair[0] + step * offset, step);
    }
    deviate((blocks - 1) * main + main / 2, n, last, 0.0);
    let mut medians = std::mem::take(&mut work.levels);
    medians.clear();
    column_medians(work, long, &mut medians);
    let p = medians.len();
    let w = 2 * half + 1;
    if p > w {
        let last = medians.last().copied().unwrap_or(0.0);
        let rough =
            medians.iter().scan(last, |before, &m| Some(std::mem::replace(before, m) - m)).map(|d| d * d).sum::<f64>()
                / (2 * p) as f64;
        // Circular moving average: the window of phase i is i - half ..= i + half (mod p).
        let at = |i: usize| medians.get(i % p).copied().unwrap_or(0.0);
        let mut sum: f64 = (p - half..p + half + 1).map(at).sum();
        for i in 0..p {
            profile.push(sum / w as f64);
            sum += at(i + half + 1) - at(i + p - half);
        }
        let mean = profile.iter().sum::<f64>() / p as f64;
        profile.iter_mut().for_each(|v| *v -= mean);
        let signal = profile.iter().map(|v| v * v).sum::<f64>() / p as f64;
        if signal.is_nan() || signal <= LONG_PROFILE_MIN_RATIO * rough / w as f64 {
            profile.clear();
        }
    }
    work.levels = medians;
}

/// `levels[b]`: the running median of `means` over [`LONG_CYCLE`] blocks, centred; at the ends, where the window
/// cannot be centred and would lag behind a trend, the slope of the outermost centred medians is continued if the
/// next long cycle in agrees on its sign (the smaller of the two slopes, so a level shift near an end is not
/// extrapolated as a trend). `means` must hold at least [`LONG_CYCLE`] values.
fn running_level(means: &[f64], levels: &mut Vec<f64>) {
    let blocks = means.len();
    levels.clear();
    if blocks < LONG_CYCLE {
        return;
    }
    levels.extend((0..blocks).map(|b| {
        let start = b.saturating_sub(LONG_CYCLE / 2).min(blocks - LONG_CYCLE);
        let mut window = [0.0; LONG_CYCLE];
        window.iter_mut().zip(means.iter().skip(start)).for_each(|(w, &c)| *w = c);
        window.sort_unstable_by(f64::total_cmp);
        window[LONG_CYCLE / 2]
    }));
    let (h, c) = (LONG_CYCLE / 2, LONG_CYCLE);
    if blocks > 2 * c + 2 * h {
        let (first, last) = (h, blocks - 1 - h);
        let cautious = |a: f64, b: f64| if a * b > 0.0 { if a.abs() < b.abs() { a } else { b } } else { 0.0 };
        let slope = |from: usize, to: usize| (levels[to] - levels[from]) / c as f64;
        let start = cautious(slope(first, first + c), slope(first + c, first + 2 * c));
        let end = cautious(slope(last - c, last), slope(last - 2 * c, last - c));
        for b in 0..first {
            levels[b] = levels[first] - start * (first - b) as f64;
        }
        for b in last + 1..blocks {
            levels[b] = levels[last] + end * (b - last) as f64;
        }
    }
}

/// Robust noise scale σ of `y` from the median absolute first difference (blind to level shifts, trends and
/// isolated spikes), falling back to the mean absolute difference when more than half the differences are 0
/// (quantised data). Then winsorises `y` in place (points beyond [`WINSOR_SIGMAS`] σ from the running median
/// of 5 are pulled back) and writes `d[k] = min(|y[k] - y[k-1]|, DIFF_CLIP_SIGMAS √2 σ)`, `d[0] = 0`. Returns σ,
/// 0 if `y` is constant (then `y` and `d` are left as they are and zero).
pub(super) fn noise_and_winsorise(y: &mut [f64], d: &mut Vec<f64>, buf: &mut Vec<f64>) -> f64 {
    d.clear();
    d.resize(y.len(), 0.0);
    buf.clear();
    buf.extend(y.windows(2).map(|w| (w[1] - w[0]).abs()));
    let mut sigma = select_percentile(buf, 50.0) * MEDIAN_ABS_DIFF_TO_SIGMA;
    if sigma.is_nan() || sigma <= 0.0 {
        let (sum, count) = buf.iter().fold((0.0, 0usize), |(s, c), &v| (s + v, c + 1));
        sigma = sum / count.max(1) as f64 * super::search::MEAN_ABS_DIFF_TO_SIGMA;
    }
    if !(sigma > 0.0 && sigma.is_finite()) {
        return 0.0;
    }
    if let (Some(first), Some(last)) = (y.windows(5).next(), y.windows(5).last()) {
        // Running median of 5; the first and last two points use the first and last window.
        let (first, last) = (median5(first), median5(last));
        buf.clear();
        buf.extend([first, first]);
        buf.extend(y.windows(5).map(median5));
        buf.extend([last, last]);
        let reach = WINSOR_SIGMAS * sigma;
        for (v, &m) in y.iter_mut().zip(buf.iter()) {
            *v = v.max(m - reach).min(m + reach);
        }
    }
    let clip = DIFF_CLIP_SIGMAS * std::f64::consts::SQRT_2 * sigma;
    for (dk, w) in d.iter_mut().skip(1).zip(y.windows(2)) {
        *dk = (w[1] - w[0]).abs().min(clip);
    }
    sigma
}

/// Median of five: the middle two of `a, b, c, d` are the larger of the pair minima and the smaller of the
/// pair maxima; the median of all five is the median of those two and `e`.
fn median5(w: &[f64]) -> f64 {
    let &[a, b, c, d, e, ..] = w else { return w.first().copied().unwrap_or(0.0) };
    let lo = a.min(b).max(c.min(d));
    let hi = a.max(b).min(c.max(d));
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    e.max(lo).min(hi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn profile_ignores_a_level_shift() {
        let shape = |i: usize| [3.0, -1.0, 0.5, -2.5][i % 4];
        let x: Vec<f64> = (0..80).map(|i| shape(i) + if i >= 40 { 50.0 } else { 0.0 }).collect();
        let (mut profile, mut work) = (Vec::new(), SeasonWork::default());
        fill_linear(&x, &mut work);
        seasonal_profile(&x, 4, &mut work, &mut profile);
        for (phase, p) in profile.iter().enumerate() {
            assert!((p - shape(phase)).abs() < 1e-9, "phase {phase}: {p}");
        }
        seasonal_profile(&x, 41, &mut work, &mut profile);
        assert!(profile.is_empty());
    }

    #[test]
    fn noise_of_constant_and_quantised_series() {
        let (mut d, mut buf) = (Vec::new(), Vec::new());
        assert_eq!(noise_and_winsorise(&mut [2.0; 10], &mut d, &mut buf), 0.0);
        assert_eq!(d, vec![0.0; 10]);
        let mut y: Vec<f64> = (0..20).map(|i| f64::from(i / 7)).collect();
        assert!(noise_and_winsorise(&mut y, &mut d, &mut buf) > 0.0);
        assert_eq!(noise_and_winsorise(&mut [], &mut d, &mut buf), 0.0);
    }

    proptest! {
        #[test]
        fn median5_agrees_with_sorting(v in proptest::array::uniform5(-1e6f64..1e6)) {
            let mut s = v;
            s.sort_by(f64::total_cmp);
            prop_assert_eq!(median5(&v), s[2]);
        }
    }
}
