//! Gap filling for regular series (ADX `make-series` `default=` semantics).
//!
//! A gap is a NaN. Only NaN counts as missing: ±inf are values and are carried or
//! interpolated like any other (interpolating towards an infinity yields that infinity, or
//! NaN between opposite infinities, which is the arithmetic truth).

/// How to fill the NaN gaps of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fill {
    /// Put this constant in every gap (`make-series ... default=c`).
    Const(f64),
    /// Leave gaps as NaN (`default=double(null)`).
    Null,
    /// Interpolate linearly between the nearest valid neighbours; at the edges, where one
    /// neighbour is missing, extend the nearest valid value (ADX `series_fill_linear` with
    /// its default `fill_edges=true`).
    Linear,
    /// Carry the last valid value forward (`series_fill_forward`); leading gaps stay NaN.
    Forward,
    /// Carry the next valid value backward (`series_fill_backward`); trailing gaps stay NaN.
    Backward,
}

/// Fills NaN gaps in place according to `fill`. Never allocates.
///
/// `Linear` extends the nearest valid value into leading and trailing gaps rather than
/// leaving them NaN: a series that starts or ends with missing buckets would otherwise
/// keep NaN edges that every downstream kernel has to special-case. A series without any
/// valid value is left untouched by `Linear`, `Forward` and `Backward`.
pub fn fill_gaps(values: &mut [f64], fill: Fill) {
    match fill {
        Fill::Null => {}
        Fill::Const(c) => values.iter_mut().filter(|v| v.is_nan()).for_each(|v| *v = c),
        Fill::Forward => {
            let mut last = f64::NAN;
            for v in values.iter_mut() {
                if v.is_nan() {
                    *v = last;
                } else {
                    last = *v;
                }
            }
        }
        Fill::Backward => {
            let mut next = f64::NAN;
            for v in values.iter_mut().rev() {
                if v.is_nan() {
                    *v = next;
                } else {
                    next = *v;
                }
            }
        }
        Fill::Linear => fill_linear(values),
    }
}

fn fill_linear(values: &mut [f64]) {
    // Index and value of the previous valid point, if any.
    let mut prev: Option<(usize, f64)> = None;
    for i in 0..values.len() {
        let v = values[i];
        if v.is_nan() {
            continue;
        }
        let gap_start = prev.map_or(0, |(p, _)| p + 1);
        if let Some(gap) = values.get_mut(gap_start..i) {
            match prev {
                // Leading edge: extend the first valid value backwards.
                None => gap.fill(v),
                Some((p, a)) => {
                    let span = (i - p) as f64;
                    for (k, slot) in gap.iter_mut().enumerate() {
                        let t = (k + 1) as f64 / span;
                        *slot = interpolate(a, v, t);
                    }
                }
            }
        }
        prev = Some((i, v));
    }
    // Trailing edge: extend the last valid value forwards.
    if let Some((p, a)) = prev
        && let Some(tail) = values.get_mut(p + 1..)
    {
        tail.fill(a);
    }
}

/// Convex combination that cannot overflow for finite endpoints (unlike `a + (b - a) * t`
/// with `a = -b = 1.7e308`).
fn interpolate(a: f64, b: f64, t: f64) -> f64 {
    if a == b { a } else { a * (1.0 - t) + b * t }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const N: f64 = f64::NAN;

    fn filled(mut v: Vec<f64>, fill: Fill) -> Vec<f64> {
        fill_gaps(&mut v, fill);
        v
    }

    /// Equality that treats NaN as equal to NaN.
    fn same(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x.is_nan() && y.is_nan()) || (x - y).abs() < 1e-12)
    }

    #[test]
    fn const_fill() {
        let v = filled(vec![N, 1.0, N, N, 4.0, N], Fill::Const(0.0));
        assert!(same(&v, &[0.0, 1.0, 0.0, 0.0, 4.0, 0.0]));
    }

    #[test]
    fn null_fill_leaves_gaps() {
        let v = filled(vec![N, 1.0, N], Fill::Null);
        assert!(same(&v, &[N, 1.0, N]));
    }

    #[test]
    fn linear_fill_interpolates_and_extends_edges() {
        let v = filled(vec![N, N, 1.0, N, N, 4.0, N], Fill::Linear);
        assert!(same(&v, &[1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 4.0]));
        let v = filled(vec![N, N], Fill::Linear);
        assert!(same(&v, &[N, N]));
        let v = filled(vec![-1.7e308, N, 1.7e308], Fill::Linear);
        assert!(same(&v, &[-1.7e308, 0.0, 1.7e308]));
    }

    #[test]
    fn forward_fill() {
        let v = filled(vec![N, 1.0, N, N, 4.0, N], Fill::Forward);
        assert!(same(&v, &[N, 1.0, 1.0, 1.0, 4.0, 4.0]));
    }

    #[test]
    fn backward_fill() {
        let v = filled(vec![N, 1.0, N, N, 4.0, N], Fill::Backward);
        assert!(same(&v, &[1.0, 1.0, 4.0, 4.0, 4.0, N]));
    }

    #[test]
    fn empty_and_single() {
        for fill in [Fill::Const(1.0), Fill::Null, Fill::Linear, Fill::Forward, Fill::Backward] {
            assert!(filled(vec![], fill).is_empty());
            assert_eq!(filled(vec![2.0], fill), vec![2.0]);
        }
    }

    proptest! {
        #[test]
        fn linear_fill_leaves_no_gap_when_any_value_is_valid(
            v in proptest::collection::vec(prop_oneof![Just(f64::NAN), -1e300f64..1e300], 0..100)
        ) {
            let any_valid = v.iter().any(|x| !x.is_nan());
            let original = v.clone();
            let out = filled(v, Fill::Linear);
            prop_assert_eq!(out.len(), original.len());
            if any_valid {
                prop_assert!(out.iter().all(|x| x.is_finite()));
            }
            for (o, x) in out.iter().zip(&original) {
                if !x.is_nan() {
                    prop_assert_eq!(o, x);
                }
            }
        }
    }
}
