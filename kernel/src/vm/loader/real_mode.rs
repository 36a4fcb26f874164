//! Flat real-mode binaries: copied to a guest-physical address below the 640 KiB line and
//! entered at CS:IP = (address >> 4):(address & 0xF) with flat 64 KiB segments, SS:SP = 0:0x7000
//! and interrupts off. Runs as an unrestricted guest (CR0.PE = CR0.PG = 0).

use super::LoadError;
use crate::vm::memory::GuestMemory;
use crate::vm::vmcs_setup::{CR0_ET, GuestState, Segment, access};

/// Lowest load address (the real-mode IVT and BIOS data area are below).
pub const LOWEST: u64 = 0x500;
/// End of conventional memory.
pub const CONVENTIONAL_END: u64 = 0xa_0000;
/// Initial stack pointer.
pub const STACK_TOP: u64 = 0x7000;
/// Real-mode segment limit.
const LIMIT_64K: u32 = 0xffff;

/// Copy `bytes` to `address` and give the real-mode entry state.
pub fn load(bytes: &[u8], address: u64, memory: &GuestMemory) -> Result<GuestState, LoadError> {
    let len = bytes.len() as u64;
    let end = address
        .checked_add(len)
        .ok_or(LoadError::OutOfRam { gpa: address, len })?;
    if address < LOWEST || end > CONVENTIONAL_END || !memory.contains(address, bytes.len()) {
        return Err(LoadError::OutOfRam { gpa: address, len });
    }
    memory.write(address, bytes)?;
    let selector = (address >> 4) as u16;
    let code = Segment {
        selector,
        base: u64::from(selector) << 4,
        limit: LIMIT_64K,
        access: access::CODE16,
    };
    let data = Segment {
        selector: 0,
        base: 0,
        limit: LIMIT_64K,
        access: access::DATA16,
    };
    let tr = Segment {
        selector: 0,
        base: 0,
        limit: LIMIT_64K,
        access: access::TSS_BUSY,
    };
    Ok(GuestState {
        cr0: CR0_ET,
        cr3: 0,
        cr4: 0,
        efer: 0,
        rip: address & 0xf,
        rsp: STACK_TOP,
        rflags: 0,
        cs: code,
        data,
        tr,
        gdtr: (0, LIMIT_64K),
        idtr: (0, 0x3ff),
    })
}
