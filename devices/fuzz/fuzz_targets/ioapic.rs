//! The ioapic model under arbitrary register traffic, interrupts and clock advances (the body is
//! `devices::ioapic::fuzz_ioapic`, also run over pseudo-random inputs by the unit tests): no panic,
//! bounded state.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| devices::ioapic::fuzz_ioapic(data));
