//! The split statistics of the change-point search and the binary segmentation that uses them.
//!
//! The search works on the compact series of valid points (missing points dropped): times `t` (original
//! indices), deseasonalised winsorised values `y` (and `raw`, the same before winsorising), and clipped absolute
//! first differences `d` (`d[k] = |y[k] - y[k-1]|`, `d[0] = 0`). For a segment `[a, b)` and a split at `k` (the
//! first point of the new part), each kind of change gets a statistic that is χ²₁-distributed when there is no
//! change:
//!
//! - level: the least-squares line of the segment plus a step `1[t >= t_k]` (same slope on both sides); the
//!   statistic is the residual sum of squares it saves, `(z'My)² / z'Mz` (`M` removes the line, `z` is the
//!   step), divided by the segment's noise variance (from its mean `|Δ|`);
//! - trend: the same with a hinge `max(t - t_k + 1, 0)` instead of the step: a slope change without a jump;
//! - variance: the log ratio of the mean clipped `|Δ|` on both sides, squared, over its variance
//!   `D (1 / (n₁ - 1) + 1 / (n₂ - 1))` (delta method, [`ABS_DIFF_DISPERSION`]). Differences are blind to levels
//!   and trends, and the difference straddling the split is left out, so a jump does not look like a burst of
//!   noise. The position is chosen by the score form `(m₁ - m₂)² / (1 / (n₁ - 1) + 1 / (n₂ - 1))`, which needs no
//!   logarithm; the boundary is placed precisely later (`assess`).
//!
//! Every statistic at a position is O(1) from prefix sums. A segment is scanned at every [`STEP`]-th position,
//! then around the best coarse position of each kind: the statistics are smooth in the position except at a
//! jump, whose peak is many positions wide for any jump worth reporting, so this finds the same maxima at a
//! quarter of the cost.

use super::ChangeKind;

/// `Var(|Δ|) / E(|Δ|)²` of Gaussian noise (`π/2 - 1`), times 1.45 for the correlation of neighbouring absolute
/// differences (`corr(Δᵢ, Δᵢ₊₁) = -1/2` gives `corr(|Δᵢ|, |Δᵢ₊₁|) ≈ 0.224`).
pub(super) const ABS_DIFF_DISPERSION: f64 = 0.828;
/// `σ = E|Δ| √π / 2` for Gaussian noise, since `Δ ~ N(0, 2σ²)`.
pub(super) const MEAN_ABS_DIFF_TO_SIGMA: f64 = 0.886_226_925_452_758;
/// Stride of the coarse scan.
const STEP: usize = 4;

/// The compact series the search runs on; `t`, `raw` and `d` have the same length.
#[derive(Debug, Clone, Copy)]
pub(super) struct Series<'a> {
    pub t: &'a [f64],
    /// The values before winsorising (the prefix sums hold the winsorised ones).
    pub raw: &'a [f64],
    pub d: &'a [f64],
    /// `recip[k] = 1 / k` (`recip[0] = 0`), at least one longer than the series.
    pub recip: &'a [f64],
    /// Prefix sums of the series.
    pub sums: &'a Prefix,
    /// Lower bound of the noise variance (keeps noise-free data from dividing by zero).
    pub var_floor: f64,
}

/// Prefix sums of the compact series (`x[k]` = sum over the first `k` points), times measured from `origin` (the
/// middle of the series, which keeps the sums of squares small): `t`, `t²`, `y`, `ty` and `d`, each one longer
/// than the series. Differences of prefix sums lose about `1e-16 n³` in the sums of `t²`, harmless up to
/// hundreds of thousands of points.
#[derive(Debug, Default)]
pub(super) struct Prefix {
    pub origin: f64,
    pub t: Vec<f64>,
    pub tt: Vec<f64>,
    pub y: Vec<f64>,
    pub ty: Vec<f64>,
    pub d: Vec<f64>,
}

impl Prefix {
    /// Fills the sums for the compact series `t`, `y`, `d`.
    pub fn build(&mut self, t: &[f64], y: &[f64], d: &[f64]) {
        let origin = t.get(t.len() / 2).copied().unwrap_or(0.0);
        self.origin = origin;
        let len = t.len().min(y.len()).min(d.len()) + 1;
        let Prefix { t: pt, tt, y: py, ty, d: pd, .. } = self;
        for v in [&mut *pt, &mut *tt, &mut *py, &mut *ty, &mut *pd] {
            v.clear();
            v.resize(len, 0.0);
        }
        let (mut a_t, mut a_tt, mut a_y, mut a_ty, mut a_d) = (0.0, 0.0, 0.0, 0.0, 0.0);
        let points = t.iter().zip(y).zip(d);
        let sums = pt.iter_mut().zip(tt.iter_mut()).zip(py.iter_mut()).zip(ty.iter_mut()).zip(pd.iter_mut()).skip(1);
        for (((&tk, &yk), &dk), ((((s_t, s_tt), s_y), s_ty), s_d)) in points.zip(sums) {
            let u = tk - origin;
            a_t += u;
            a_tt += u * u;
            a_y += yk;
            a_ty += u * yk;
            a_d += dk;
            (*s_t, *s_tt, *s_y, *s_ty, *s_d) = (a_t, a_tt, a_y, a_ty, a_d);
        }
    }

    /// Sum of `d` over the points `a..b`.
    pub fn d(&self, a: usize, b: usize) -> Option<f64> {
        Some(self.d.get(b)? - self.d.get(a)?)
    }
}

/// The best split of one kind: position, χ² statistic and estimated effect (level: jump; trend: slope change per
/// index; variance: log ratio of the mean `|Δ|` after / before).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Candidate {
    pub at: usize,
    pub kind: ChangeKind,
    pub chi2: f64,
    pub effect: f64,
}

/// The best split of each kind in a segment, and the segment's noise variance.
#[derive(Debug, Clone, Copy)]
pub(super) struct Scan {
    pub candidates: [Candidate; 3],
    pub noise_var: f64,
}

impl Scan {
    /// The kind with the largest statistic.
    pub fn best(&self) -> Candidate {
        let [l, t, v] = self.candidates;
        let lt = if t.chi2 > l.chi2 { t } else { l };
        if v.chi2 > lt.chi2 { v } else { lt }
    }
}

/// One statistic at one position as `num / den` (`den > 0`; for the variance the score form), with the effect
/// as `effect_num / effect_den` (for the variance: the two sides' mean `|Δ|`).
#[derive(Debug, Clone, Copy)]
struct Stat {
    num: f64,
    den: f64,
    effect_num: f64,
    effect_den: f64,
}

/// A running best of a [`Stat`], compared by cross-multiplication.
#[derive(Debug, Clone, Copy)]
struct Best {
    stat: Stat,
    at: Option<usize>,
}

impl Best {
    const NONE: Best = Best { stat: Stat { num: 0.0, den: 1.0, effect_num: 0.0, effect_den: 1.0 }, at: None };

    fn offer(&mut self, stat: Stat, at: usize) {
        if stat.den > 0.0 && stat.num * self.stat.den > self.stat.num * stat.den {
            *self = Best { stat, at: Some(at) };
        }
    }
}

/// The per-segment constants of the statistics.
#[derive(Debug, Clone, Copy)]
struct Segment<'a> {
    s: &'a Series<'a>,
    a: usize,
    b: usize,
    n: f64,
    mean_t: f64,
    mean_y: f64,
    inv_stt: f64,
    beta: f64,
    /// Prefix sums at `b`: t, t², y, ty, d.
    end: [f64; 5],
    /// Prefix sum of `d` at `a + 1` (the differences inside the segment start there).
    d_start: f64,
    noise_var: f64,
}

impl<'a> Segment<'a> {
    fn new(s: &'a Series<'a>, a: usize, b: usize) -> Option<Self> {
        let p = s.sums;
        let at = |v: &[f64], k: usize| v.get(k).copied();
        let end = [at(&p.t, b)?, at(&p.tt, b)?, at(&p.y, b)?, at(&p.ty, b)?, at(&p.d, b)?];
        let (st, stt, sy, sty) =
            (end[0] - at(&p.t, a)?, end[1] - at(&p.tt, a)?, end[2] - at(&p.y, a)?, end[3] - at(&p.ty, a)?);
        let n = b.checked_sub(a).filter(|&n| n >= 4)? as f64;
        let (mean_t, mean_y) = (st / n, sy / n);
        let stt_c = stt - st * mean_t;
        if stt_c.is_nan() || stt_c <= 0.0 {
            return None;
        }
        let d_start = at(&p.d, a + 1)?;
        let sigma = (end[4] - d_start) / (n - 1.0) * MEAN_ABS_DIFF_TO_SIGMA;
        Some(Segment {
            s,
            a,
            b,
            n,
            mean_t,
            mean_y,
            inv_stt: 1.0 / stt_c,
            beta: (sty - st * mean_y) / stt_c,
            end,
            d_start,
            noise_var: (sigma * sigma).max(s.var_floor),
        })
    }

    /// The level, trend and variance (score form) statistics of a split at `k` (`a + 2 <= k <= b - 2`).
    #[inline(always)]
    fn stats(&self, k: usize) -> Option<[Stat; 3]> {
        let (s, p) = (self.s, self.s.sums);
        let at = |v: &[f64], k: usize| v.get(k).copied();
        let (rt, rtt) = (self.end[0] - at(&p.t, k)?, self.end[1] - at(&p.tt, k)?);
        let (ry, rty) = (self.end[2] - at(&p.y, k)?, self.end[3] - at(&p.ty, k)?);
        let (n, n2) = (self.n, (self.b - k) as f64);
        let n1 = n - n2;
        let zt = rt - n2 * self.mean_t;
        let zmz = n1 * n2 / n - zt * zt * self.inv_stt;
        let zmy = ry - n2 * self.mean_y - zt * self.beta;
        // Hinge h = t - v on the right part, v = t_k - 1 in the prefix sums' time.
        let v = at(s.t, k)? - 1.0 - p.origin;
        let (h1, h2) = (rt - n2 * v, rtt - 2.0 * v * rt + v * v * n2);
        let (hc_t, hc_y) = (rtt - v * rt - h1 * self.mean_t, rty - v * ry - h1 * self.mean_y);
        let hmh = h2 - h1 * h1 / n - hc_t * hc_t * self.inv_stt;
        let hmy = hc_y - hc_t * self.beta;
        let (r1, r2) = (at(s.recip, k.checked_sub(self.a + 1)?)?, at(s.recip, self.b.checked_sub(k + 1)?)?);
        let (m1, m2) = ((at(&p.d, k)? - self.d_start) * r1, (self.end[4] - at(&p.d, k + 1)?) * r2);
        let dm = m1 - m2;
        Some([
            Stat { num: zmy * zmy, den: zmz, effect_num: zmy, effect_den: zmz },
            Stat { num: hmy * hmy, den: hmh, effect_num: hmy, effect_den: hmh },
            Stat { num: dm * dm, den: r1 + r2, effect_num: m1, effect_den: m2 },
        ])
    }

    fn offer(&self, k: usize, best: &mut [Best; 3]) {
        if let Some(stats) = self.stats(k) {
            best.iter_mut().zip(stats).for_each(|(b, s)| b.offer(s, k));
        }
    }

    /// The candidate of one kind from its best position.
    fn candidate(&self, kind: ChangeKind, best: &Best) -> Candidate {
        let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
        let Some(at) = best.at else {
            return Candidate { at: self.a, kind, chi2: 0.0, effect: 0.0 };
        };
        let Stat { num, den, effect_num, effect_den } = best.stat;
        let (chi2, effect) = if kind == ChangeKind::Variance {
            let tiny = self.noise_var.sqrt() * 1e-6;
            let lr = fast_ln((effect_den + tiny) / (effect_num + tiny));
            (lr * lr / (ABS_DIFF_DISPERSION * den), lr)
        } else {
            (num / (den * self.noise_var), effect_num / effect_den)
        };
        Candidate { at, kind, chi2: finite(chi2), effect: finite(effect) }
    }
}

/// The best split of each kind of the segment `[a, b)` among the split positions `lo..=hi` (compact indices;
/// each side keeps at least two points), found coarse to fine (see the module docs). None if there is no such
/// position.
pub(super) fn scan(s: &Series, a: usize, b: usize, lo: usize, hi: usize) -> Option<Scan> {
    let seg = Segment::new(s, a, b)?;
    let (lo, hi) = (lo.max(a + 2), hi.min(b.checked_sub(2)?));
    if lo > hi {
        return None;
    }
    let mut best = [Best::NONE; 3];
    for k in (lo..=hi).step_by(STEP) {
        seg.offer(k, &mut best);
    }
    let coarse: [Option<usize>; 3] = [best[0].at, best[1].at, best[2].at];
    for c in coarse.into_iter().flatten() {
        for k in c.saturating_sub(STEP - 1).max(lo)..=(c + STEP - 1).min(hi) {
            if k != c {
                seg.offer(k, &mut best);
            }
        }
    }
    let kinds = [ChangeKind::Level, ChangeKind::Trend, ChangeKind::Variance];
    Some(Scan { candidates: [0, 1, 2].map(|i| seg.candidate(kinds[i], &best[i])), noise_var: seg.noise_var })
}

/// The three statistics of the split at `k` of the segment `[a, b)`.
pub(super) fn evaluate(s: &Series, a: usize, b: usize, k: usize) -> Option<Scan> {
    scan(s, a, b, k, k)
}

/// When a split is accepted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Penalty {
    /// The χ² statistic must exceed this.
    Chi2(f64),
    /// The saving (χ² times the segment's noise variance, the residual sum of squares saved when the noise is
    /// homoscedastic) must exceed this.
    Cost(f64),
}

/// Binary segmentation: splits `[0, len)` at the best position of the best kind while the split pays its
/// penalty and leaves at least `min_segment` points on each side. `splits` gets the accepted splits, unsorted.
pub(super) fn segment(
    s: &Series,
    min_segment: usize,
    penalty: Penalty,
    stack: &mut Vec<(usize, usize)>,
    splits: &mut Vec<Candidate>,
) {
    stack.clear();
    splits.clear();
    stack.push((0, s.t.len()));
    while let Some((a, b)) = stack.pop() {
        let (Some(lo), Some(hi)) = (a.checked_add(min_segment), b.checked_sub(min_segment)) else {
            continue;
        };
        if lo > hi {
            continue;
        }
        let Some(scan) = scan(s, a, b, lo, hi) else {
            continue;
        };
        let best = scan.best();
        let pays = match penalty {
            Penalty::Chi2(p) => best.chi2 > p,
            Penalty::Cost(p) => best.chi2 * scan.noise_var > p,
        };
        if pays && best.at > a && best.at < b {
            splits.push(best);
            stack.push((a, best.at));
            stack.push((best.at, b));
        }
    }
}

/// Natural logarithm, within 2e-5 for positive finite arguments (others are clamped into range), without a
/// library call: the binary exponent is split off and `ln(1 + f)`, `f ∈ [√½ - 1, √2 - 1)`, is a Taylor
/// polynomial. The statistics only rank and threshold values, so this is ample.
#[inline(always)]
pub(super) fn fast_ln(x: f64) -> f64 {
    const SQRT_HALF_BITS: i64 = 0x3FE6_A09E_667F_3BCD;
    let x = if x > f64::MIN_POSITIVE { x.min(f64::MAX) } else { f64::MIN_POSITIVE };
    let bits = x.to_bits() as i64;
    let k = bits.wrapping_sub(SQRT_HALF_BITS) >> 52;
    let m = f64::from_bits(bits.wrapping_sub(k.wrapping_shl(52)) as u64);
    let f = m - 1.0;
    let p = 1.0 / 9.0;
    let p = -1.0 / 8.0 + f * p;
    let p = 1.0 / 7.0 + f * p;
    let p = -1.0 / 6.0 + f * p;
    let p = 1.0 / 5.0 + f * p;
    let p = -1.0 / 4.0 + f * p;
    let p = 1.0 / 3.0 + f * p;
    let p = -1.0 / 2.0 + f * p;
    let p = 1.0 + f * p;
    k as f64 * std::f64::consts::LN_2 + f * p
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fast_ln_is_accurate() {
        use std::f64::consts::{FRAC_1_SQRT_2, SQRT_2};
        let edges = [FRAC_1_SQRT_2 - 1e-12, FRAC_1_SQRT_2 + 1e-12, SQRT_2 - 1e-12, SQRT_2 + 1e-12];
        for x in [1e-300, 1e-10, 0.3, 1.0, 2.0, 3.7, 1e10, 1e300].into_iter().chain(edges) {
            assert!((fast_ln(x) - x.ln()).abs() < 2e-5, "{x}: {} vs {}", fast_ln(x), x.ln());
        }
        for x in [0.0, -1.0, f64::NAN, f64::NEG_INFINITY, f64::INFINITY] {
            assert!(fast_ln(x).is_finite());
        }
    }

    /// Residual sum of squares of `y` regressed on the columns `x` (at most 3), by the normal equations.
    #[allow(clippy::needless_range_loop)] // Gaussian elimination reads best with indices.
    fn rss(x: &[Vec<f64>], y: &[f64]) -> f64 {
        let k = x.len();
        let mut m = vec![vec![0.0; k + 1]; k];
        for i in 0..k {
            for j in 0..k {
                m[i][j] = x[i].iter().zip(&x[j]).map(|(a, b)| a * b).sum();
            }
            m[i][k] = x[i].iter().zip(y).map(|(a, b)| a * b).sum();
        }
        for i in 0..k {
            for r in i + 1..k {
                let f = m[r][i] / m[i][i];
                for c in i..=k {
                    m[r][c] -= f * m[i][c];
                }
            }
        }
        let mut beta = vec![0.0; k];
        for i in (0..k).rev() {
            beta[i] = (m[i][k] - (i + 1..k).map(|c| m[i][c] * beta[c]).sum::<f64>()) / m[i][i];
        }
        y.iter().enumerate().map(|(p, v)| v - (0..k).map(|i| beta[i] * x[i][p]).sum::<f64>()).map(|r| r * r).sum()
    }

    fn series_of(t: &[f64], y: &[f64], sums: &mut Prefix, recip: &mut Vec<f64>) -> (Vec<f64>, f64) {
        let mut d = vec![0.0; y.len()];
        for k in 1..y.len() {
            d[k] = (y[k] - y[k - 1]).abs();
        }
        sums.build(t, y, &d);
        *recip = (0..=y.len()).map(|k| if k == 0 { 0.0 } else { 1.0 / k as f64 }).collect();
        (d, 1e-12)
    }

    /// The O(1) statistics equal the residual sums of squares saved in a direct regression.
    #[test]
    fn statistics_match_direct_regressions() {
        let t: Vec<f64> = (0..60).map(|i| (i + i / 7) as f64).collect(); // with gaps in time
        let y: Vec<f64> = t.iter().map(|&u| ((u * 0.37).sin() * 3.0 + (u * 1.3).cos()) + 0.05 * u).collect();
        let (mut sums, mut recip) = (Prefix::default(), Vec::new());
        let (d, var_floor) = series_of(&t, &y, &mut sums, &mut recip);
        let s = Series { t: &t, raw: &y, d: &d, recip: &recip, sums: &sums, var_floor };
        let (a, b) = (5, 50);
        let (ts, ys) = (&t[a..b], &y[a..b]);
        let ones = vec![1.0; b - a];
        let base = rss(&[ones.clone(), ts.to_vec()], ys);
        for (k, &tk) in t.iter().enumerate().take(b - 1).skip(a + 2) {
            let scan = evaluate(&s, a, b, k).expect("evaluable");
            let step: Vec<f64> = ts.iter().map(|&u| if u >= tk { 1.0 } else { 0.0 }).collect();
            let hinge: Vec<f64> = ts.iter().map(|&u| (u - tk + 1.0).max(0.0)).collect();
            let level = base - rss(&[ones.clone(), ts.to_vec(), step], ys);
            let trend = base - rss(&[ones.clone(), ts.to_vec(), hinge], ys);
            let [l, tr, _] = scan.candidates;
            assert!((l.chi2 * scan.noise_var - level).abs() < 1e-6 * (1.0 + level), "{k}: {} vs {level}", l.chi2);
            assert!((tr.chi2 * scan.noise_var - trend).abs() < 1e-6 * (1.0 + trend), "{k}: {} vs {trend}", tr.chi2);
        }
    }

    /// The coarse-to-fine scan finds the exact maximum of a clear change.
    #[test]
    fn scan_finds_the_exact_maximum() {
        let t: Vec<f64> = (0..300).map(f64::from).collect();
        for at in [40usize, 151, 262] {
            let wiggle = |i: usize| 0.05 * ((i * 7919) % 13) as f64;
            let step: Vec<f64> = (0..300).map(|i| wiggle(i) + if i >= at { 1.0 } else { 0.0 }).collect();
            let (mut sums, mut recip) = (Prefix::default(), Vec::new());
            let (d, var_floor) = series_of(&t, &step, &mut sums, &mut recip);
            let s = Series { t: &t, raw: &step, d: &d, recip: &recip, sums: &sums, var_floor };
            let best = scan(&s, 0, 300, 12, 288).expect("scan").best();
            assert_eq!((best.at, best.kind), (at, ChangeKind::Level));
            let exhaustive =
                (12..=288).filter_map(|k| evaluate(&s, 0, 300, k)).map(|e| e.candidates[0].chi2).fold(0.0, f64::max);
            assert!((best.chi2 - exhaustive).abs() < 1e-9 * exhaustive);
        }
    }

    proptest! {
        #[test]
        fn fast_ln_matches_ln(x in 1e-300f64..1e300) {
            prop_assert!((fast_ln(x) - x.ln()).abs() < 2e-5);
        }
    }
}
