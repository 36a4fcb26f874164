//! The MMIO instruction decoder and emulator on arbitrary bytes, modes and registers: no
//! panic, lengths within 1–15, and the invariants `devices::insn::fuzz_decode_and_emulate`
//! checks (registers untouched on failure, RIP wrapped to the mode, only status flags change).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| devices::insn::fuzz_decode_and_emulate(data));
