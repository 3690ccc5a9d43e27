//! Linear filters (ADX `series_fir` and `series_iir`).
//!
//! `series_fir(x, filter, normalize, center)` is the finite impulse response filter
//! `y_i = sum_k filter[k] * x[i - k]`: `filter[0]` weighs the current point and `filter[k]`
//! the point `k` bins earlier, which is what makes ADX's documented `[1, -1]` "the difference
//! between a point and its preceding one". With `center` the window is moved forward by
//! `(len - 1) / 2` bins (rounded down for even lengths), so a symmetric filter no longer
//! delays the series: ADX's 5-point moving average `[1, 1, 1, 1, 1]` shifts a spike by 2 bins
//! with `center = false` and keeps it in place with `center = true`.
//!
//! `normalize` divides the coefficients by their sum. ADX's default is true unless a
//! coefficient is negative ([`fir_default_normalize`]); normalising a filter that has a
//! negative coefficient gives null in ADX, here NaN for every point, and so does a zero sum.
//!
//! `series_iir(x, numerator, denominator)` is the direct-form recursion ADX documents,
//! `y_i = (sum_k b_k x_{i-k} - sum_{k>=1} a_k y_{i-k}) / a_0` with `b` the numerator and `a`
//! the denominator: `b = [1]`, `a = [1, -1]` is the running sum. `a_0` must be a finite
//! non-zero number (ADX forbids 0); otherwise, or with an empty coefficient array, every
//! output is NaN.
//!
//! Choices where ADX's documentation is silent:
//! - values before the start (and, for a centred FIR, after the end) of the series count as
//!   0: the filters start at rest, as the IIR running-sum example requires, so a causal
//!   moving average ramps up over its first `len - 1` points;
//! - a missing (NaN) value propagates, by ordinary arithmetic, to every output whose window
//!   holds it, and through the recursion to every later IIR output: fill gaps first (see
//!   [`fill_gaps`](crate::fill_gaps)) when that is not wanted;
//! - `out` should have the input's length; surplus slots are set to NaN, and a shorter
//!   buffer gets only its length written.
//!
//! Both run in O(len * taps) with no allocation. Normalised FIR weights sum to 1, so a
//! normalised filter cannot overflow on finite input.

/// ADX's default for `series_fir`'s `normalize`: true unless a coefficient is negative.
pub fn fir_default_normalize(filter: &[f64]) -> bool {
    !filter.iter().any(|&c| c < 0.0)
}

/// ADX `series_fir`: writes the filtered series into `out` (see the module docs).
pub fn series_fir(values: &[f64], filter: &[f64], normalize: bool, center: bool, out: &mut [f64]) {
    let n = values.len();
    if let Some(rest) = out.get_mut(n..) {
        rest.fill(f64::NAN);
    }
    let m = filter.len();
    let gain = if normalize {
        let sum: f64 = filter.iter().sum();
        if fir_default_normalize(filter) && sum != 0.0 { 1.0 / sum } else { f64::NAN }
    } else {
        1.0
    };
    if m == 0 || gain.is_nan() {
        out.iter_mut().take(n).for_each(|y| *y = f64::NAN);
        return;
    }
    let shift = if center { (m - 1) / 2 } else { 0 };
    // y_i = sum_k f[k] x[i + shift - k] over the k that land inside the series, computed a
    // block of outputs at a time, one tap after the other: each tap is a multiply-add over
    // contiguous slices, which vectorises, and the block stays in cache across taps. The
    // taps are added in the same order as a direct sum, so the result is the same.
    let len = n.min(out.len());
    let out = &mut out[..len];
    for (b, block) in out.chunks_mut(FIR_BLOCK).enumerate() {
        let start = b * FIR_BLOCK;
        block.fill(0.0);
        for (k, &c) in filter.iter().enumerate() {
            let w = c * gain;
            // Outputs i with 0 <= i + shift - k < n.
            let lo = k.saturating_sub(shift).max(start);
            let hi = (n + k).saturating_sub(shift).min(start + block.len());
            if lo >= hi {
                continue;
            }
            let (Some(ys), Some(xs)) =
                (block.get_mut(lo - start..hi - start), values.get(lo + shift - k..hi + shift - k))
            else {
                continue;
            };
            for (y, &x) in ys.iter_mut().zip(xs) {
                *y += w * x;
            }
        }
    }
}

/// Outputs per block of [`series_fir`].
const FIR_BLOCK: usize = 2048;

/// ADX `series_iir`: writes the filtered series into `out` (see the module docs).
pub fn series_iir(values: &[f64], numerator: &[f64], denominator: &[f64], out: &mut [f64]) {
    let n = values.len();
    if let Some(rest) = out.get_mut(n..) {
        rest.fill(f64::NAN);
    }
    let len = n.min(out.len());
    let out = &mut out[..len];
    let a0 = denominator.first().copied().unwrap_or(0.0);
    if numerator.is_empty() || !a0.is_finite() || a0 == 0.0 {
        out.fill(f64::NAN);
        return;
    }
    let feedback = denominator.get(1..).unwrap_or(&[]);
    for i in 0..len {
        let mut acc = 0.0;
        // Feed-forward: b_k x_{i-k}; the taps past the start of the series see zeros.
        let taps = numerator.get(..=i.min(numerator.len() - 1)).unwrap_or(&[]);
        let xs = values.get(i + 1 - taps.len()..=i).unwrap_or(&[]);
        for (&b, &x) in taps.iter().zip(xs.iter().rev()) {
            acc += b * x;
        }
        // Feedback: a_k y_{i-k} for k >= 1.
        let (done, _) = out.split_at(i);
        for (&a, &y) in feedback.iter().zip(done.iter().rev()) {
            acc -= a * y;
        }
        out[i] = acc / a0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fir(x: &[f64], f: &[f64], normalize: bool, center: bool) -> Vec<f64> {
        let mut out = vec![0.0; x.len()];
        series_fir(x, f, normalize, center, &mut out);
        out
    }

    fn iir(x: &[f64], b: &[f64], a: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; x.len()];
        series_iir(x, b, a, &mut out);
        out
    }

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x.is_nan() && y.is_nan()) || (x - y).abs() < 1e-9)
    }

    /// ADX's documented spike example.
    const SPIKE: [f64; 24] = [
        0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 10.0, 20.0, 40.0, 100.0, 40.0, 20.0, 10.0, 0.0, 0.0, 0.0, 0.0,
        0.0, 0.0, 0.0, 0.0,
    ];

    #[test]
    fn adx_moving_average_example() {
        let ma = [1.0; 5];
        assert!(fir_default_normalize(&ma));
        let causal = fir(&SPIKE, &ma, true, false);
        let centred = fir(&SPIKE, &ma, true, true);
        let mut want = [0.0; 24];
        for (i, w) in want.iter_mut().enumerate() {
            *w = (i.saturating_sub(4)..=i).map(|j| SPIKE[j]).sum::<f64>() / 5.0;
        }
        assert!(close(&causal, &want), "{causal:?}");
        // The spike (index 12) peaks 2 bins late without centring, in place with it.
        let argmax = |v: &[f64]| v.iter().enumerate().fold(0, |b, (i, &x)| if x > v[b] { i } else { b });
        assert_eq!(argmax(&causal), 14);
        assert_eq!(argmax(&centred), 12);
        assert!((centred[12] - 44.0).abs() < 1e-12);
        assert!((centred[10] - (10.0 + 20.0 + 40.0 + 100.0) / 5.0).abs() < 1e-12);
        for i in 0..22 {
            assert!((centred[i] - causal[i + 2]).abs() < 1e-12);
        }
        // Past the end the window holds zeros.
        assert!((centred[23] - 0.0).abs() < 1e-12);
    }

    #[test]
    fn adx_difference_example() {
        let x = [0.0, 0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0, 3.0];
        assert!(!fir_default_normalize(&[1.0, -1.0]));
        let d = fir(&x, &[1.0, -1.0], false, false);
        assert!(close(&d, &[0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]));
        // Normalising a filter with a negative coefficient is null in ADX.
        assert!(fir(&x, &[1.0, -1.0], true, false).iter().all(|v| v.is_nan()));
    }

    #[test]
    fn fir_hand_computed() {
        let x = [1.0, 2.0, 3.0, 4.0];
        // y_i = 2 x_i + x_{i-1}, starting at rest.
        assert!(close(&fir(&x, &[2.0, 1.0], false, false), &[2.0, 5.0, 8.0, 11.0]));
        assert!(close(&fir(&x, &[2.0, 1.0], true, false), &[2.0 / 3.0, 5.0 / 3.0, 8.0 / 3.0, 11.0 / 3.0]));
        // Even length, centred: window i-2..=i+1 ((4 - 1) / 2 = 1 bin forward).
        assert!(close(&fir(&x, &[1.0; 4], false, true), &[3.0, 6.0, 10.0, 9.0]));
        // Centred 3-point filter: y_i = x_{i+1} - x_{i-1}.
        assert!(close(&fir(&x, &[1.0, 0.0, -1.0], false, true), &[2.0, 2.0, 2.0, -3.0]));
        // A filter longer than the series.
        assert!(close(&fir(&[1.0, 1.0], &[1.0; 5], false, false), &[1.0, 2.0]));
        assert!(close(&fir(&[1.0, 1.0], &[1.0; 5], false, true), &[2.0, 2.0]));
        // NaN propagates to the windows that hold it.
        let y = fir(&[1.0, f64::NAN, 1.0, 1.0, 1.0], &[1.0, 1.0], false, false);
        assert!(close(&y, &[1.0, f64::NAN, f64::NAN, 2.0, 2.0]));
        // No filter, zero sum, and buffer length mismatches.
        assert!(fir(&x, &[], false, false).iter().all(|v| v.is_nan()));
        assert!(fir(&x, &[0.0, 0.0], true, false).iter().all(|v| v.is_nan()));
        let mut long = [0.0; 6];
        series_fir(&x, &[1.0], true, false, &mut long);
        assert!(close(&long, &[1.0, 2.0, 3.0, 4.0, f64::NAN, f64::NAN]));
        let mut short = [0.0; 2];
        series_fir(&x, &[1.0], true, false, &mut short);
        assert_eq!(short, [1.0, 2.0]);
    }

    /// Direct evaluation of the defining sum, for reference.
    fn naive_fir(x: &[f64], f: &[f64], center: bool) -> Vec<f64> {
        let shift = if center { (f.len() - 1) / 2 } else { 0 };
        (0..x.len())
            .map(|i| {
                let mut acc = 0.0;
                for (k, &c) in f.iter().enumerate() {
                    let j = (i + shift).checked_sub(k);
                    if let Some(&v) = j.and_then(|j| x.get(j)) {
                        acc += c * v;
                    }
                }
                acc
            })
            .collect()
    }

    #[test]
    fn blocked_evaluation_matches_direct_sum_across_blocks() {
        let x: Vec<f64> = (0..2 * FIR_BLOCK + 77).map(|i| ((i * 7919) % 1000) as f64 - 500.0).collect();
        let f = [0.5, -1.0, 2.0, 0.0, 3.0, 1.5, -0.25];
        for center in [false, true] {
            assert_eq!(fir(&x, &f, false, center), naive_fir(&x, &f, center));
        }
    }

    #[test]
    fn normalised_filter_does_not_overflow() {
        let x = [f64::MAX; 6];
        let y = fir(&x, &[1.0, 1.0, 1.0], true, true);
        assert!(y[1..5].iter().all(|v| v.is_finite() && *v > 1.7e308), "{y:?}");
    }

    #[test]
    fn adx_cumulative_sum_example() {
        let x: Vec<f64> = (1..=10).map(f64::from).collect();
        let y = iir(&x, &[1.0], &[1.0, -1.0]);
        let want: Vec<f64> = (1..=10).map(|k| f64::from(k * (k + 1) / 2)).collect();
        assert!(close(&y, &want), "{y:?}");
        // ADX's vector_sum example: the last running sum of [0, 1, 2, 3, 4] is 10.
        assert_eq!(iir(&[0.0, 1.0, 2.0, 3.0, 4.0], &[1.0], &[1.0, -1.0]).last(), Some(&10.0));
    }

    #[test]
    fn iir_hand_computed() {
        let x = [1.0, 0.0, 0.0, 0.0, 2.0];
        // Exponential smoothing y_i = 0.5 x_i + 0.5 y_{i-1}, with a_0 = 2 normalising.
        let y = iir(&x, &[1.0], &[2.0, -1.0]);
        assert!(close(&y, &[0.5, 0.25, 0.125, 0.0625, 1.03125]));
        // Pure FIR through the IIR form: y_i = x_i + 3 x_{i-1}.
        assert!(close(&iir(&x, &[1.0, 3.0], &[1.0]), &fir(&x, &[1.0, 3.0], false, false)));
        // y_i = x_i - x_{i-2} + 0.5 y_{i-1} - 0.25 y_{i-2}.
        let y = iir(&[1.0, 2.0, 3.0], &[1.0, 0.0, -1.0], &[1.0, -0.5, 0.25]);
        assert!(close(&y, &[1.0, 2.5, 3.0 - 1.0 + 1.25 - 0.25]));
        // Invalid denominators, empty numerator.
        for (b, a) in [(&[1.0][..], &[0.0, 1.0][..]), (&[1.0], &[]), (&[], &[1.0]), (&[1.0], &[f64::NAN])] {
            assert!(iir(&x, b, a).iter().all(|v| v.is_nan()));
        }
        // A gap poisons every later output of a recursive filter.
        let y = iir(&[1.0, f64::NAN, 1.0], &[1.0], &[1.0, -1.0]);
        assert!(close(&y, &[1.0, f64::NAN, f64::NAN]));
        let mut long = [0.0; 4];
        series_iir(&[1.0, 2.0], &[1.0], &[1.0, -1.0], &mut long);
        assert!(close(&long, &[1.0, 3.0, f64::NAN, f64::NAN]));
    }

    fn any_f64() -> impl Strategy<Value = f64> {
        prop_oneof![
            4 => -1e3f64..1e3,
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(-1e300),
            1 => proptest::num::f64::ANY,
        ]
    }

    proptest! {
        #[test]
        fn filters_never_panic(
            x in proptest::collection::vec(any_f64(), 0..100),
            f in proptest::collection::vec(any_f64(), 0..12),
            a in proptest::collection::vec(any_f64(), 0..6),
            normalize: bool,
            center: bool,
            out_len in 0usize..120,
        ) {
            let mut out = vec![0.0; out_len];
            series_fir(&x, &f, normalize, center, &mut out);
            series_iir(&x, &f, &a, &mut out);
            prop_assert_eq!(out.len(), out_len);
        }

        #[test]
        fn matches_direct_sum(
            x in proptest::collection::vec(-1e3f64..1e3, 0..80),
            f in proptest::collection::vec(-10.0f64..10.0, 1..12),
            center: bool,
        ) {
            prop_assert_eq!(fir(&x, &f, false, center), naive_fir(&x, &f, center));
        }

        #[test]
        fn centred_is_causal_shifted(
            x in proptest::collection::vec(-1e3f64..1e3, 0..60),
            f in proptest::collection::vec(0.0f64..10.0, 1..9),
        ) {
            let causal = fir(&x, &f, false, false);
            let centred = fir(&x, &f, false, true);
            let shift = (f.len() - 1) / 2;
            for i in 0..x.len().saturating_sub(shift) {
                prop_assert!((centred[i] - causal[i + shift]).abs() < 1e-9 * (1.0 + causal[i + shift].abs()));
            }
        }

        #[test]
        fn normalised_moving_average_stays_in_range(
            x in proptest::collection::vec(-1e3f64..1e3, 1..60),
            w in 1usize..8,
        ) {
            // With zeros outside the series, the output lies within [min(x, 0), max(x, 0)].
            let lo = x.iter().fold(0.0f64, |m, &v| m.min(v)) - 1e-9;
            let hi = x.iter().fold(0.0f64, |m, &v| m.max(v)) + 1e-9;
            for y in fir(&x, &vec![1.0; w], true, true) {
                prop_assert!(y >= lo && y <= hi);
            }
        }
    }
}
