//! Order statistics and small numeric helpers shared by the other kernels.
//!
//! Everything here works on plain `f64` slices. NaN means "missing" and is skipped by the
//! NaN-aware functions; the order-statistic helpers assume their buffer is already NaN-free
//! and order it with [`f64::total_cmp`], so an infinity is just a very large value and no
//! comparison can ever panic.

/// Percentile by linear interpolation between closest ranks (ADX / numpy `'linear'`).
///
/// The rank of percentile `p` is `p / 100 * (n - 1)`; the result interpolates between the
/// two order statistics around it. `sorted` must be sorted ascending and NaN-free. `p` is
/// clamped to `[0, 100]`. Returns NaN for an empty slice or a NaN `p`.
///
/// This is the definition that reproduces ADX's documented `series_outliers` example.
pub fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    let Some((lo, frac)) = rank(sorted.len(), p) else {
        return f64::NAN;
    };
    match (sorted.get(lo), sorted.get(lo + 1)) {
        (Some(&a), Some(&b)) => lerp(a, b, frac),
        (Some(&a), None) => a,
        _ => f64::NAN,
    }
}

/// Median ignoring NaN, using `scratch` as the work buffer (no allocation once it has
/// enough capacity). Infinities take part as ordinary values. Returns NaN if there is no
/// non-NaN value. Runs in linear time (selection, not sorting).
pub fn nan_median(values: &[f64], scratch: &mut Vec<f64>) -> f64 {
    scratch.clear();
    scratch.extend(values.iter().copied().filter(|v| !v.is_nan()));
    select_percentile(scratch, 50.0)
}

/// Mean of the non-NaN values, NaN if there is none.
pub fn nan_mean(values: &[f64]) -> f64 {
    let (sum, count) = values.iter().filter(|v| !v.is_nan()).fold((0.0, 0usize), |(s, c), &v| (s + v, c + 1));
    if count == 0 { f64::NAN } else { sum / count as f64 }
}

/// Percentile `p` (same definition as [`percentile_sorted`]) of an unsorted NaN-free buffer,
/// found by selection in linear time. Reorders `buf`.
pub(crate) fn select_percentile(buf: &mut [f64], p: f64) -> f64 {
    let Some((k, frac)) = rank(buf.len(), p) else {
        return f64::NAN;
    };
    let Some(a) = select_nth(buf, k) else {
        return f64::NAN;
    };
    interpolate_with(a, next_after(buf, k, frac), frac)
}

/// Two percentiles `p_lo <= p_hi` of an unsorted NaN-free buffer with two selections, the
/// second one restricted to the upper partition left by the first. Reorders `buf`.
pub(crate) fn select_two_percentiles(buf: &mut [f64], p_lo: f64, p_hi: f64) -> (f64, f64) {
    let n = buf.len();
    let (Some((k1, f1)), Some((k2, f2))) = (rank(n, p_lo), rank(n, p_hi)) else {
        return (f64::NAN, f64::NAN);
    };
    if k2 < k1 {
        // Only reachable with p_lo > p_hi; fall back to independent selections.
        return (select_percentile(buf, p_lo), select_percentile(buf, p_hi));
    }
    let Some(a1) = select_nth(buf, k1) else {
        return (f64::NAN, f64::NAN);
    };
    let v1 = interpolate_with(a1, next_after(buf, k1, f1), f1);
    if k2 == k1 {
        return (v1, interpolate_with(a1, next_after(buf, k1, f2), f2));
    }
    // Order statistic k2 is at offset k2 - k1 - 1 inside the upper partition.
    let upper = buf.get_mut(k1 + 1..).unwrap_or(&mut []);
    let k = k2 - k1 - 1;
    let v2 = match select_nth(upper, k) {
        Some(a2) => interpolate_with(a2, next_after(upper, k, f2), f2),
        None => f64::NAN,
    };
    (v1, v2)
}

/// The order statistic after `k` in a buffer partitioned at `k`, if it is needed.
fn next_after(buf: &[f64], k: usize, frac: f64) -> Option<f64> {
    if frac > 0.0 { min_of(buf.get(k + 1..)?) } else { None }
}

/// Below this length selection goes straight to the standard library.
const SAMPLED_SELECT_MIN: usize = 256;
/// Sample size for choosing the narrowing pivot.
const PIVOT_SAMPLE: usize = 31;
/// How many sample ranks beyond the target the pivot is taken.
const PIVOT_MARGIN: usize = 3;

/// Puts order statistic `k` of a NaN-free buffer at `buf[k]`, smaller-or-equal values
/// before it and greater-or-equal ones after (like `select_nth_unstable`), and returns it;
/// None if `k` is out of range.
///
/// Percentile fences sit far from the median, where the standard selection spends several
/// partition passes closing in. One pass around a pivot drawn from a small sample just
/// beyond the target's expected rank usually leaves the target in a side of 15-20% of the
/// data, which the standard selection then finishes. The result is exact whatever the
/// pivot; a poor pivot only costs time.
fn select_nth(buf: &mut [f64], k: usize) -> Option<f64> {
    let n = buf.len();
    if k >= n {
        return None;
    }
    let (lo, hi) = if n >= SAMPLED_SELECT_MIN { narrow(buf, k) } else { (0, n) };
    let side = buf.get_mut(lo..hi)?;
    let (_, nth, _) = side.select_nth_unstable_by(k.checked_sub(lo)?, f64::total_cmp);
    Some(*nth)
}

/// One partition pass of `buf` (at least [`PIVOT_SAMPLE`] long) around a sampled pivot;
/// returns the index range of the side that holds rank `k`.
fn narrow(buf: &mut [f64], k: usize) -> (usize, usize) {
    let n = buf.len();
    let stride = n / PIVOT_SAMPLE;
    let mut sample = [0.0; PIVOT_SAMPLE];
    for (s, v) in sample.iter_mut().zip(buf.iter().skip(stride / 2).step_by(stride.max(1))) {
        *s = *v;
    }
    let centre = k * PIVOT_SAMPLE / n;
    let at =
        if 2 * k < n { (centre + PIVOT_MARGIN).min(PIVOT_SAMPLE - 1) } else { centre.saturating_sub(PIVOT_MARGIN) };
    let (_, &mut pivot, _) = sample.select_nth_unstable_by(at, f64::total_cmp);
    // Branch-free Lomuto partition: [0, w) < pivot <= [w, n).
    let mut w = 0;
    for i in 0..n {
        let below = buf[i] < pivot;
        buf.swap(i, w);
        w += usize::from(below);
    }
    if k < w { (0, w) } else { (w, n) }
}

/// Sorts every column of a row-major `rows x width` matrix in place, ascending, with
/// Batcher's merge-exchange network (Knuth, TAOCP 5.2.2, Algorithm M).
///
/// The comparisons do not depend on the data, so each compare-exchange of two rows is a
/// branch-free min/max over `width` lanes that the compiler vectorises: many short columns
/// (one per seasonal phase) sort faster together this way than one selection per column.
/// O(rows log^2 rows) per column, so meant for a few dozen rows. The matrix must be NaN-free
/// (a comparison with NaN is false, so a NaN would overwrite its partner). Does nothing if
/// `buf` is shorter than the matrix.
pub(crate) fn sort_columns(buf: &mut [f64], rows: usize, width: usize) {
    if rows < 2 || width == 0 || rows.checked_mul(width).is_none_or(|len| buf.len() < len) {
        return;
    }
    let t = usize::BITS - (rows - 1).leading_zeros(); // ceil(log2(rows))
    let mut p = 1usize << (t - 1);
    while p > 0 {
        let (mut q, mut r, mut d) = (1usize << (t - 1), 0, p);
        loop {
            for i in (0..rows - d).filter(|i| i & p == r) {
                let (upper, lower) = buf.split_at_mut((i + d) * width);
                let a = &mut upper[i * width..(i + 1) * width];
                for (x, y) in a.iter_mut().zip(lower.iter_mut()) {
                    // Plain comparisons, not `f64::min`/`max`: the matrix is NaN-free, and
                    // their NaN handling takes three instructions per lane instead of one
                    // (the networks were a tenth of the ensemble's time).
                    let (u, v) = (*x, *y);
                    *x = if u < v { u } else { v };
                    *y = if u > v { u } else { v };
                }
            }
            if q == p {
                break;
            }
            (d, q, r) = (q - p, q >> 1, p);
        }
        p >>= 1;
    }
}

/// Medians of the blocks of `values` (`block` consecutive points each, the last one possibly
/// shorter), NaN = missing: `out[b] = (median, count)` of block `b`'s valid values, with
/// the same interpolation as [`select_percentile`], NaN for a block without any.
///
/// Many short blocks: their medians come from one [`sort_columns`] network over the
/// transposed blocks (missing values as +inf, which sort last), several times faster than
/// one selection per block. `matrix` is a work buffer. Meant for blocks of a few dozen
/// points (the network is O(block log² block) per block); `values` must hold no +inf.
pub(crate) fn block_medians(values: &[f64], block: usize, matrix: &mut Vec<f64>, out: &mut Vec<(f64, usize)>) {
    out.clear();
    let block = block.max(1);
    let blocks = values.len().div_ceil(block);
    matrix.clear();
    matrix.resize(blocks * block, f64::INFINITY);
    for (b, chunk) in values.chunks(block).enumerate() {
        let mut count = 0;
        for (row, &v) in chunk.iter().enumerate() {
            if !v.is_nan() {
                matrix[row * blocks + b] = v;
                count += 1;
            }
        }
        out.push((f64::NAN, count));
    }
    sort_columns(matrix, block, blocks);
    for (b, slot) in out.iter_mut().enumerate() {
        let at = |row: usize| matrix.get(row * blocks + b).copied().unwrap_or(f64::NAN);
        let m = slot.1;
        slot.0 = match m {
            0 => f64::NAN,
            _ if m % 2 == 0 => lerp(at(m / 2 - 1), at(m / 2), 0.5),
            _ => at(m / 2),
        };
    }
}

/// Power-of-two factor that brings `max_abs` near 1 when it is extreme (beyond 1e±60), so
/// that sums of squares over millions of points cannot overflow or underflow. Powers of two
/// make the scaling exact, so scaling back is lossless. Returns 1 for ordinary magnitudes.
pub(crate) fn pow2_scale(max_abs: f64) -> f64 {
    if !max_abs.is_finite() || max_abs == 0.0 || (1e-60..=1e60).contains(&max_abs) {
        return 1.0;
    }
    let e = (max_abs.log2().floor() as i32).clamp(-1000, 1000);
    2f64.powi(-e)
}

/// Largest finite absolute value (0 if none). Four independent lanes with a plain
/// comparison (not `f64::max`, whose NaN handling serialises the loop).
pub(crate) fn max_abs_finite(values: &[f64]) -> f64 {
    let mut lanes = [0.0f64; 4];
    let chunks = values.chunks_exact(4);
    let rest = chunks.remainder();
    let step = |m: f64, v: f64| {
        let a = if v.is_finite() { v.abs() } else { 0.0 };
        if a > m { a } else { m }
    };
    for c in chunks {
        for (m, &v) in lanes.iter_mut().zip(c) {
            *m = step(*m, v);
        }
    }
    let m = rest.iter().fold(0.0, |m, &v| step(m, v));
    lanes.iter().fold(m, |a, &b| if b > a { b } else { a })
}

/// Sum of the finite values and their count, in four independent lanes.
pub(crate) fn finite_sum(values: &[f64]) -> (f64, usize) {
    let mut sums = [0.0f64; 4];
    let mut counts = [0usize; 4];
    let chunks = values.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        for ((s, n), &v) in sums.iter_mut().zip(counts.iter_mut()).zip(c) {
            let ok = v.is_finite();
            *s += if ok { v } else { 0.0 };
            *n += usize::from(ok);
        }
    }
    let (mut sum, mut count) = (0.0, 0);
    for &v in rest {
        if v.is_finite() {
            sum += v;
            count += 1;
        }
    }
    (sum + sums.iter().sum::<f64>(), count + counts.iter().sum::<usize>())
}

/// Rank split into integer part and fraction, or None if there is nothing to rank.
fn rank(n: usize, p: f64) -> Option<(usize, f64)> {
    if n == 0 || p.is_nan() {
        return None;
    }
    let r = p.clamp(0.0, 100.0) / 100.0 * (n - 1) as f64;
    let lo = (r.floor() as usize).min(n - 1);
    Some((lo, r - lo as f64))
}

fn interpolate_with(a: f64, next: Option<f64>, frac: f64) -> f64 {
    match next {
        Some(b) if frac > 0.0 => lerp(a, b, frac),
        _ => a,
    }
}

/// Smallest value of a NaN-free slice, in four independent lanes.
fn min_of(values: &[f64]) -> Option<f64> {
    let first = *values.first()?;
    let mut lanes = [first; 4];
    let chunks = values.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        for (m, &v) in lanes.iter_mut().zip(c) {
            *m = if v < *m { v } else { *m };
        }
    }
    let m = rest.iter().fold(first, |m, &v| if v < m { v } else { m });
    Some(lanes.iter().fold(m, |a, &b| if b < a { b } else { a }))
}

/// `a + (b - a) * t`, written so that it never manufactures an overflow or an `inf - inf`
/// NaN that is not in the data.
pub(crate) fn lerp(a: f64, b: f64, t: f64) -> f64 {
    if t == 0.0 || a == b {
        return a;
    }
    let d = b - a;
    if d.is_finite() { a + d * t } else { a * (1.0 - t) + b * t }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn percentile_matches_numpy_linear() {
        let s = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile_sorted(&s, 0.0), 1.0);
        assert_eq!(percentile_sorted(&s, 100.0), 4.0);
        assert!((percentile_sorted(&s, 50.0) - 2.5).abs() < 1e-12);
        assert!((percentile_sorted(&s, 10.0) - 1.3).abs() < 1e-12);
        assert!(percentile_sorted(&[], 50.0).is_nan());
        assert!(percentile_sorted(&s, f64::NAN).is_nan());
        assert_eq!(percentile_sorted(&[7.0], 90.0), 7.0);
        assert_eq!(percentile_sorted(&s, 1000.0), 4.0);
    }

    #[test]
    fn median_ignores_nan() {
        let mut scratch = Vec::new();
        assert_eq!(nan_median(&[3.0, f64::NAN, 1.0, 2.0], &mut scratch), 2.0);
        assert_eq!(nan_median(&[4.0, 1.0, 3.0, 2.0], &mut scratch), 2.5);
        assert!(nan_median(&[f64::NAN], &mut scratch).is_nan());
        assert!(nan_median(&[], &mut scratch).is_nan());
        assert_eq!(nan_median(&[f64::INFINITY, 1.0, 2.0], &mut scratch), 2.0);
    }

    #[test]
    fn mean_ignores_nan() {
        assert_eq!(nan_mean(&[1.0, f64::NAN, 3.0]), 2.0);
        assert!(nan_mean(&[f64::NAN]).is_nan());
    }

    #[test]
    fn scale_is_power_of_two() {
        assert_eq!(pow2_scale(5.0), 1.0);
        let s = pow2_scale(1e300);
        assert!((1e300 * s) > 0.5 && (1e300 * s) < 2.0);
        assert_eq!(s.log2().fract(), 0.0);
        assert!((pow2_scale(5e-324) * 5e-324).is_finite());
    }

    proptest! {
        #[test]
        fn column_sort_sorts_every_column(
            v in proptest::collection::vec(-1e6f64..1e6, 0..400),
            width in 1usize..9,
        ) {
            let rows = v.len() / width;
            let mut m = v.clone();
            sort_columns(&mut m, rows, width);
            for c in 0..width {
                let mut want: Vec<f64> = (0..rows).map(|r| v[r * width + c]).collect();
                want.sort_by(f64::total_cmp);
                let got: Vec<f64> = (0..rows).map(|r| m[r * width + c]).collect();
                prop_assert_eq!(got, want);
            }
        }

        #[test]
        fn block_medians_agree_with_selection(
            v in proptest::collection::vec(prop_oneof![4 => -1e6f64..1e6, 1 => Just(f64::NAN)], 0..300),
            block in 1usize..50,
        ) {
            let (mut matrix, mut out, mut scratch) = (Vec::new(), Vec::new(), Vec::new());
            block_medians(&v, block, &mut matrix, &mut out);
            prop_assert_eq!(out.len(), v.len().div_ceil(block));
            for (chunk, &(median, count)) in v.chunks(block).zip(&out) {
                prop_assert_eq!(count, chunk.iter().filter(|x| !x.is_nan()).count());
                let want = nan_median(chunk, &mut scratch);
                prop_assert!(want.to_bits() == median.to_bits() || (want - median).abs() <= 1e-9 * (1.0 + want.abs()));
            }
        }

        #[test]
        fn selection_agrees_with_sorting(
            mut v in proptest::collection::vec(
                prop_oneof![4 => -1e6f64..1e6, 1 => Just(0.0), 1 => Just(-0.0), 1 => Just(3.0)],
                1..1500,
            ),
            p1 in 0.0f64..100.0,
            p2 in 0.0f64..100.0,
        ) {
            let (lo, hi) = if p1 <= p2 { (p1, p2) } else { (p2, p1) };
            let mut sorted = v.clone();
            sorted.sort_by(f64::total_cmp);
            let want = (percentile_sorted(&sorted, lo), percentile_sorted(&sorted, hi));
            let got = select_two_percentiles(&mut v, lo, hi);
            prop_assert!((want.0 - got.0).abs() <= 1e-9 * (1.0 + want.0.abs()));
            prop_assert!((want.1 - got.1).abs() <= 1e-9 * (1.0 + want.1.abs()));
            let single = select_percentile(&mut v, hi);
            prop_assert!((want.1 - single).abs() <= 1e-9 * (1.0 + want.1.abs()));
        }
    }
}
