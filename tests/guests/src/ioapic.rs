//! The I/O APIC as the APIC test guests program it (Intel 82093AA datasheet, order 290566,
//! section 3: IOREGSEL/IOWIN, IOAPICVER, the redirection table; the EOI register of the
//! version-0x20 I/O APICs in Intel's ICH/PCH datasheets).
//!
//! The hypervisor puts it at [`BASE`] when the VM runs with `vm_apic=on`, with the PC's ISA
//! wiring: ISA IRQ n on pin n, except the PIT's IRQ 0, which arrives on pin 2 ([`isa_pin`],
//! the usual MP/ACPI interrupt-source override). Every access is an index write to IOREGSEL and
//! a data access at IOWIN, so each pair runs with interrupts off
//! ([`crate::interrupts::without`]): a handler's own access in between would redirect it.

use core::ptr;

use crate::interrupts;

/// The I/O APIC's MMIO base.
pub const BASE: u64 = 0xFEC0_0000;
/// IOREGSEL: bits 7:0 select the register IOWIN reaches.
pub const IOREGSEL: u64 = 0x00;
/// IOWIN: the selected register.
pub const IOWIN: u64 = 0x10;

/// IOAPICID (ID in bits 27:24).
pub const REG_ID: u8 = 0x00;
/// IOAPICVER: version in bits 7:0, highest redirection entry in bits 23:16.
pub const REG_VERSION: u8 = 0x01;
/// Redirection entry `n`: low dword at `0x10 + 2n`, high dword at `0x11 + 2n`.
pub const REG_REDIRECTION_FIRST: u8 = 0x10;

/// IOAPICVER bits 7:0.
pub const VERSION_MASK: u32 = 0xFF;
/// IOAPICVER: shift of the highest redirection entry.
pub const VERSION_MAX_ENTRY_SHIFT: u32 = 16;
/// IOAPICVER: the highest-entry field after the shift.
pub const VERSION_MAX_ENTRY_MASK: u32 = 0xFF;

/// Redirection entry bits 7:0: vector.
pub const ENTRY_VECTOR: u64 = 0xFF;
/// Bits 10:8 = 000: fixed delivery.
pub const ENTRY_FIXED: u64 = 0;
/// Bit 11: logical destination mode (clear: physical).
pub const ENTRY_LOGICAL: u64 = 1 << 11;
/// Bit 13: active-low input.
pub const ENTRY_ACTIVE_LOW: u64 = 1 << 13;
/// Bit 14: remote IRR (read only: a level interrupt awaits its EOI).
pub const ENTRY_REMOTE_IRR: u64 = 1 << 14;
/// Bit 15: level-triggered.
pub const ENTRY_LEVEL: u64 = 1 << 15;
/// Bit 16: masked.
pub const ENTRY_MASKED: u64 = 1 << 16;
/// Bits 63:56: destination (an APIC ID in physical mode).
pub const ENTRY_DESTINATION_SHIFT: u32 = 56;
/// Shift of an entry's high dword.
const HIGH_SHIFT: u32 = 32;

/// The PIT's ISA line.
const ISA_IRQ_PIT: u8 = 0;
/// The pin the PIT's line arrives on (the interrupt-source override).
const PIT_PIN: u8 = 2;

/// A pin number above the highest redirection entry the chip could have (255 registers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoSuchPin(pub u8);

/// The I/O APIC pin ISA line `irq` arrives on.
pub const fn isa_pin(irq: u8) -> u8 {
    if irq == ISA_IRQ_PIT { PIT_PIN } else { irq }
}

/// A fixed, physical-destination redirection entry for `vector` to the APIC with ID
/// `destination`, edge- or level-triggered, active high, unmasked.
pub const fn fixed_entry(vector: u8, destination: u8, level: bool) -> u64 {
    let trigger = if level { ENTRY_LEVEL } else { 0 };
    (vector as u64 & ENTRY_VECTOR)
        | ENTRY_FIXED
        | trigger
        | ((destination as u64) << ENTRY_DESTINATION_SHIFT)
}

fn mmio_write(offset: u64, value: u32) {
    // SAFETY: the contract identity-maps 0..4 GiB, which holds the I/O APIC page; IOREGSEL and
    // IOWIN are aligned dwords in it.
    unsafe { ptr::write_volatile((BASE + offset) as *mut u32, value) }
}

fn mmio_read(offset: u64) -> u32 {
    // SAFETY: as in `mmio_write`: an aligned dword read of the identity-mapped I/O APIC page.
    unsafe { ptr::read_volatile((BASE + offset) as *const u32) }
}

/// Reads indirect register `index`.
pub fn read(index: u8) -> u32 {
    interrupts::without(|| {
        mmio_write(IOREGSEL, u32::from(index));
        mmio_read(IOWIN)
    })
}

/// Writes `value` to indirect register `index`.
pub fn write(index: u8, value: u32) {
    interrupts::without(|| {
        mmio_write(IOREGSEL, u32::from(index));
        mmio_write(IOWIN, value);
    });
}

/// The low-dword register index of `pin`'s redirection entry.
fn entry_index(pin: u8) -> Result<u8, NoSuchPin> {
    pin.checked_mul(2)
        .and_then(|offset| offset.checked_add(REG_REDIRECTION_FIRST))
        .filter(|index| *index < u8::MAX)
        .ok_or(NoSuchPin(pin))
}

/// `pin`'s redirection entry.
pub fn entry(pin: u8) -> Result<u64, NoSuchPin> {
    let index = entry_index(pin)?;
    Ok(interrupts::without(|| {
        u64::from(read(index)) | u64::from(read(index + 1)) << HIGH_SHIFT
    }))
}

/// Writes `pin`'s redirection entry: the high dword (destination) first, then the low dword
/// (vector, mode, mask), so the entry is never live with a stale destination.
pub fn set_entry(pin: u8, value: u64) -> Result<(), NoSuchPin> {
    let index = entry_index(pin)?;
    interrupts::without(|| {
        write(index + 1, (value >> HIGH_SHIFT) as u32);
        write(index, value as u32);
    });
    Ok(())
}

/// Masks `pin` (sets bit 16 of its entry).
pub fn mask(pin: u8) -> Result<(), NoSuchPin> {
    let index = entry_index(pin)?;
    interrupts::without(|| write(index, read(index) | ENTRY_MASKED as u32));
    Ok(())
}

/// The highest redirection entry IOAPICVER reports.
pub fn max_entry() -> u8 {
    ((read(REG_VERSION) >> VERSION_MAX_ENTRY_SHIFT) & VERSION_MAX_ENTRY_MASK) as u8
}
