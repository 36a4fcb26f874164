//! The isolation probes of the `escape_*` guests (platform contract: "Any guest-physical
//! address that is neither RAM nor a device stops the VM with a diagnostic (read, write or
//! execute)"; RSI = the hypervisor's own physical load address).
//!
//! Each probe first writes a pattern over guest-physical RSI: the hypervisor's physical address
//! is, for the guest, an ordinary address of its own RAM (EPT maps guest RAM to other host
//! frames), so the pattern must read back and the hypervisor must live on; a second VM started
//! after this one shows that it did. The probe skips bytes the guest itself needs (the page
//! tables below [`RESERVED_LOW`], its own image, the stack at the top of RAM) and says so.
//!
//! Then it reads, writes or jumps to [`BEYOND_RAM`] bytes past the end of RAM, which is neither
//! RAM nor a device: the VM must stop there. If the access returns, the guest prints what
//! happened and exits with [`STATUS_FAILURE`].

use core::arch::asm;
use core::ops::Range;
use core::ptr;

use crate::{BootInfo, STATUS_FAILURE, println};

/// Guest RAM below this holds the contract's page tables (0x1000..0x8000).
pub const RESERVED_LOW: u64 = 0x8000;
/// Bytes at the top of RAM kept for the stack.
pub const STACK_RESERVE: u64 = 256 * 1024;
/// Bytes of pattern written from RSI on.
pub const PATTERN_BYTES: u64 = 64 * 1024;
/// How far past the end of RAM the probe goes.
pub const BEYOND_RAM: u64 = 16 * 1024 * 1024;
/// The probe address must stay below the PCI/MMIO hole (devices live above), inside the
/// contract's 4 GiB identity map.
pub const PROBE_LIMIT: u64 = 0xC000_0000;
/// Mixed into each pattern quadword so it cannot be mistaken for zeroed memory.
const PATTERN_SEED: u64 = 0xA5C3_5A3C_0F1E_2D4B;

/// Which access the probe makes beyond RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Execute,
}

unsafe extern "C" {
    /// The first byte of the guest's image (the ELF header), defined by the linker.
    static __ehdr_start: u8;
    /// The first byte past the guest's image (end of .bss), defined by the linker.
    static _end: u8;
}

/// The guest-physical bytes of the guest's own image.
fn image() -> Range<u64> {
    (&raw const __ehdr_start) as u64..(&raw const _end) as u64
}

/// Whether two ranges share an address.
fn overlaps(a: &Range<u64>, b: &Range<u64>) -> bool {
    a.start < b.end && b.start < a.end
}

/// The pattern quadword for address `addr`.
const fn pattern(addr: u64) -> u64 {
    addr ^ PATTERN_SEED
}

/// Writes the pattern over `[RSI, RSI + PATTERN_BYTES)` where that is guest RAM the guest does
/// not need, and checks it reads back. Returns whether it did (false: skipped or mismatch).
pub fn overwrite_hypervisor_address(boot: &BootInfo) -> bool {
    let start = boot.hypervisor_phys & !7;
    let Some(end) = start.checked_add(PATTERN_BYTES) else {
        println!("hypervisor address {start:#x}: pattern would wrap; skipped");
        return false;
    };
    let target = start..end;
    let usable = RESERVED_LOW..boot.ram_bytes.saturating_sub(STACK_RESERVE);
    if target.start < usable.start || target.end > usable.end {
        println!(
            "hypervisor address {start:#x} is not free guest RAM ({:#x}..{:#x}); pattern skipped",
            usable.start, usable.end
        );
        return false;
    }
    if overlaps(&target, &image()) {
        println!("hypervisor address {start:#x} overlaps this guest's image; pattern skipped");
        return false;
    }
    for addr in target.clone().step_by(8) {
        // SAFETY: `addr` is 8-byte aligned guest RAM inside `usable` and outside the image and
        // stack: memory no Rust object of this guest occupies (identity-mapped).
        unsafe { ptr::write_volatile(addr as *mut u64, pattern(addr)) };
    }
    let mismatches = target
        .clone()
        .step_by(8)
        // SAFETY: the same addresses just written.
        .filter(|&addr| unsafe { ptr::read_volatile(addr as *const u64) } != pattern(addr))
        .count();
    println!(
        "wrote {PATTERN_BYTES} bytes of pattern at the hypervisor's physical address {start:#x}: {mismatches} quadwords differ on read-back"
    );
    mismatches == 0
}

/// The address [`BEYOND_RAM`] past the end of RAM, if it lies below [`PROBE_LIMIT`].
pub fn beyond_ram(boot: &BootInfo) -> Option<u64> {
    boot.ram_bytes
        .checked_add(BEYOND_RAM)
        .filter(|&addr| addr < PROBE_LIMIT)
}

/// The whole probe: overwrite RSI, then `access` beyond RAM. Returns only if the VM was not
/// stopped, with the exit status to report.
pub fn run(boot: &BootInfo, access: Access) -> u32 {
    if !overwrite_hypervisor_address(boot) {
        println!("(the pattern check did not run or failed; continuing with the access)");
    }
    let Some(addr) = beyond_ram(boot) else {
        println!(
            "RAM of {:#x} bytes leaves no probe address below {PROBE_LIMIT:#x}",
            boot.ram_bytes
        );
        return STATUS_FAILURE;
    };
    println!(
        "{access:?} at guest-physical {addr:#x} (RAM ends at {:#x}): the VM must stop",
        boot.ram_bytes
    );
    match access {
        Access::Read => {
            // SAFETY: the address is outside guest RAM; the hypervisor must stop the VM. If it
            // returns a value instead, no Rust object is affected by reading it.
            let value = unsafe { ptr::read_volatile(addr as *const u64) };
            println!("the read returned {value:#x}: the VM was not stopped");
        }
        Access::Write => {
            // SAFETY: the address is outside guest RAM and the guest's image; no Rust object
            // lives there.
            unsafe { ptr::write_volatile(addr as *mut u64, pattern(addr)) };
            println!("the write returned: the VM was not stopped");
        }
        Access::Execute => {
            // SAFETY: the address is outside guest RAM; the instruction fetch must stop the VM.
            // Should code run there and return, every caller-saved register is declared clobbered.
            unsafe { asm!("call {}", in(reg) addr, clobber_abi("sysv64")) };
            println!("the call returned: the VM was not stopped");
        }
    }
    STATUS_FAILURE
}
