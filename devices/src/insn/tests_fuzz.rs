//! The fuzz body on deterministic pseudo-random inputs long enough to fill every register and
//! device value, so `cargo test` covers what the fuzzer checks even without a fuzzing run.

use alloc::vec::Vec;

use crate::test_random::XorShift64;

use super::fuzz_decode_and_emulate;

/// Inputs per run.
const CASES: usize = 100_000;
/// Header + instruction + GPA + 18 registers + device values.
const LONGEST_INPUT: usize = 1 + 15 + 8 + 18 * 8 + 32;

/// Opcodes the decoder accepts, so most inputs get past decoding.
const OPCODES: [u8; 16] = [
    0x01, 0x0B, 0x39, 0x80, 0x83, 0x85, 0x87, 0x88, 0x8B, 0xA1, 0xA5, 0xAB, 0xC7, 0xF7, 0xFF, 0x0F,
];
const PREFIXES: [u8; 9] = [0x66, 0x67, 0xF0, 0xF3, 0xF2, 0x64, 0x26, 0x48, 0x41];

#[test]
fn fuzz_body_holds_its_invariants_on_random_bytes_and_registers() {
    let mut random = XorShift64::new(0x0123_4567_89AB_CDEFu64);
    let mut next = move || random.next_u64();
    let mut input = Vec::with_capacity(LONGEST_INPUT);
    for case in 0..CASES {
        input.clear();
        let length = (next() % (LONGEST_INPUT as u64 + 1)) as usize;
        input.extend((0..length).map(|_| next() as u8));
        // Three inputs in four start with a plausible instruction: prefixes, then an opcode.
        if case % 4 != 0 && input.len() > 3 {
            let prefix = PREFIXES[(next() % PREFIXES.len() as u64) as usize];
            input[1] = if next() % 2 == 0 { prefix } else { input[1] };
            input[2] = OPCODES[(next() % OPCODES.len() as u64) as usize];
        }
        fuzz_decode_and_emulate(&input);
    }
}
