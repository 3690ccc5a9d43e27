//! FFT-based auto- and cross-correlation of real series, for period detection.
//!
//! A real series of length `N` is packed into a complex one of length `N/2` (even samples
//! in the real part, odd ones in the imaginary part), transformed with [`Fft`], and
//! unpacked; the inverse goes the same way back, which halves the work of a plain complex
//! transform. Buffers and plans only grow, so after the first call for a size no call
//! allocates.

use crate::fft::Fft;
use std::f64::consts::PI;

/// Linear (non-circular) auto- and cross-correlation of real series, with reusable
/// buffers.
#[derive(Debug, Default, Clone)]
pub struct AutoCorrelation {
    fft: Fft,
    /// Full-size plan for [`AutoCorrelation::cross`].
    full: Fft,
    re: Vec<f64>,
    im: Vec<f64>,
    /// Output buffers of the packed power spectrum, filled in bit-reversed order.
    re2: Vec<f64>,
    im2: Vec<f64>,
    /// `e^{-2 pi i k / N}` for `k in 0..=N/2`, `N` the real transform size.
    w_re: Vec<f64>,
    w_im: Vec<f64>,
}

impl AutoCorrelation {
    /// Writes `out[k] = sum_i x[i] * x[i + k]` for `k in 0..=max_lag` (`max_lag` clamped to
    /// `x.len() - 1`); `out` is emptied for an empty `x`. O(n log n); no allocation once the
    /// buffers have grown to the size needed.
    pub fn compute(&mut self, x: &[f64], max_lag: usize, out: &mut Vec<f64>) {
        out.clear();
        let n = x.len();
        if n == 0 {
            return;
        }
        let max_lag = max_lag.min(n - 1);
        let Some(size) = transform_size(n, max_lag) else {
            return;
        };
        let m = size / 2;
        if !self.plan(size) {
            return;
        }
        let rev = self.fft.bit_reversal();
        if rev.len() != m {
            return;
        }
        let (re, im) = (&mut self.re, &mut self.im);
        re.clear();
        im.clear();
        re.resize(m, 0.0);
        im.resize(m, 0.0);
        // Pack even samples into the real part and odd ones into the imaginary part,
        // scattered straight into bit-reversed order.
        let pairs = x.chunks_exact(2);
        if let ([last], Some(&j)) = (pairs.remainder(), rev.get(n / 2)) {
            re[j] = *last;
        }
        for (pair, &j) in pairs.zip(rev) {
            re[j] = pair[0];
            im[j] = pair[1];
        }
        self.fft.forward_bit_reversed(re, im);

        // Go from Z (the packed spectrum) to the packed power spectrum in one sweep over the
        // bin pairs (k, m - k). With E = (Z[k] + conj Z[m-k]) / 2,
        // O = (Z[k] - conj Z[m-k]) / 2i and T = W^k O, the real series' spectrum is
        // X[k] = E + T and X[m-k] = conj(E - T), so P[k] = |E + T|^2 and
        // P[m-k] = |E - T|^2. Packing the real, even P back for the inverse gives
        // Z'[k] = S + D (W^k)_im + i D (W^k)_re and Z'[m-k] = S - D (W^k)_im + i D (W^k)_re
        // with S = (P[k] + P[m-k]) / 2 = |E|^2 + |T|^2 and
        // D = (P[k] - P[m-k]) / 2 = 2 Re(E conj T). Everything is pre-scaled by 1/m so the
        // unnormalised inverse yields the correlation itself. Z' is written in bit-reversed
        // order, ready for the inverse transform.
        let (re2, im2) = (&mut self.re2, &mut self.im2);
        re2.clear();
        im2.clear();
        re2.resize(m, 0.0);
        im2.resize(m, 0.0);
        let scale = 1.0 / m as f64;
        let (p0, pm) = ((re[0] + im[0]).powi(2), (re[0] - im[0]).powi(2));
        (re2[0], im2[0]) = (0.5 * (p0 + pm) * scale, 0.5 * (p0 - pm) * scale);
        for k in 1..m.div_ceil(2) {
            let j = m - k;
            let (zr, zi, cr, ci) = (re[k], im[k], re[j], im[j]);
            let (er, ei) = (0.5 * (zr + cr), 0.5 * (zi - ci));
            let (or, oi) = (0.5 * (zi + ci), -0.5 * (zr - cr));
            let (wr, wi) = (self.w_re[k], self.w_im[k]);
            let (tr, ti) = (wr * or - wi * oi, wr * oi + wi * or);
            let sum = (er * er + ei * ei + tr * tr + ti * ti) * scale;
            let diff = 2.0 * (er * tr + ei * ti) * scale;
            let (rk, rj) = (rev[k], rev[j]);
            (re2[rk], im2[rk]) = (sum + diff * wi, diff * wr);
            (re2[rj], im2[rj]) = (sum - diff * wi, diff * wr);
        }
        if m % 2 == 0 {
            // The middle bin pairs with itself: P = |Z|^2 and D = 0.
            let k = m / 2;
            re2[rev[k]] = (re[k] * re[k] + im[k] * im[k]) * scale;
        }
        // Inverse by the real/imaginary swap (see `Fft::inverse_unnormalised`).
        self.fft.forward_bit_reversed(im2, re2);
        out.resize(max_lag + 1, 0.0);
        for ((pair, &a), &b) in out.chunks_mut(2).zip(re2.iter()).zip(im2.iter()) {
            pair[0] = a;
            if let Some(odd) = pair.get_mut(1) {
                *odd = b;
            }
        }
        // Lags that wrapped around the (possibly short) transform picked up the far-end
        // lag `size - k`; its few terms are cheaper to subtract directly than to double
        // the transform size.
        for (k, v) in out.iter_mut().enumerate().skip(1) {
            let far = size - k;
            if far < n {
                *v -= dot(&x[..n - far], &x[far..]);
            }
        }
    }

    /// Cross-correlation of two real series of equal length `n` in both directions:
    /// `pos[k] = sum_i a[i] * b[i + k]` and `neg[k] = sum_i b[i] * a[i + k]` for
    /// `k in 0..=max_lag` (`max_lag` clamped to `n - 1`). Extra elements of the longer
    /// input are ignored. Both series go through one complex FFT as `a + i b`.
    pub fn cross(&mut self, a: &[f64], b: &[f64], max_lag: usize, pos: &mut Vec<f64>, neg: &mut Vec<f64>) {
        pos.clear();
        neg.clear();
        let n = a.len().min(b.len());
        if n == 0 {
            return;
        }
        let max_lag = max_lag.min(n - 1);
        let Some(size) = (n + max_lag).max(2).checked_next_power_of_two() else {
            return;
        };
        if !self.full.prepare(size) {
            return;
        }
        let (re, im) = (&mut self.re, &mut self.im);
        re.clear();
        im.clear();
        re.extend_from_slice(&a[..n]);
        im.extend_from_slice(&b[..n]);
        re.resize(size, 0.0);
        im.resize(size, 0.0);
        self.full.forward(re, im);
        // Split Z = A + iB into the two spectra and form conj(A) B, pairing k with size - k
        // so both bins are read before either is overwritten.
        let spectrum = |zr: f64, zi: f64, cr: f64, ci: f64| {
            let (ar, ai) = (0.5 * (zr + cr), 0.5 * (zi - ci));
            let (br, bi) = (0.5 * (zi + ci), -0.5 * (zr - cr));
            (ar * br + ai * bi, ar * bi - ai * br)
        };
        for k in 0..=size / 2 {
            let j = if k == 0 { 0 } else { size - k };
            let (zr, zi, cr, ci) = (re[k], im[k], re[j], im[j]);
            let (sk_r, sk_i) = spectrum(zr, zi, cr, ci);
            let (sj_r, sj_i) = spectrum(cr, ci, zr, zi);
            re[k] = sk_r;
            im[k] = sk_i;
            re[j] = sj_r;
            im[j] = sj_i;
        }
        self.full.inverse(re, im);
        pos.extend(re.iter().take(max_lag + 1));
        neg.push(re[0]);
        neg.extend(re.iter().rev().take(max_lag));
    }

    /// Plans the half-size complex FFT and the unpacking twiddles for real size `size`.
    fn plan(&mut self, size: usize) -> bool {
        let m = size / 2;
        if !self.fft.prepare(m) {
            return false;
        }
        if self.w_re.len() != m + 1 {
            self.w_re.clear();
            self.w_im.clear();
            for k in 0..=m {
                let (s, c) = (-2.0 * PI * k as f64 / size as f64).sin_cos();
                self.w_re.push(c);
                self.w_im.push(s);
            }
        }
        true
    }
}

/// Real transform size for a linear autocorrelation of `n` points up to `max_lag`.
///
/// Zero padding to `n + max_lag` avoids circular wrap-around altogether, but the next power
/// of two can be nearly twice as large as `n` (720 points and lags up to 361 need 2048).
/// When the smallest power of two holding the series leaves only a few wrapped lags, use it
/// and correct those lags directly: their far-end partners have few terms.
fn transform_size(n: usize, max_lag: usize) -> Option<usize> {
    let small = n.max(4).checked_next_power_of_two()?;
    let wrapped = (n + max_lag).saturating_sub(small);
    if wrapped == 0 || wrapped * wrapped <= 8 * small { Some(small) } else { small.checked_mul(2) }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    acc[0] + acc[1] + acc[2] + acc[3] + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::XorShift;

    #[test]
    fn autocorrelation_matches_direct_sum() {
        let mut rng = XorShift(42);
        let mut ac = AutoCorrelation::default();
        let mut out = Vec::new();
        for n in [1usize, 2, 3, 5, 17, 100, 257, 720] {
            let x: Vec<f64> = (0..n).map(|_| rng.next_f64()).collect();
            let max_lag = n / 2 + 1;
            ac.compute(&x, max_lag, &mut out);
            assert_eq!(out.len(), max_lag.min(n - 1) + 1);
            for (k, &got) in out.iter().enumerate() {
                let want: f64 = (0..n - k).map(|i| x[i] * x[i + k]).sum();
                assert!((got - want).abs() < 1e-9, "n={n} k={k} got={got} want={want}");
            }
        }
        ac.compute(&[], 3, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn cross_correlation_matches_direct_sum() {
        let mut rng = XorShift(7);
        let mut ac = AutoCorrelation::default();
        let (mut pos, mut neg) = (Vec::new(), Vec::new());
        for n in [1usize, 2, 3, 9, 100, 333] {
            let a: Vec<f64> = (0..n).map(|_| rng.next_f64()).collect();
            let b: Vec<f64> = (0..n).map(|_| rng.next_f64()).collect();
            ac.cross(&a, &b, n / 2 + 1, &mut pos, &mut neg);
            assert_eq!(pos.len(), (n / 2 + 1).min(n - 1) + 1);
            assert_eq!(neg.len(), pos.len());
            for k in 0..pos.len() {
                let want_pos: f64 = (0..n - k).map(|i| a[i] * b[i + k]).sum();
                let want_neg: f64 = (0..n - k).map(|i| b[i] * a[i + k]).sum();
                assert!((pos[k] - want_pos).abs() < 1e-9, "n={n} k={k}");
                assert!((neg[k] - want_neg).abs() < 1e-9, "n={n} k={k}");
            }
        }
        ac.cross(&[], &[1.0], 3, &mut pos, &mut neg);
        assert!(pos.is_empty() && neg.is_empty());
    }
}
