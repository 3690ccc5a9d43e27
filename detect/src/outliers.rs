//! Outlier scoring with Tukey-style percentile fences (ADX `series_outliers`).
//!
//! The fences are two percentiles `P_lo`, `P_hi` of the series (linear interpolation between
//! closest ranks, numpy's `'linear'`; see [`crate::percentile_sorted`]). A point above
//! `P_hi` scores `(x - P_hi) / (P_hi - P_lo) * K`, a point below `P_lo` scores
//! `(x - P_lo) / (P_hi - P_lo) * K`, anything in between scores 0, with `K = 2.7726055`.
//! This reproduces ADX's documented example to 1e-7 (see the tests); `K` is the empirical
//! constant implied by that example.

use crate::stats::select_two_percentiles;

/// Scale factor applied to the fence distance, recovered from ADX's documented example.
pub const ADX_OUTLIER_SCALE: f64 = 2.7726055;

/// Which percentiles make the fences.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OutlierTest {
    /// ADX `ctukey`: custom percentiles (ADX default 10 and 90).
    Ctukey {
        /// Lower percentile in `[0, 100]`.
        low: f64,
        /// Upper percentile in `[0, 100]`.
        high: f64,
    },
    /// Classic Tukey: the 25th and 75th percentiles, with ADX's score formula.
    Tukey,
}

impl Default for OutlierTest {
    fn default() -> Self {
        OutlierTest::Ctukey { low: 10.0, high: 90.0 }
    }
}

impl OutlierTest {
    /// The `(low, high)` percentiles, sanitised: NaN falls back to ADX's 10/90, values are
    /// clamped to `[0, 100]` and swapped if given in the wrong order, so no user input can
    /// make the fences meaningless.
    pub fn percentiles(&self) -> (f64, f64) {
        let (lo, hi) = match *self {
            OutlierTest::Tukey => (25.0, 75.0),
            OutlierTest::Ctukey { low, high } => (
                if low.is_nan() { 10.0 } else { low.clamp(0.0, 100.0) },
                if high.is_nan() { 90.0 } else { high.clamp(0.0, 100.0) },
            ),
        };
        if lo <= hi { (lo, hi) } else { (hi, lo) }
    }
}

/// The `(P_lo, P_hi)` fences of the non-NaN values, or None if there is no such value.
/// Uses `scratch` for two linear-time selections (no sort, no allocation once warm).
pub fn outlier_fences(values: &[f64], test: OutlierTest, scratch: &mut Vec<f64>) -> Option<(f64, f64)> {
    // Branch-free compaction of the non-NaN values (NaN is rare but unpredictable).
    scratch.clear();
    scratch.resize(values.len(), 0.0);
    let mut kept = 0;
    for &v in values {
        if let Some(slot) = scratch.get_mut(kept) {
            *slot = v;
        }
        kept += usize::from(!v.is_nan());
    }
    scratch.truncate(kept);
    if scratch.is_empty() {
        return None;
    }
    let (p_lo, p_hi) = test.percentiles();
    Some(select_two_percentiles(scratch, p_lo, p_hi))
}

/// Score of one value against fences `(lo, hi)`. Never NaN: a NaN input, degenerate fences
/// (`hi <= lo`, e.g. a constant series) or an undefined quotient (`inf / inf`) all score 0.
/// An infinite input beyond finite fences scores ±inf, which still compares correctly
/// against any flag threshold.
pub fn outlier_score(x: f64, lo: f64, hi: f64) -> f64 {
    let range = hi - lo;
    if x.is_nan() || range.is_nan() || range <= 0.0 {
        return 0.0;
    }
    let s = if x > hi {
        (x - hi) / range * ADX_OUTLIER_SCALE
    } else if x < lo {
        (x - lo) / range * ADX_OUTLIER_SCALE
    } else {
        0.0
    };
    if s.is_nan() { 0.0 } else { s }
}

/// Scores every value against fixed fences `(lo, hi)` (see [`outlier_score`]) into the
/// matching slots of `scores`. Shorter of the two lengths wins.
pub fn score_with_fences(values: &[f64], lo: f64, hi: f64, scores: &mut [f64]) {
    let range = hi - lo;
    if lo.is_finite() && hi.is_finite() && range.is_finite() && range > 0.0 {
        // Common case, written without branches so it vectorises: at most one of the two
        // terms is non-zero, and a NaN input fails both comparisons and scores 0.
        let factor = ADX_OUTLIER_SCALE / range;
        for (s, &x) in scores.iter_mut().zip(values) {
            let (above, below) = (x - hi, x - lo);
            let above = if above > 0.0 { above } else { 0.0 };
            let below = if below < 0.0 { below } else { 0.0 };
            *s = (above + below) * factor;
        }
    } else {
        for (s, &x) in scores.iter_mut().zip(values) {
            *s = outlier_score(x, lo, hi);
        }
    }
}

/// ADX `series_outliers`: writes the score of every value into `scores`.
///
/// The fences are computed from all non-NaN values with `test`'s percentiles; see the
/// module docs for the formula. NaN inputs score 0, and every score is 0 when the fences
/// coincide. `scores` should have the length of `values`; if it is longer the surplus is set
/// to 0, if shorter only its length is written (this function never panics).
pub fn series_outliers(values: &[f64], test: OutlierTest, scores: &mut [f64], scratch: &mut Vec<f64>) {
    let (lo, hi) = outlier_fences(values, test, scratch).unwrap_or((0.0, 0.0));
    score_with_fences(values, lo, hi, scores);
    if let Some(rest) = scores.get_mut(values.len()..) {
        rest.fill(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reproduces_adx_documented_example() {
        let x = [-3.0, 2.4, 15.0, 3.9, 5.0, 6.0, 4.5, 5.2, 3.0, 4.0, 5.0, 16.0, 7.0, 5.0, 5.0, 4.0];
        let want =
            [-1.9040785, -0.1002147, 1.3361954, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.6702443, 0.0, 0.0, 0.0, 0.0];
        let mut scores = [f64::NAN; 16];
        let mut scratch = Vec::new();
        series_outliers(&x, OutlierTest::default(), &mut scores, &mut scratch);
        for (got, want) in scores.iter().zip(want) {
            assert!((got - want).abs() < 1e-6, "got {got}, want {want}");
        }
        // The fences are numpy-'linear' percentiles: P10 = 2.7, P90 = 11.
        let (lo, hi) = outlier_fences(&x, OutlierTest::default(), &mut scratch).expect("fences");
        assert!((lo - 2.7).abs() < 1e-12 && (hi - 11.0).abs() < 1e-12);
    }

    #[test]
    fn tukey_uses_quartiles() {
        let x: Vec<f64> = (0..101).map(f64::from).collect();
        let mut scratch = Vec::new();
        let (lo, hi) = outlier_fences(&x, OutlierTest::Tukey, &mut scratch).expect("fences");
        assert_eq!((lo, hi), (25.0, 75.0));
        assert!((outlier_score(125.0, lo, hi) - ADX_OUTLIER_SCALE).abs() < 1e-12);
        assert!((outlier_score(0.0, lo, hi) + 0.5 * ADX_OUTLIER_SCALE).abs() < 1e-12);
    }

    #[test]
    fn constant_and_degenerate_inputs_score_zero() {
        let mut scratch = Vec::new();
        let mut scores = [1.0; 5];
        series_outliers(&[3.0; 5], OutlierTest::default(), &mut scores, &mut scratch);
        assert_eq!(scores, [0.0; 5]);
        let mut scores = [1.0; 3];
        series_outliers(&[f64::NAN; 3], OutlierTest::default(), &mut scores, &mut scratch);
        assert_eq!(scores, [0.0; 3]);
        // Mismatched output length: surplus zeroed, no panic.
        let mut scores = [1.0; 4];
        series_outliers(&[1.0, 2.0], OutlierTest::Tukey, &mut scores, &mut scratch);
        assert_eq!(&scores[2..], &[0.0, 0.0]);
        series_outliers(&[1.0, 2.0, 3.0], OutlierTest::Tukey, &mut [], &mut scratch);
    }

    #[test]
    fn bad_percentiles_are_sanitised() {
        let t = OutlierTest::Ctukey { low: f64::NAN, high: 150.0 };
        assert_eq!(t.percentiles(), (10.0, 100.0));
        let t = OutlierTest::Ctukey { low: 80.0, high: 20.0 };
        assert_eq!(t.percentiles(), (20.0, 80.0));
    }

    fn any_f64() -> impl Strategy<Value = f64> {
        prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(1e300),
            Just(-1e300),
            Just(f64::MAX),
            -1e3f64..1e3,
        ]
    }

    proptest! {
        #[test]
        fn never_panics_and_nan_scores_zero(v in proptest::collection::vec(any_f64(), 0..300)) {
            let mut scores = vec![f64::NAN; v.len()];
            let mut scratch = Vec::new();
            series_outliers(&v, OutlierTest::default(), &mut scores, &mut scratch);
            for (s, x) in scores.iter().zip(&v) {
                prop_assert!(!s.is_nan());
                if x.is_nan() {
                    prop_assert_eq!(*s, 0.0);
                }
            }
        }
    }
}
