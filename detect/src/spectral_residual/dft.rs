//! Discrete Fourier transform of any length on top of the crate's radix-2 [`Fft`]:
//! directly for powers of two, by Bluestein's chirp-z algorithm otherwise.
//!
//! Spectral residual needs the spectrum of the series itself: zero-padding to a power of
//! two would add a step at the end of the series, exactly where the newest point is
//! scored, and truncating would drop data. Bluestein writes `jk = (j² + k² - (k - j)²) / 2`,
//! which turns the DFT into a convolution with the chirp `e^{iπ m²/n}`, computed by
//! power-of-two FFTs of size `M >= 2n - 1`: O(n log n) for every `n`. The chirp's transform
//! is kept for the last length, so a run of series of one length transforms each with two
//! FFTs of size `M`.

use crate::fft::Fft;
use std::f64::consts::PI;

/// Reusable plan and buffers for [`Dft::forward`] and [`Dft::inverse`].
#[derive(Debug, Default)]
pub(crate) struct Dft {
    n: usize,
    fft: Fft,
    /// The chirp `w_j = e^{-iπ j²/n}`, `j < n`.
    w_re: Vec<f64>,
    w_im: Vec<f64>,
    /// Transform of the convolution kernel `conj(w)` wrapped around, size `M`.
    b_re: Vec<f64>,
    b_im: Vec<f64>,
    re: Vec<f64>,
    im: Vec<f64>,
}

impl Dft {
    /// Plans for length `n`; false (and nothing planned) for 0 or a length whose Bluestein
    /// size overflows.
    fn prepare(&mut self, n: usize) -> bool {
        if n == self.n && n != 0 {
            return true;
        }
        self.n = 0;
        if n == 0 {
            return false;
        }
        if n.is_power_of_two() {
            let ok = self.fft.prepare(n);
            self.n = if ok { n } else { 0 };
            return ok;
        }
        let Some(m) = n.checked_mul(2).and_then(|d| (d - 1).checked_next_power_of_two()) else {
            return false;
        };
        if !self.fft.prepare(m) {
            return false;
        }
        self.w_re.clear();
        self.w_im.clear();
        let two_n = 2 * n as u128;
        for j in 0..n {
            // j² mod 2n keeps the angle exact for large j.
            let r = ((j as u128 * j as u128) % two_n) as f64;
            let (s, c) = (-PI * r / n as f64).sin_cos();
            self.w_re.push(c);
            self.w_im.push(s);
        }
        self.b_re.clear();
        self.b_im.clear();
        self.b_re.resize(m, 0.0);
        self.b_im.resize(m, 0.0);
        for j in 0..n {
            let (c, s) = (self.w_re[j], -self.w_im[j]);
            self.b_re[j] = c;
            self.b_im[j] = s;
            if j > 0 {
                self.b_re[m - j] = c;
                self.b_im[m - j] = s;
            }
        }
        self.fft.forward(&mut self.b_re, &mut self.b_im);
        self.n = n;
        true
    }

    /// Forward DFT `X[k] = Σ_j x[j] e^{-2πi jk/n}` in place (`re.len() == im.len() == n`).
    /// Returns false, leaving the data untouched, if the slices differ in length or are
    /// empty.
    pub(crate) fn forward(&mut self, re: &mut [f64], im: &mut [f64]) -> bool {
        let n = re.len();
        if im.len() != n || !self.prepare(n) {
            return false;
        }
        if n.is_power_of_two() {
            return self.fft.forward(re, im);
        }
        let m = self.fft.len();
        let (ar, ai) = (&mut self.re, &mut self.im);
        ar.clear();
        ai.clear();
        ar.resize(m, 0.0);
        ai.resize(m, 0.0);
        for j in 0..n {
            let (x, y, c, s) = (re[j], im[j], self.w_re[j], self.w_im[j]);
            ar[j] = x * c - y * s;
            ai[j] = x * s + y * c;
        }
        self.fft.forward(ar, ai);
        for k in 0..m {
            let (x, y, c, s) = (ar[k], ai[k], self.b_re[k], self.b_im[k]);
            ar[k] = x * c - y * s;
            ai[k] = x * s + y * c;
        }
        self.fft.inverse(ar, ai);
        for k in 0..n {
            let (x, y, c, s) = (ar[k], ai[k], self.w_re[k], self.w_im[k]);
            re[k] = x * c - y * s;
            im[k] = x * s + y * c;
        }
        true
    }

    /// Inverse DFT, normalised by `1/n`, so `inverse(forward(x)) == x`; false as for
    /// [`Dft::forward`].
    pub(crate) fn inverse(&mut self, re: &mut [f64], im: &mut [f64]) -> bool {
        // inverse(X) = conj(forward(conj(X))) / n.
        im.iter_mut().for_each(|v| *v = -*v);
        if !self.forward(re, im) {
            im.iter_mut().for_each(|v| *v = -*v);
            return false;
        }
        let scale = 1.0 / re.len() as f64;
        re.iter_mut().for_each(|v| *v *= scale);
        im.iter_mut().for_each(|v| *v *= -scale);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::Rng;

    #[test]
    fn matches_the_naive_dft_for_any_length() {
        let mut rng = Rng::new(9);
        let mut dft = Dft::default();
        for n in [1usize, 2, 3, 5, 7, 8, 12, 31, 100, 725] {
            let re: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
            let im: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
            let (mut gr, mut gi) = (re.clone(), im.clone());
            assert!(dft.forward(&mut gr, &mut gi));
            for k in (0..n).step_by(n.div_ceil(16)) {
                let (mut wr, mut wi) = (0.0, 0.0);
                for j in 0..n {
                    let (s, c) = (-2.0 * PI * ((j * k) % n) as f64 / n as f64).sin_cos();
                    wr += re[j] * c - im[j] * s;
                    wi += re[j] * s + im[j] * c;
                }
                assert!((gr[k] - wr).abs() < 1e-9 * n as f64 && (gi[k] - wi).abs() < 1e-9 * n as f64, "n={n} k={k}");
            }
            assert!(dft.inverse(&mut gr, &mut gi));
            for j in 0..n {
                assert!((gr[j] - re[j]).abs() < 1e-9 && (gi[j] - im[j]).abs() < 1e-9, "n={n} j={j}");
            }
        }
        assert!(!dft.forward(&mut [], &mut []));
        assert!(!dft.forward(&mut [1.0, 2.0], &mut [1.0]));
    }
}
