//! A small radix-2 complex FFT, the engine of [`crate::correlation`].
//!
//! Data is split into separate real and imaginary slices ("structure of arrays") so that
//! the butterfly loops are straight streams over contiguous memory that the compiler can
//! vectorise. Twiddle factors are stored per stage, contiguously (stage with half-size `h`
//! keeps its `h` factors at offsets `h..2h`), so every stage reads them sequentially.
//! Plans and buffers only grow: once warmed up for a size, no call allocates.

use std::f64::consts::PI;

/// An in-place radix-2 decimation-in-time complex FFT plan for one power-of-two size.
///
/// After the bit-reversal permutation, the first three stages (whose twiddles are
/// trivial) run as one radix-8 pass, and the remaining stages run two at a time (radix
/// 2^2), which halves the sweeps over the data compared with one stage per sweep.
#[derive(Debug, Default, Clone)]
pub struct Fft {
    n: usize,
    /// The index pairs `(i, j)`, `i < j`, exchanged by the bit-reversal permutation.
    swaps: Vec<(usize, usize)>,
    /// `rev[i]` = `i` with its bits reversed, for callers that scatter their input
    /// directly into bit-reversed order.
    rev: Vec<usize>,
    tw_re: Vec<f64>,
    tw_im: Vec<f64>,
}

impl Fft {
    /// Plan for size `n` (see [`Fft::prepare`]).
    pub fn new(n: usize) -> Self {
        let mut fft = Fft::default();
        fft.prepare(n);
        fft
    }

    /// The planned size (0 if unplanned).
    pub fn len(&self) -> usize {
        self.n
    }

    /// True if no size is planned.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// (Re)plans for size `n`, reusing the existing tables when the size is unchanged.
    /// Returns false, leaving the plan empty, if `n` is not a power of two.
    pub fn prepare(&mut self, n: usize) -> bool {
        if n == self.n && n != 0 {
            return true;
        }
        self.n = 0;
        if !n.is_power_of_two() {
            return false;
        }
        let bits = n.trailing_zeros();
        self.swaps.clear();
        self.rev.clear();
        for i in 0..n {
            let j = i.reverse_bits().checked_shr(usize::BITS - bits).unwrap_or(0);
            self.rev.push(j);
            if i < j {
                self.swaps.push((i, j));
            }
        }
        self.tw_re.clear();
        self.tw_im.clear();
        self.tw_re.resize(n.max(2), 1.0);
        self.tw_im.resize(n.max(2), 0.0);
        let mut h = 1;
        while h < n {
            for j in 0..h {
                let (s, c) = (-PI * j as f64 / h as f64).sin_cos();
                self.tw_re[h + j] = c;
                self.tw_im[h + j] = s;
            }
            h *= 2;
        }
        self.n = n;
        true
    }

    /// Forward transform `X[k] = sum_j x[j] e^{-2 pi i jk/n}`, in place, unnormalised.
    /// Returns false (and does nothing) if the slices do not have the planned length.
    pub fn forward(&self, re: &mut [f64], im: &mut [f64]) -> bool {
        let n = self.n;
        if n == 0 || re.len() != n || im.len() != n {
            return false;
        }
        for &(i, j) in &self.swaps {
            re.swap(i, j);
            im.swap(i, j);
        }
        self.forward_bit_reversed(re, im)
    }

    /// [`Fft::forward`] for input already in bit-reversed order (`x[rev(i)]` at `i`), e.g.
    /// scattered there by the caller while filling the buffers; the output is in natural
    /// order. Returns false (and does nothing) if the slices do not have the planned length.
    pub fn forward_bit_reversed(&self, re: &mut [f64], im: &mut [f64]) -> bool {
        let n = self.n;
        if n == 0 || re.len() != n || im.len() != n {
            return false;
        }
        let mut h = match n {
            1 => return true,
            2 => {
                let (r0, r1, m0, m1) = (re[0], re[1], im[0], im[1]);
                (re[0], re[1], im[0], im[1]) = (r0 + r1, r0 - r1, m0 + m1, m0 - m1);
                return true;
            }
            4 => {
                radix4(re, im);
                return true;
            }
            _ => {
                for (r, m) in re.chunks_exact_mut(8).zip(im.chunks_exact_mut(8)) {
                    radix8(r, m);
                }
                8
            }
        };
        while h < n {
            if 4 * h <= n {
                let (w1r, w1i) = (&self.tw_re[h..2 * h], &self.tw_im[h..2 * h]);
                let (w2r, w2i) = (&self.tw_re[2 * h..3 * h], &self.tw_im[2 * h..3 * h]);
                let (w3r, w3i) = (&self.tw_re[3 * h..4 * h], &self.tw_im[3 * h..4 * h]);
                for (r, m) in re.chunks_exact_mut(4 * h).zip(im.chunks_exact_mut(4 * h)) {
                    let (ar, r) = r.split_at_mut(h);
                    let (br, r) = r.split_at_mut(h);
                    let (cr, dr) = r.split_at_mut(h);
                    let (ai, m) = m.split_at_mut(h);
                    let (bi, m) = m.split_at_mut(h);
                    let (ci, di) = m.split_at_mut(h);
                    two_stages(ar, ai, br, bi, cr, ci, dr, di, w1r, w1i, w2r, w2i, w3r, w3i);
                }
                h *= 4;
            } else {
                let (wr, wi) = (&self.tw_re[h..2 * h], &self.tw_im[h..2 * h]);
                for (r, m) in re.chunks_exact_mut(2 * h).zip(im.chunks_exact_mut(2 * h)) {
                    let (ar, br) = r.split_at_mut(h);
                    let (ai, bi) = m.split_at_mut(h);
                    butterflies(ar, ai, br, bi, wr, wi);
                }
                h *= 2;
            }
        }
        true
    }

    /// Inverse transform, normalised by `1/n`, so `inverse(forward(x)) == x`.
    /// Returns false (and does nothing) if the slices do not have the planned length.
    pub fn inverse(&self, re: &mut [f64], im: &mut [f64]) -> bool {
        if !self.inverse_unnormalised(re, im) {
            return false;
        }
        let scale = 1.0 / self.n as f64;
        re.iter_mut().chain(im.iter_mut()).for_each(|v| *v *= scale);
        true
    }

    /// `n` times the inverse transform. Swapping the real and imaginary parts on the way in
    /// and out turns the forward transform into the inverse one, and with split arrays the
    /// swap is free: it is just passing the slices the other way round.
    pub(crate) fn inverse_unnormalised(&self, re: &mut [f64], im: &mut [f64]) -> bool {
        self.forward(im, re)
    }

    /// The bit-reversal table (`rev[i]` is `i` with its `log2 n` bits reversed).
    pub(crate) fn bit_reversal(&self) -> &[usize] {
        &self.rev
    }
}

/// The first two stages on 4 points (twiddles 1 and -i).
#[inline]
fn radix4(r: &mut [f64], m: &mut [f64]) {
    let (&[r0, r1, r2, r3, ..], &[m0, m1, m2, m3, ..]) = (&*r, &*m) else {
        return;
    };
    let (a0r, a0i, a1r, a1i) = (r0 + r1, m0 + m1, r0 - r1, m0 - m1);
    let (a2r, a2i, a3r, a3i) = (r2 + r3, m2 + m3, r2 - r3, m2 - m3);
    // -i * a3 = (a3i, -a3r)
    r[..4].copy_from_slice(&[a0r + a2r, a1r + a3i, a0r - a2r, a1r - a3i]);
    m[..4].copy_from_slice(&[a0i + a2i, a1i - a3r, a0i - a2i, a1i + a3r]);
}

/// The first three stages on 8 points: two 4-point transforms combined with the eighth
/// roots of unity `1, (1-i)/sqrt2, -i, -(1+i)/sqrt2`.
#[inline]
fn radix8(r: &mut [f64], m: &mut [f64]) {
    if r.len() < 8 || m.len() < 8 {
        return;
    }
    let (ylo, yhi) = r.split_at_mut(4);
    let (zlo, zhi) = m.split_at_mut(4);
    radix4(ylo, zlo);
    radix4(yhi, zhi);
    let c = std::f64::consts::FRAC_1_SQRT_2;
    let (br, bi) = (&*yhi, &*zhi);
    // w^k * b[k] for the eighth roots w^k.
    let tr = [br[0], c * (br[1] + bi[1]), bi[2], c * (bi[3] - br[3])];
    let ti = [bi[0], c * (bi[1] - br[1]), -br[2], -c * (br[3] + bi[3])];
    for k in 0..4 {
        let (ar, ai) = (ylo[k], zlo[k]);
        (ylo[k], zlo[k]) = (ar + tr[k], ai + ti[k]);
        (yhi[k], zhi[k]) = (ar - tr[k], ai - ti[k]);
    }
}

/// Stages `h` and `2h` over one block of `4h` points split in quarters `a b c d` (real
/// and imaginary parts): `(a, b)` and `(c, d)` with `w1[j]`, then `(a, c)` with `w2[j]`
/// and `(b, d)` with `w3[j]` (`w2`, `w3` being the two halves of stage `2h`'s twiddles).
///
/// Separate slice parameters let the compiler assume they do not overlap and vectorise
/// without run-time overlap checks, which matter for the short inner loops of early stages.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn two_stages(
    ar: &mut [f64],
    ai: &mut [f64],
    br: &mut [f64],
    bi: &mut [f64],
    cr: &mut [f64],
    ci: &mut [f64],
    dr: &mut [f64],
    di: &mut [f64],
    w1r: &[f64],
    w1i: &[f64],
    w2r: &[f64],
    w2i: &[f64],
    w3r: &[f64],
    w3i: &[f64],
) {
    let h = ar.len();
    let lens = [ai.len(), br.len(), bi.len(), cr.len(), ci.len(), dr.len(), di.len()];
    let wlens = [w1r.len(), w1i.len(), w2r.len(), w2i.len(), w3r.len(), w3i.len()];
    if lens.iter().chain(&wlens).any(|&l| l != h) {
        return;
    }
    for j in 0..h {
        let (xr, xi) = (w1r[j] * br[j] - w1i[j] * bi[j], w1r[j] * bi[j] + w1i[j] * br[j]);
        let (a1r, a1i, b1r, b1i) = (ar[j] + xr, ai[j] + xi, ar[j] - xr, ai[j] - xi);
        let (yr, yi) = (w1r[j] * dr[j] - w1i[j] * di[j], w1r[j] * di[j] + w1i[j] * dr[j]);
        let (c1r, c1i, d1r, d1i) = (cr[j] + yr, ci[j] + yi, cr[j] - yr, ci[j] - yi);
        let (ur, ui) = (w2r[j] * c1r - w2i[j] * c1i, w2r[j] * c1i + w2i[j] * c1r);
        let (vr, vi) = (w3r[j] * d1r - w3i[j] * d1i, w3r[j] * d1i + w3i[j] * d1r);
        (ar[j], ai[j], cr[j], ci[j]) = (a1r + ur, a1i + ui, a1r - ur, a1i - ui);
        (br[j], bi[j], dr[j], di[j]) = (b1r + vr, b1i + vi, b1r - vr, b1i - vi);
    }
}

/// One stage's butterflies over a block: `(a, b) <- (a + w b, a - w b)`.
#[inline(never)]
fn butterflies(ar: &mut [f64], ai: &mut [f64], br: &mut [f64], bi: &mut [f64], wr: &[f64], wi: &[f64]) {
    let h = ar.len();
    if [ai.len(), br.len(), bi.len(), wr.len(), wi.len()].iter().any(|&l| l != h) {
        return;
    }
    for j in 0..h {
        let tr = wr[j] * br[j] - wi[j] * bi[j];
        let ti = wr[j] * bi[j] + wi[j] * br[j];
        br[j] = ar[j] - tr;
        bi[j] = ai[j] - ti;
        ar[j] += tr;
        ai[j] += ti;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::XorShift;

    fn naive_dft(re: &[f64], im: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let n = re.len();
        let mut out_re = vec![0.0; n];
        let mut out_im = vec![0.0; n];
        for k in 0..n {
            for j in 0..n {
                let (s, c) = (-2.0 * PI * ((j * k) % n) as f64 / n as f64).sin_cos();
                out_re[k] += re[j] * c - im[j] * s;
                out_im[k] += re[j] * s + im[j] * c;
            }
        }
        (out_re, out_im)
    }

    #[test]
    fn fft_matches_naive_dft_on_random_input() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for n in [1usize, 2, 4, 8, 16, 64, 256, 1024] {
            let re: Vec<f64> = (0..n).map(|_| rng.next_f64()).collect();
            let im: Vec<f64> = (0..n).map(|_| rng.next_f64()).collect();
            let (want_re, want_im) = naive_dft(&re, &im);
            let fft = Fft::new(n);
            let (mut got_re, mut got_im) = (re.clone(), im.clone());
            assert!(fft.forward(&mut got_re, &mut got_im));
            for k in 0..n {
                assert!((got_re[k] - want_re[k]).abs() < 1e-9, "n={n} k={k}");
                assert!((got_im[k] - want_im[k]).abs() < 1e-9, "n={n} k={k}");
            }
            assert!(fft.inverse(&mut got_re, &mut got_im));
            for k in 0..n {
                assert!((got_re[k] - re[k]).abs() < 1e-12 && (got_im[k] - im[k]).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn rejects_bad_sizes() {
        let mut fft = Fft::default();
        assert!(!fft.prepare(12));
        assert!(fft.is_empty());
        assert!(!fft.forward(&mut [0.0; 12], &mut [0.0; 12]));
        assert!(fft.prepare(8));
        assert!(!fft.forward(&mut [0.0; 4], &mut [0.0; 4]));
    }
}
