//! Order statistics of a changing subset of a series: a Fenwick tree over the ranks of the
//! series' values.
//!
//! The causal outlier scores need the percentiles of every prefix, and the spike-and-dip
//! detector those of a sliding window of any length. Sorting the series once fixes the
//! rank of every point; the current subset is then a set of ranks, kept in a Fenwick
//! (binary indexed) tree of counts, so inserting, removing and finding the `k`-th smallest
//! each take O(log n), whatever the window length. Ties are broken by index, so every point
//! has its own rank and the order statistics are exactly those of the subset's values.

/// A set of points of one series with O(log n) insertion, removal and order statistics.
#[derive(Debug, Default)]
pub(crate) struct RankTree {
    /// `rank[i]`: rank of point `i` among the non-NaN values, `u32::MAX` for NaN.
    rank: Vec<u32>,
    /// The non-NaN values in ascending order (`f64::total_cmp`).
    sorted: Vec<f64>,
    /// Fenwick tree of counts over ranks (1-based inside).
    tree: Vec<u32>,
    /// Points currently in the set.
    len: usize,
    /// Whether each point is currently in the set.
    present: Vec<bool>,
    pairs: Vec<(f64, u32)>,
}

impl RankTree {
    /// Ranks the values of `values` (NaN points can never be inserted) and empties the
    /// set. O(n log n); no allocation once the buffers have grown to `values.len()`.
    /// Series longer than `u32::MAX` points are ranked only up to that length.
    pub(crate) fn build(&mut self, values: &[f64]) {
        let n = values.len().min(u32::MAX as usize - 1);
        self.pairs.clear();
        self.pairs.extend(values[..n].iter().enumerate().filter(|(_, v)| !v.is_nan()).map(|(i, &v)| (v, i as u32)));
        self.pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        self.rank.clear();
        self.rank.resize(n, u32::MAX);
        self.sorted.clear();
        for (r, &(v, i)) in self.pairs.iter().enumerate() {
            if let Some(slot) = self.rank.get_mut(i as usize) {
                *slot = r as u32;
            }
            self.sorted.push(v);
        }
        self.tree.clear();
        self.tree.resize(self.sorted.len() + 1, 0);
        self.present.clear();
        self.present.resize(n, false);
        self.len = 0;
    }

    /// Number of points in the set.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Adds point `i` (ignored if it is NaN, out of range or already present).
    pub(crate) fn insert(&mut self, i: usize) {
        self.update(i, true);
    }

    /// Removes point `i` (ignored if it is not present).
    pub(crate) fn remove(&mut self, i: usize) {
        self.update(i, false);
    }

    fn update(&mut self, i: usize, add: bool) {
        let (Some(&r), Some(present)) = (self.rank.get(i), self.present.get_mut(i)) else {
            return;
        };
        if r == u32::MAX || *present == add {
            return;
        }
        *present = add;
        if add {
            self.len += 1;
        } else {
            self.len -= 1;
        }
        let mut at = r as usize + 1;
        while let Some(c) = self.tree.get_mut(at) {
            *c = if add { *c + 1 } else { c.saturating_sub(1) };
            at += at & at.wrapping_neg();
        }
    }

    /// The `k`-th smallest value of the set (0-based), None if `k >= len`.
    pub(crate) fn kth(&self, k: usize) -> Option<f64> {
        if k >= self.len {
            return None;
        }
        // Binary lifting: the largest position whose prefix count is <= k.
        let size = self.tree.len() - 1;
        let mut step = if size == 0 { 0 } else { 1usize << (usize::BITS - 1 - size.leading_zeros()) };
        let (mut pos, mut remaining) = (0usize, k as u64);
        while step > 0 {
            if let Some(&c) = self.tree.get(pos + step)
                && u64::from(c) <= remaining
            {
                pos += step;
                remaining -= u64::from(c);
            }
            step >>= 1;
        }
        self.sorted.get(pos).copied()
    }

    /// Percentile `p` of the set, with the definition of [`crate::percentile_sorted`]
    /// (linear interpolation between closest ranks), computed with the same arithmetic as
    /// the selection-based percentiles so that the results are identical. NaN if empty.
    pub(crate) fn percentile(&self, p: f64) -> f64 {
        let n = self.len;
        if n == 0 || p.is_nan() {
            return f64::NAN;
        }
        let r = p.clamp(0.0, 100.0) / 100.0 * (n - 1) as f64;
        let lo = (r.floor() as usize).min(n - 1);
        let frac = r - lo as f64;
        let Some(a) = self.kth(lo) else {
            return f64::NAN;
        };
        match self.kth(lo + 1) {
            Some(b) if frac > 0.0 => crate::stats::lerp(a, b, frac),
            _ => a,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::percentile_sorted;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn sliding_percentiles_match_sorting(
            v in proptest::collection::vec(prop_oneof![4 => -1e3f64..1e3, 1 => Just(f64::NAN), 1 => Just(2.0)], 0..200),
            w in 1usize..40,
            p in 0.0f64..100.0,
        ) {
            let mut t = RankTree::default();
            t.build(&v);
            for i in 0..v.len() {
                t.insert(i);
                if i >= w {
                    t.remove(i - w);
                }
                let mut window: Vec<f64> = v[i + 1 - w.min(i + 1)..=i].iter().copied().filter(|x| !x.is_nan()).collect();
                window.sort_by(f64::total_cmp);
                prop_assert_eq!(t.len(), window.len());
                let want = percentile_sorted(&window, p);
                let got = t.percentile(p);
                prop_assert!(want.to_bits() == got.to_bits() || (want - got).abs() <= 1e-12 * (1.0 + want.abs()));
            }
        }
    }

    #[test]
    fn ignores_bad_updates() {
        let mut t = RankTree::default();
        t.build(&[f64::NAN, 1.0]);
        t.insert(0);
        t.insert(5);
        t.remove(1);
        assert_eq!(t.len(), 0);
        t.insert(1);
        t.insert(1);
        assert_eq!(t.len(), 1);
        assert_eq!(t.kth(0), Some(1.0));
        assert_eq!(t.kth(1), None);
        t.build(&[]);
        assert!(t.percentile(50.0).is_nan());
    }
}
