//! The CPU's interrupt flag and HLT for the interrupt test guests (Intel SDM vol. 2: STI, CLI,
//! HLT, PUSHF; vol. 3A §6.8.3 "Masking Maskable Hardware Interrupts").
//!
//! `sti` blocks interrupts for one more instruction, so `sti; hlt` is atomic: an interrupt that
//! is already pending wakes the HLT instead of being taken before it and leaving the CPU asleep
//! ([`enable_and_halt`]). None of these is `nomem`: each is a compiler barrier, so the counters
//! handlers update are re-read after it.

use core::arch::asm;

/// RFLAGS.IF.
pub const RFLAGS_IF: u64 = 1 << 9;

/// Lets maskable interrupts in (`sti`).
pub fn enable() {
    // SAFETY: setting IF only lets interrupts in; the IDT the kit installed handles them.
    unsafe { asm!("sti", options(nostack, preserves_flags)) };
}

/// Holds maskable interrupts off (`cli`).
pub fn disable() {
    // SAFETY: clearing IF only defers interrupts.
    unsafe { asm!("cli", options(nostack, preserves_flags)) };
}

/// Whether maskable interrupts are enabled (RFLAGS.IF).
pub fn enabled() -> bool {
    let rflags: u64;
    // SAFETY: pushes RFLAGS and pops it into a register: the stack is back where it was.
    unsafe { asm!("pushfq", "pop {}", out(reg) rflags, options(nomem, preserves_flags)) };
    rflags & RFLAGS_IF != 0
}

/// `sti; hlt`: waits for the next interrupt with interrupts enabled, and returns after its
/// handler ran. IF stays set.
pub fn enable_and_halt() {
    // SAFETY: as `enable`; HLT only waits.
    unsafe { asm!("sti", "hlt", options(nostack, preserves_flags)) };
}

/// Runs `f` with interrupts off, then restores IF as it was (for multi-access sequences that a
/// handler must not interleave with, such as an index/data port pair).
pub fn without<R>(f: impl FnOnce() -> R) -> R {
    let was_enabled = enabled();
    disable();
    let result = f();
    if was_enabled {
        enable();
    }
    result
}

/// A hint to the CPU inside a spin-wait loop (`pause`).
pub fn spin_hint() {
    core::hint::spin_loop();
}

/// Spins until `done()` holds, asking at most `limit` times (with a `pause` between): whether
/// it held. The loop itself causes no VM exit, so an interrupt that ends it reached the guest
/// while it was running.
pub fn spin_until(limit: u64, mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..limit {
        if done() {
            return true;
        }
        spin_hint();
    }
    done()
}

/// Spins `iterations` times without I/O (no exits: the guest just runs).
pub fn spin(iterations: u64) {
    for _ in 0..iterations {
        spin_hint();
    }
}
