//! The fuzz body on deterministic pseudo-random inputs, so `cargo test` covers what the fuzzer
//! checks even without a fuzzing run.

use alloc::vec::Vec;

use crate::test_random::XorShift64;

use super::fuzz::MAX_STEPS;
use super::fuzz_lapic;

/// Inputs per run.
const CASES: usize = 3_000;

#[test]
fn lapic_fuzz_body_holds_its_invariants_on_random_traffic() {
    let mut random = XorShift64::new(0x9E37_79B9_7F4A_7C15u64);
    let mut next = move || random.next_u64();
    let mut input = Vec::new();
    for _ in 0..CASES {
        input.clear();
        let steps = (next() % (MAX_STEPS as u64 / 4)) as usize;
        for _ in 0..steps {
            input.extend_from_slice(&next().to_le_bytes());
        }
        fuzz_lapic(&input);
    }
}
