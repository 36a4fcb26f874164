//! The VMCS: allocating a region, VMCLEAR/VMPTRLD, and typed VMREAD/VMWRITE with failures
//! decoded (Intel SDM Vol. 3C, chapter 25 "Virtual machine control structures", 31.2
//! "Conventions" for VMfailInvalid / VMfailValid).

use core::fmt;

use super::fields::VmcsField;
use super::instruction_error;
use crate::mm::frames::FrameError;
use crate::mm::physical;

/// RFLAGS.CF: VMfailInvalid.
const RFLAGS_CARRY: u64 = 1 << 0;
/// RFLAGS.ZF: VMfailValid (the error number is in the current VMCS).
const RFLAGS_ZERO: u64 = 1 << 6;

/// A VMX instruction failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmFail {
    /// CF=1: no current VMCS to hold an error number.
    Invalid,
    /// ZF=1: the current VMCS's VM-instruction error field says why.
    Valid { number: u32 },
}

impl fmt::Display for VmFail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VmFail::Invalid => write!(f, "VMfailInvalid"),
            VmFail::Valid { number } => {
                write!(
                    f,
                    "VMfailValid, error {number}: {}",
                    instruction_error::describe(*number)
                )
            }
        }
    }
}

/// Turn RFLAGS after a VMX instruction into a result.
pub fn check(rflags: u64) -> Result<(), VmFail> {
    if rflags & RFLAGS_CARRY != 0 {
        Err(VmFail::Invalid)
    } else if rflags & RFLAGS_ZERO != 0 {
        Err(VmFail::Valid {
            number: read_instruction_error(),
        })
    } else {
        Ok(())
    }
}

fn read_instruction_error() -> u32 {
    let value: u64;
    // SAFETY: VMREAD of a read-only field of the current VMCS; ZF=1 guaranteed there is one.
    unsafe {
        core::arch::asm!(
            "vmread {value}, {field}",
            field = in(reg) u64::from(VmcsField::VmInstructionError.encoding()),
            value = out(reg) value,
            options(nostack)
        );
    }
    value as u32
}

/// Read a field of the current VMCS.
pub fn read(field: VmcsField) -> Result<u64, VmFail> {
    let value: u64;
    let flags: u64;
    // SAFETY: VMREAD only reads the current VMCS (or fails with flags set, checked below).
    unsafe {
        core::arch::asm!(
            "vmread {value}, {field}",
            "pushfq",
            "pop {flags}",
            field = in(reg) u64::from(field.encoding()),
            value = out(reg) value,
            flags = out(reg) flags,
        );
    }
    check(flags).map(|()| value)
}

/// Write a field of the current VMCS.
pub fn write(field: VmcsField, value: u64) -> Result<(), VmFail> {
    let flags: u64;
    // SAFETY: VMWRITE only changes the current VMCS (or fails with flags set, checked below);
    // what the fields mean is checked by the CPU at VM entry.
    unsafe {
        core::arch::asm!(
            "vmwrite {field}, {value}",
            "pushfq",
            "pop {flags}",
            field = in(reg) u64::from(field.encoding()),
            value = in(reg) value,
            flags = out(reg) flags,
        );
    }
    check(flags)
}

/// A VMCS region in one frame of host memory.
#[derive(Debug)]
pub struct Vmcs {
    physical: u64,
}

impl Vmcs {
    /// Allocate a zeroed frame and stamp it with the VMCS revision identifier.
    pub fn allocate(revision_id: u32) -> Result<Self, FrameError> {
        let run = physical::allocate_zeroed(1, physical::FRAME_BYTES)?;
        let physical = run.start.start_address().as_u64();
        let header = physical::to_virtual(physical) as *mut u32;
        // SAFETY: the frame was just allocated for this VMCS; bit 31 (shadow VMCS) stays 0.
        unsafe { header.write_volatile(revision_id & !(1 << 31)) };
        Ok(Vmcs { physical })
    }

    /// The region's physical address.
    pub fn physical(&self) -> u64 {
        self.physical
    }

    /// VMCLEAR: flush the VMCS to memory and mark it clear (launch state "clear").
    pub fn clear(&self) -> Result<(), VmFail> {
        let flags: u64;
        // SAFETY: the operand is this VMCS's own region, owned by `self`.
        unsafe {
            core::arch::asm!(
                "vmclear [{address}]",
                "pushfq",
                "pop {flags}",
                address = in(reg) &self.physical,
                flags = out(reg) flags,
            );
        }
        check(flags)
    }

    /// VMPTRLD: make this VMCS current on this CPU.
    pub fn load(&self) -> Result<(), VmFail> {
        let flags: u64;
        // SAFETY: as in `clear`.
        unsafe {
            core::arch::asm!(
                "vmptrld [{address}]",
                "pushfq",
                "pop {flags}",
                address = in(reg) &self.physical,
                flags = out(reg) flags,
            );
        }
        check(flags)
    }
}

impl Drop for Vmcs {
    fn drop(&mut self) {
        let _ = self.clear();
        let frame = x86_64::structures::paging::PhysFrame::containing_address(
            x86_64::PhysAddr::new(self.physical),
        );
        let _ = physical::with_frames(|frames| frames.free(frame));
    }
}
