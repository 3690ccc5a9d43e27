//! The standard normal distribution's tail and quantile, for mapping scores to
//! probabilities and confidences to thresholds.

/// `P(Z > z)` for a standard normal `Z` (1 at -inf, 0 at +inf, NaN for NaN), accurate to
/// about 1e-14 relative over the whole range, deep tail included (where anomaly scores
/// live).
pub(crate) fn upper_tail(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    0.5 * erfc(z * std::f64::consts::FRAC_1_SQRT_2)
}

/// `-log10 P(Z > z)`, accurate also where the tail underflows (z beyond ~38): there the
/// asymptotic expansion `log(φ(z) / z)` is used. +inf for z = +inf.
pub(crate) fn upper_tail_log10(z: f64) -> f64 {
    if z.is_nan() {
        return 0.0;
    }
    if z < 30.0 {
        return -upper_tail(z).log10();
    }
    // log P ≈ -z²/2 - ln(z √(2π)) for large z.
    let ln_p = -0.5 * z * z - (z * (2.0 * std::f64::consts::PI).sqrt()).ln();
    -ln_p / std::f64::consts::LN_10
}

/// Complementary error function. Below 2.5: `1 - erf(x)` with erf's series of positive
/// terms `2/√π e^{-x²} Σ 2^k x^{2k+1} / (1·3···(2k+1))` (no cancellation; erfc(2.5) is
/// still 4e-4, so the subtraction loses under three digits). From 2.5: the continued
/// fraction `e^{-x²}/√π / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))`, evaluated backwards
/// from a fixed depth that is ample at x >= 2.5.
fn erfc(x: f64) -> f64 {
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x.is_infinite() {
        return 0.0;
    }
    let front = (-x * x).exp() / std::f64::consts::PI.sqrt();
    if x < 2.5 {
        let (mut term, mut sum) = (x, x);
        for k in 1..200 {
            term *= 2.0 * x * x / (2 * k + 1) as f64;
            sum += term;
            if term < 1e-17 * sum {
                break;
            }
        }
        1.0 - 2.0 * front * sum
    } else {
        let mut f = x;
        for k in (1..=60).rev() {
            f = x + (k as f64 / 2.0) / f;
        }
        front / f
    }
}

/// The `p`-quantile of the standard normal (Acklam's rational approximation refined by one
/// Halley step, relative error ~1e-15): -inf at 0, +inf at 1, NaN outside `[0, 1]`.
pub(crate) fn quantile(p: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] =
        [7.784_695_709_041_462e-3, 3.224_671_290_700_398e-1, 2.445_134_137_142_996, 3.754_408_661_907_416];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    // One Halley step on Φ(x) - p.
    let e = (1.0 - upper_tail(x)) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (0.5 * x * x).exp();
    let refined = x - u / (1.0 + 0.5 * x * u);
    if refined.is_finite() { refined } else { x }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert!((upper_tail(0.0) - 0.5).abs() < 1e-9);
        assert!((upper_tail(1.959_963_985) - 0.025).abs() < 1e-8);
        assert!((upper_tail(-1.959_963_985) - 0.975).abs() < 1e-8);
        assert!((upper_tail(4.0) / 3.167_124_183_311_992e-5 - 1.0).abs() < 1e-12);
        for (x, want) in
            [(2.5, 4.069_520_174_449_59e-4), (3.0, 2.209_049_699_858_544e-5), (5.0, 1.537_459_794_428_035e-12)]
        {
            assert!((erfc(x) / want - 1.0).abs() < 1e-12, "{x}");
        }
        assert!((erfc(2.4999) / erfc(2.5001) - 1.0).abs() < 2e-3);
        assert!((erfc(1.0) - 0.157_299_207_050_285_1).abs() < 1e-15);
        assert!((quantile(0.99) - 2.326_347_874).abs() < 1e-6);
        assert!((quantile(0.5)).abs() < 1e-9);
        assert!((quantile(0.001) + 3.090_232_306).abs() < 1e-6);
        assert_eq!(quantile(1.0), f64::INFINITY);
        assert!(quantile(1.5).is_nan());
        assert!((upper_tail_log10(4.0) - 4.499_336).abs() < 1e-4);
        let (a, b) = (upper_tail_log10(29.999), upper_tail_log10(30.001));
        assert!(b > a && b - a < 0.03, "{a} {b}");
        assert_eq!(upper_tail_log10(f64::INFINITY), f64::INFINITY);
        assert_eq!(upper_tail_log10(f64::NAN), 0.0);
    }
}
