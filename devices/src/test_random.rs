//! xorshift64 (Marsaglia, "Xorshift RNGs", 2003: shifts 13, 7, 17): the one deterministic
//! pseudo-random sequence the unit tests drive models and decoders with, so a failure
//! reproduces from its seed.

/// A xorshift64 generator; the seed must not be zero.
#[derive(Debug, Clone)]
pub(crate) struct XorShift64(u64);

impl XorShift64 {
    /// A generator starting from `seed` (non-zero).
    pub(crate) const fn new(seed: u64) -> Self {
        XorShift64(seed)
    }

    /// The next value.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value below `bound` (0 for a bound of 0).
    pub(crate) fn below(&mut self, bound: usize) -> usize {
        usize::try_from(self.next_u64() % u64::try_from(bound).unwrap_or(u64::MAX).max(1))
            .unwrap_or(0)
    }

    /// A byte: the low byte of the next value.
    pub(crate) fn byte(&mut self) -> u8 {
        self.next_u64().to_le_bytes()[0]
    }
}

#[test]
fn the_sequence_is_marsaglias_xorshift64() {
    let mut random = XorShift64::new(1);
    // 1 → 1 ^ 1<<13 = 0x2001 → ^ >>7 = 0x2041 → ^ <<17 = 0x4082_2041.
    assert_eq!(random.next_u64(), 0x4082_2041);
}
