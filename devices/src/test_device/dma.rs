//! The MMIO test device's DMA engine: one transfer writes a deterministic byte pattern into
//! guest RAM through the context (operation 6), staging it in a bounce buffer the VMM lends
//! (operations 16 and 17), so a test guest can check the whole device → VMM → guest-RAM path
//! byte by byte.
//!
//! # The pattern
//! A 32-bit linear congruential generator (Numerical Recipes' constants, Press et al.,
//! "Numerical Recipes in C", 2nd ed., §7.1): `state₀ = seed`, and for byte `i`
//! `stateᵢ₊₁ = stateᵢ × 1664525 + 1013904223 (mod 2³²)`, `byte[i] = stateᵢ₊₁ >> 24`. Any seed
//! works (0 included), and a guest reproduces it with three integer operations per byte.

use super::registers::{
    MAX_DMA_LENGTH, STATUS_BAD_LENGTH, STATUS_DMA_ERROR, STATUS_DONE, STATUS_NO_MEMORY,
};
use crate::interface::{AllocError, DeviceContext, DmaError, Gpa};

/// The generator's multiplier.
pub const PATTERN_MULTIPLIER: u32 = 1_664_525;
/// The generator's increment.
pub const PATTERN_INCREMENT: u32 = 1_013_904_223;
/// Which bits of the state become the byte (the high ones: the low bits of an LCG with a
/// power-of-two modulus have short periods).
const PATTERN_BYTE_SHIFT: u32 = 24;

/// The generator state after `state`.
pub const fn next_state(state: u32) -> u32 {
    state
        .wrapping_mul(PATTERN_MULTIPLIER)
        .wrapping_add(PATTERN_INCREMENT)
}

/// Fills `buf` with the pattern of `seed`.
pub fn fill_pattern(seed: u32, buf: &mut [u8]) {
    let mut state = seed;
    for byte in buf {
        state = next_state(state);
        *byte = (state >> PATTERN_BYTE_SHIFT) as u8;
    }
}

/// Why a transfer wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferError {
    /// The length register was 0 or above [`MAX_DMA_LENGTH`].
    BadLength(u32),
    /// The VMM refused the bounce buffer.
    NoMemory(AllocError),
    /// The target range is not guest RAM.
    Dma(DmaError),
}

impl TransferError {
    /// The STATUS register value that reports it.
    pub const fn status(self) -> u32 {
        match self {
            TransferError::BadLength(_) => STATUS_BAD_LENGTH,
            TransferError::NoMemory(_) => STATUS_NO_MEMORY,
            TransferError::Dma(_) => STATUS_DMA_ERROR,
        }
    }
}

/// The STATUS value after a transfer that ended with `result`.
pub const fn status_of(result: Result<(), TransferError>) -> u32 {
    match result {
        Ok(()) => STATUS_DONE,
        Err(error) => error.status(),
    }
}

/// One transfer: `length` pattern bytes of `seed` to guest-physical `gpa`. The bounce buffer
/// is always given back, whether the write succeeded or not. The context checks the whole
/// range before writing, so a refused transfer leaves guest RAM untouched.
pub fn transfer(
    ctx: &mut dyn DeviceContext,
    gpa: Gpa,
    length: u32,
    seed: u32,
) -> Result<(), TransferError> {
    if length == 0 || length > MAX_DMA_LENGTH {
        return Err(TransferError::BadLength(length));
    }
    let bytes = usize::try_from(length).map_err(|_| TransferError::BadLength(length))?;
    let mut buffer = ctx.alloc(bytes).map_err(TransferError::NoMemory)?;
    fill_pattern(seed, &mut buffer.bytes);
    let written = ctx.dma_write(gpa, &buffer.bytes);
    // A `Foreign` answer would mean the context lost track of its own allocation; the bytes
    // are gone either way and the transfer's outcome does not depend on it.
    let _ = ctx.free(buffer);
    written.map_err(TransferError::Dma)
}
