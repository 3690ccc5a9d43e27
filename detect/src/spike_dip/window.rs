//! Trailing-window order statistics and a robust location/scale built on them.
//!
//! Short windows are kept as a sorted vector (insertion and removal move at most the
//! window's length, which for a few hundred points is a fast `memmove`); long ones go to the
//! Fenwick [`RankTree`]. Both give percentiles with the exact definition and arithmetic of
//! [`percentile_sorted`], so a point scored from a sliding window gets bit-for-bit the
//! score it gets when its window is collected and sorted from scratch (which is what the
//! causal mode does for the newest point).

use crate::detector::rank::RankTree;
use crate::stats::percentile_sorted;

/// Gaussian σ per interquartile range.
const IQR_TO_SIGMA: f64 = 1.0 / 1.348_979_500_392_163;
/// Gaussian σ per 10-90 percentile range.
const DECILE_RANGE_TO_SIGMA: f64 = 1.0 / 2.563_103_131_089_2;

/// Something that answers percentile queries with [`percentile_sorted`]'s definition.
pub(crate) trait Quantiles {
    /// Number of values.
    fn count(&self) -> usize;
    /// Percentile `p` (NaN if empty).
    fn percentile(&self, p: f64) -> f64;
}

impl Quantiles for [f64] {
    fn count(&self) -> usize {
        self.len()
    }
    fn percentile(&self, p: f64) -> f64 {
        percentile_sorted(self, p)
    }
}

impl Quantiles for RankTree {
    fn count(&self) -> usize {
        self.len()
    }
    fn percentile(&self, p: f64) -> f64 {
        RankTree::percentile(self, p)
    }
}

/// A sorted multiset of recent values (NaN never enters).
#[derive(Debug, Default)]
pub(crate) struct SortedWindow {
    sorted: Vec<f64>,
}

impl SortedWindow {
    pub(crate) fn clear(&mut self) {
        self.sorted.clear();
    }

    pub(crate) fn insert(&mut self, v: f64) {
        if !v.is_nan() {
            let at = self.position(v);
            self.sorted.insert(at, v);
        }
    }

    /// Removes one copy of `v` (or of a value comparing equal, such as `-0.0` for `0.0`), if
    /// present.
    pub(crate) fn remove(&mut self, v: f64) {
        let at = self.position(v);
        if self.sorted.get(at).is_some_and(|&x| x == v) {
            self.sorted.remove(at);
        }
    }

    /// The first position whose value is not below `v`: a branch-free binary search
    /// (halving a base pointer) with plain comparisons (the window holds no NaN), which is
    /// what a window of a few hundred values spends its time in.
    fn position(&self, v: f64) -> usize {
        let s = &self.sorted;
        let mut base = 0;
        let mut size = s.len();
        while size > 1 {
            let half = size / 2;
            // Arithmetic rather than a branch: which way it goes is a coin toss.
            base += half * usize::from(s[base + half - 1] < v);
            size -= half;
        }
        base + usize::from(s.get(base).is_some_and(|&x| x < v))
    }

    pub(crate) fn as_slice(&self) -> &[f64] {
        &self.sorted
    }
}

/// Robust `(location, scale)` of a window: the median, and the interquartile range scaled to
/// a Gaussian σ; if the quartiles coincide, the 10-90 range, then the full range / 6, so a
/// window with a few distinct values still has a scale. Scale 0 only for a constant window;
/// `(NaN, 0)` for an empty one.
pub(crate) fn location_scale<Q: Quantiles + ?Sized>(q: &Q) -> (f64, f64) {
    if q.count() == 0 {
        return (f64::NAN, 0.0);
    }
    let median = q.percentile(50.0);
    let spread = |lo: f64, hi: f64, factor: f64| {
        let d = (q.percentile(hi) - q.percentile(lo)) * factor;
        if d.is_finite() && d > 0.0 { Some(d) } else { None }
    };
    let scale = spread(25.0, 75.0, IQR_TO_SIGMA)
        .or_else(|| spread(10.0, 90.0, DECILE_RANGE_TO_SIGMA))
        .or_else(|| spread(0.0, 100.0, 1.0 / 6.0))
        .unwrap_or(0.0);
    (median, scale)
}

/// Robust z-score of `x` against `(location, scale)`: `(x - location) / scale`; ±inf for a
/// deviation from a constant window, 0 for no deviation or unknown location.
pub(crate) fn robust_z(x: f64, location: f64, scale: f64) -> f64 {
    let d = x - location;
    if d.is_nan() || d == 0.0 {
        return 0.0;
    }
    let z = if scale > 0.0 { d / scale } else { d.signum() * f64::INFINITY };
    if z.is_nan() { 0.0 } else { z }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_window_tracks_a_multiset() {
        let mut w = SortedWindow::default();
        for v in [3.0, 1.0, f64::NAN, 2.0, 2.0] {
            w.insert(v);
        }
        assert_eq!(w.as_slice(), &[1.0, 2.0, 2.0, 3.0]);
        w.remove(2.0);
        w.remove(7.0);
        assert_eq!(w.as_slice(), &[1.0, 2.0, 3.0]);
        let (loc, scale) = location_scale(w.as_slice());
        assert_eq!(loc, 2.0);
        assert!((scale - 1.0 / 1.348_979_500_392_163).abs() < 1e-12);
        w.clear();
        let (l, s) = location_scale(w.as_slice());
        assert!(l.is_nan() && s == 0.0);
    }

    #[test]
    fn scale_falls_back_for_lumpy_windows() {
        let mostly_zero = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0];
        let (loc, scale) = location_scale(&mostly_zero[..]);
        assert_eq!(loc, 0.0);
        assert!((scale - 0.1 * DECILE_RANGE_TO_SIGMA).abs() < 1e-12 || scale == 1.0 / 6.0, "{scale}");
        assert_eq!(location_scale(&[5.0; 4][..]), (5.0, 0.0));
        assert_eq!(robust_z(6.0, 5.0, 0.0), f64::INFINITY);
        assert_eq!(robust_z(5.0, 5.0, 0.0), 0.0);
        assert_eq!(robust_z(f64::NAN, 5.0, 1.0), 0.0);
        assert_eq!(robust_z(f64::INFINITY, f64::INFINITY, 1.0), 0.0);
    }
}
