//! The fuzz body on deterministic pseudo-random inputs, so `cargo test` covers what the fuzzer
//! checks even without a fuzzing run.

use alloc::vec::Vec;

use super::fuzz::MAX_STEPS;
use super::fuzz_ioapic;

/// Inputs per run.
const CASES: usize = 3_000;

#[test]
fn ioapic_fuzz_body_holds_its_invariants_on_random_traffic() {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut input = Vec::new();
    for _ in 0..CASES {
        input.clear();
        let steps = (next() % (MAX_STEPS as u64 / 4)) as usize;
        for _ in 0..steps {
            input.extend_from_slice(&next().to_le_bytes());
        }
        fuzz_ioapic(&input);
    }
}
