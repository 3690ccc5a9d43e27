//! A tiny xorshift generator for the crate's unit tests: deterministic, no dependencies.

pub(crate) struct XorShift(pub(crate) u64);

impl XorShift {
    /// Uniform in [0, 1).
    pub(crate) fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [-1, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        self.uniform() * 2.0 - 1.0
    }

    /// Approximately standard normal (Irwin–Hall with 12 terms), bounded by ±6.
    pub(crate) fn normal(&mut self) -> f64 {
        (0..12).map(|_| self.uniform()).sum::<f64>() - 6.0
    }
}
