//! The lapic model under arbitrary register traffic, interrupts and clock advances (the body is
//! `devices::lapic::fuzz_lapic`, also run over pseudo-random inputs by the unit tests): no panic,
//! bounded state.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| devices::lapic::fuzz_lapic(data));
