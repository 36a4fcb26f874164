//! The MMIO test device's register block and DMA pattern, as a guest drives them. The device
//! model is `devices/src/test_device.rs`, whose module docs are the specification; the offsets,
//! status codes and the pattern generator here must match it.
//!
//! The device sits at guest-physical [`BASE`] (identity-mapped by the contract's page tables):
//! scratch RAM at 0x000–0xEFF, registers from [`DMA_ADDRESS`] up.

use core::ptr;

/// The device's guest-physical base.
pub const BASE: u64 = 0xFEB0_0000;
/// DMA target, guest-physical (8 bytes).
pub const DMA_ADDRESS: u64 = 0xF00;
/// DMA length in bytes (4 bytes), 1..=[`MAX_DMA_LENGTH`].
pub const DMA_LENGTH: u64 = 0xF08;
/// Seed of the pattern (4 bytes).
pub const DMA_SEED: u64 = 0xF0C;
/// The interrupt line the device drives (4 bytes, default [`DEFAULT_IRQ`]).
pub const IRQ_LINE: u64 = 0xF10;
/// Control (4 bytes): [`CONTROL_START`].
pub const CONTROL: u64 = 0xF14;
/// Status of the last transfer (4 bytes); any write acknowledges and withdraws the interrupt.
pub const STATUS: u64 = 0xF18;
/// Bit 0 holds the line asserted (4 bytes).
pub const LEVEL_IRQ: u64 = 0xF1C;
/// Rising edges the device drove since power-on (4 bytes, read-only).
pub const IRQ_COUNT: u64 = 0xF20;
/// Transfers completed since power-on (4 bytes, read-only).
pub const DMA_DONE_COUNT: u64 = 0xF24;

/// CONTROL: start a transfer.
pub const CONTROL_START: u32 = 1;
/// STATUS: no transfer (or acknowledged).
pub const STATUS_IDLE: u32 = 0;
/// STATUS: the pattern is in guest RAM.
pub const STATUS_DONE: u32 = 1;
/// STATUS: the target is not all guest RAM; nothing was written.
pub const STATUS_DMA_ERROR: u32 = 2;
/// STATUS: length 0 or above [`MAX_DMA_LENGTH`].
pub const STATUS_BAD_LENGTH: u32 = 3;
/// The longest transfer.
pub const MAX_DMA_LENGTH: u32 = 64 * 1024;
/// The device's line after power-on.
pub const DEFAULT_IRQ: u8 = 5;

/// The pattern generator's multiplier and increment (Numerical Recipes' 32-bit LCG).
const PATTERN_MULTIPLIER: u32 = 1_664_525;
const PATTERN_INCREMENT: u32 = 1_013_904_223;
/// The byte is the state's top eight bits.
const PATTERN_BYTE_SHIFT: u32 = 24;

/// Reads the 32-bit register at `offset`.
pub fn read32(offset: u64) -> u32 {
    // SAFETY: BASE + offset lies in the device's MMIO window (offsets are the constants above,
    // 4-byte aligned); no Rust object lives there.
    unsafe { ptr::read_volatile((BASE + offset) as *const u32) }
}

/// Writes the 32-bit register at `offset`.
pub fn write32(offset: u64, value: u32) {
    // SAFETY: as in `read32`.
    unsafe { ptr::write_volatile((BASE + offset) as *mut u32, value) }
}

/// Writes the 64-bit register at `offset`.
pub fn write64(offset: u64, value: u64) {
    // SAFETY: as in `read32` (8-byte aligned for DMA_ADDRESS).
    unsafe { ptr::write_volatile((BASE + offset) as *mut u64, value) }
}

/// Reads the 64-bit register at `offset`.
pub fn read64(offset: u64) -> u64 {
    // SAFETY: as in `write64`.
    unsafe { ptr::read_volatile((BASE + offset) as *const u64) }
}

/// Programs a transfer of `length` pattern bytes of `seed` to `gpa` and starts it. The device
/// finishes it within this write: STATUS is final when it returns, and the completion
/// interrupt is raised.
///
/// # Safety
/// The device writes `length` bytes at guest-physical `gpa` behind the compiler's back: the
/// caller must own that memory (no live Rust reference to it) or expect the write to be
/// refused (a range that is not guest RAM).
pub unsafe fn start_dma(gpa: u64, length: u32, seed: u32) {
    write64(DMA_ADDRESS, gpa);
    write32(DMA_LENGTH, length);
    write32(DMA_SEED, seed);
    write32(CONTROL, CONTROL_START);
}

/// Acknowledges the last transfer (STATUS back to idle, completion interrupt withdrawn).
pub fn acknowledge() {
    write32(STATUS, 0);
}

/// Holds the device's line asserted (`true`) or releases it.
pub fn set_level_irq(asserted: bool) {
    write32(LEVEL_IRQ, u32::from(asserted));
}

/// The pattern byte after `state`, and the next state.
const fn pattern_step(state: u32) -> (u32, u8) {
    let next = state
        .wrapping_mul(PATTERN_MULTIPLIER)
        .wrapping_add(PATTERN_INCREMENT);
    (next, (next >> PATTERN_BYTE_SHIFT) as u8)
}

/// The index of the first byte of `bytes` that differs from the pattern of `seed`.
pub fn pattern_mismatch(seed: u32, bytes: &[u8]) -> Option<usize> {
    let mut state = seed;
    bytes.iter().position(|&actual| {
        let (next, expected) = pattern_step(state);
        state = next;
        actual != expected
    })
}
