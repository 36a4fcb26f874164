//! Memory isolation under time-slicing: the guest writes a pattern over nearly all of its RAM
//! and verifies it again and again while other VMs, scheduled in between on the same CPU, do
//! the same to their own RAM. Each VM's RAM is its own host memory behind its own EPT, so no
//! quadword may ever change behind the guest's back.
//!
//! The pattern of quadword address `a` is `a ^ seed`, where the seed mixes the RAM size and the
//! round number (SplitMix64's finaliser): VMs given different RAM sizes write different values,
//! so memory shared by mistake would show as mismatches. Covered: guest RAM from the end of the
//! contract's page tables ([`RESERVED_LOW`]) to the top of RAM less the stack
//! ([`STACK_RESERVE`]), except the guest's own image. The loops are assembly, so their speed does
//! not depend on the guests' optimisation level; each pass is hundreds of milliseconds of
//! emulated time, many scheduler slices.

#![no_std]
#![no_main]

use core::arch::asm;
use core::ops::Range;
use core::ptr;

use guests::check::Checks;
use guests::escape::{RESERVED_LOW, STACK_RESERVE};
use guests::{BootInfo, entry, println};

entry!(main);

/// Rounds of write-then-verify, each with a new pattern.
const ROUNDS: u64 = 2;
/// Verifications of each round's pattern.
const VERIFY_PASSES: u32 = 2;
/// Bytes per pattern element.
const QUADWORD: u64 = 8;
/// The least share of RAM the pattern must cover, in percent.
const MIN_COVERAGE_PERCENT: u64 = 90;
/// SplitMix64's increment and multipliers (Steele, Lea, Flood: "Fast splittable pseudorandom
/// number generators", OOPSLA 2014).
const SPLITMIX_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
const SPLITMIX_MUL1: u64 = 0xBF58_476D_1CE4_E5B9;
const SPLITMIX_MUL2: u64 = 0x94D0_49BB_1331_11EB;

unsafe extern "C" {
    /// The first byte of the guest's image (the ELF header), defined by the linker.
    static __ehdr_start: u8;
    /// The first byte past the guest's image (end of .bss), defined by the linker.
    static _end: u8;
}

/// The seed of round `round` for a VM with `ram_bytes` of RAM.
const fn seed(ram_bytes: u64, round: u64) -> u64 {
    let mut z = ram_bytes
        .wrapping_add(round.wrapping_mul(SPLITMIX_GAMMA))
        .wrapping_add(SPLITMIX_GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(SPLITMIX_MUL1);
    z = (z ^ (z >> 27)).wrapping_mul(SPLITMIX_MUL2);
    z ^ (z >> 31)
}

/// `value` rounded up to a quadword boundary.
const fn align_up(value: u64) -> u64 {
    value.saturating_add(QUADWORD - 1) & !(QUADWORD - 1)
}

/// The two stretches of RAM the pattern covers: below and above the guest's image.
fn pattern_ranges(ram_bytes: u64) -> [Range<u64>; 2] {
    let image_start = (&raw const __ehdr_start) as u64 & !(QUADWORD - 1);
    let image_end = align_up((&raw const _end) as u64);
    let top = ram_bytes.saturating_sub(STACK_RESERVE) & !(QUADWORD - 1);
    [
        RESERVED_LOW..image_start.clamp(RESERVED_LOW, top),
        image_end.clamp(RESERVED_LOW, top)..top,
    ]
}

/// The stack pointer now.
fn stack_pointer() -> u64 {
    let rsp: u64;
    // SAFETY: copies RSP into a register; nothing else is touched.
    unsafe { asm!("mov {}, rsp", out(reg) rsp, options(nomem, nostack, preserves_flags)) };
    rsp
}

/// Writes `address ^ seed` to every quadword of `range`.
///
/// # Safety
/// `range` must be quadword-aligned guest RAM that no Rust object occupies (identity-mapped).
unsafe fn fill(range: &Range<u64>, seed: u64) {
    if range.start >= range.end {
        return;
    }
    // SAFETY: the loop stores only inside `range`, which the caller vouches for.
    unsafe {
        asm!(
            "2:",
            "mov {value}, {address}",
            "xor {value}, {seed}",
            "mov qword ptr [{address}], {value}",
            "add {address}, 8",
            "cmp {address}, {end}",
            "jb 2b",
            address = inout(reg) range.start => _,
            end = in(reg) range.end,
            seed = in(reg) seed,
            value = out(reg) _,
            options(nostack),
        );
    }
}

/// The number of quadwords of `range` that do not hold `address ^ seed`.
///
/// # Safety
/// `range` must be quadword-aligned guest RAM (identity-mapped).
unsafe fn count_mismatches(range: &Range<u64>, seed: u64) -> u64 {
    if range.start >= range.end {
        return 0;
    }
    let mut mismatches: u64 = 0;
    // SAFETY: the loop only loads from `range`, which the caller vouches for.
    unsafe {
        asm!(
            "2:",
            "mov {value}, {address}",
            "xor {value}, {seed}",
            "cmp qword ptr [{address}], {value}",
            "je 3f",
            "inc {mismatches}",
            "3:",
            "add {address}, 8",
            "cmp {address}, {end}",
            "jb 2b",
            address = inout(reg) range.start => _,
            end = in(reg) range.end,
            seed = in(reg) seed,
            value = out(reg) _,
            mismatches = inout(reg) mismatches,
            options(nostack, readonly),
        );
    }
    mismatches
}

/// The first quadword of `range` that does not hold `address ^ seed`, and what it holds.
///
/// # Safety
/// As [`count_mismatches`].
unsafe fn first_mismatch(range: &Range<u64>, seed: u64) -> Option<(u64, u64)> {
    range
        .clone()
        .step_by(QUADWORD as usize)
        .find_map(|address| {
            // SAFETY: `address` is a quadword of `range`, guest RAM by the caller's word.
            let value = unsafe { ptr::read_volatile(address as *const u64) };
            (value != address ^ seed).then_some((address, value))
        })
}

fn main(boot: BootInfo) -> u32 {
    let mut checks = Checks::new();
    let ranges = pattern_ranges(boot.ram_bytes);
    let covered: u64 = ranges
        .iter()
        .map(|range| range.end.saturating_sub(range.start))
        .sum();
    let rsp = stack_pointer();
    let stack_clear = ranges.iter().all(|range| range.end <= rsp);
    checks.check(
        stack_clear,
        format_args!("the pattern ends below the stack (RSP {rsp:#x})"),
    );
    checks.check(
        covered.saturating_mul(100) >= boot.ram_bytes.saturating_mul(MIN_COVERAGE_PERCENT),
        format_args!(
            "the pattern covers {covered} of {} bytes of RAM",
            boot.ram_bytes
        ),
    );
    if !stack_clear {
        return checks.finish();
    }
    for round in 1..=ROUNDS {
        let seed = seed(boot.ram_bytes, round);
        for range in &ranges {
            // SAFETY: the ranges are quadword-aligned guest RAM between the contract's page
            // tables and the stack (checked above), outside this guest's image.
            unsafe { fill(range, seed) };
        }
        println!("round {round}/{ROUNDS}: pattern {seed:#018x} written");
        for pass in 1..=VERIFY_PASSES {
            let mut mismatches = 0u64;
            for range in &ranges {
                // SAFETY: as for `fill`.
                mismatches = mismatches.saturating_add(unsafe { count_mismatches(range, seed) });
            }
            checks.check(
                mismatches == 0,
                format_args!(
                    "round {round}/{ROUNDS} verification {pass}/{VERIFY_PASSES}: {mismatches} quadwords differ"
                ),
            );
            if mismatches != 0 {
                // SAFETY: as for `fill`.
                let first = ranges
                    .iter()
                    .find_map(|range| unsafe { first_mismatch(range, seed) });
                if let Some((address, value)) = first {
                    println!(
                        "first difference at {address:#x}: {value:#018x}, expected {:#018x}",
                        address ^ seed
                    );
                }
            }
        }
    }
    checks.finish()
}
