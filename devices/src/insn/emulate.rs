//! The emulator: performs one decoded instruction whose memory operand hit device memory (an
//! EPT violation, Intel SDM Vol. 3C §29.3.3 "EPT violations"), on the device bus and the guest
//! registers, with the register-write and flag rules of SDM Vol. 1 §3.4 and the instruction
//! pages of Vol. 2.
//!
//! The kernel's side is [`EmulationContext`]: the MMIO access at the faulting guest-physical
//! address, and for MOVS the other operand, which is usually RAM. The emulator is pure: on
//! success it has updated the registers (RIP included); on any error it has changed none of them.

use crate::interface::Gpa;

use super::flags::{alu, unary};
use super::string::string_element;
use super::{
    Extension, Instruction, MemoryAccess, OperandSize, Operation, Registers, Segment, Source,
};

/// EPT-violation exit qualification bits (SDM Vol. 3C Table 28-7).
pub mod qualification {
    /// The access was a data read.
    pub const DATA_READ: u64 = 1 << 0;
    /// The access was a data write.
    pub const DATA_WRITE: u64 = 1 << 1;
    /// The access was an instruction fetch.
    pub const INSTRUCTION_FETCH: u64 = 1 << 2;
}

/// The services the emulator needs from the kernel. Values travel little-endian in the low
/// `size` bytes of a `u64`.
pub trait EmulationContext {
    /// What the kernel reports when a service fails (a bus error, a guest page fault…).
    type Error;

    /// Reads `size` bytes of device memory at `gpa` (the faulting address).
    fn mmio_read(&mut self, gpa: Gpa, size: OperandSize) -> Result<u64, Self::Error>;

    /// Writes the low `size` bytes of `value` to device memory at `gpa`.
    fn mmio_write(&mut self, gpa: Gpa, size: OperandSize, value: u64) -> Result<(), Self::Error>;

    /// Reads `data.len()` (1–8) bytes of guest memory at `segment:offset`, where `offset` is an
    /// effective address already truncated to the instruction's address size. The kernel adds
    /// the segment base (zero for ES/CS/SS/DS in 64-bit mode), applies the limit checks it
    /// wants, and translates through the guest's page tables; the target may itself be device
    /// memory, which the kernel then routes to the bus. Used for the RAM side of MOVS.
    fn read_memory(
        &mut self,
        segment: Segment,
        offset: u64,
        data: &mut [u8],
    ) -> Result<(), Self::Error>;

    /// Writes `data` (1–8 bytes) to guest memory at `segment:offset`, as [`Self::read_memory`].
    fn write_memory(
        &mut self,
        segment: Segment,
        offset: u64,
        data: &[u8],
    ) -> Result<(), Self::Error>;
}

/// Which kind of access the EPT violation reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultAccess {
    Read,
    Write,
}

/// The EPT violation being emulated: the guest-physical address and the access kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FaultInfo {
    pub gpa: Gpa,
    pub access: FaultAccess,
}

impl FaultInfo {
    /// From the exit qualification: a write if the write bit is set (a read-modify-write may set
    /// both), else a read; `None` for an instruction fetch or a qualification with neither bit,
    /// which no MMIO emulation can serve.
    pub fn from_ept_qualification(gpa: Gpa, exit_qualification: u64) -> Option<FaultInfo> {
        let access = if exit_qualification & qualification::DATA_WRITE != 0 {
            FaultAccess::Write
        } else if exit_qualification & qualification::DATA_READ != 0 {
            FaultAccess::Read
        } else {
            return None;
        };
        Some(FaultInfo { gpa, access })
    }
}

/// What the kernel does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The instruction completed; `Registers::rip` now holds `next_rip`.
    Retired { next_rip: u64 },
    /// One element of a REP string instruction was done and rCX is not yet zero: RIP is left on
    /// the instruction, so the guest re-executes it (and faults again for the next element).
    Repeat,
}

/// Why an instruction could not be emulated. The registers are unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmulationError<E> {
    /// A context service failed.
    Context(E),
    /// The fault's access kind contradicts the instruction (a store that faulted on a read, a
    /// load that faulted on a write): the bytes at RIP are not what faulted, e.g. another vCPU
    /// rewrote them. The kernel may re-enter the guest without advancing RIP to retry.
    AccessMismatch {
        instruction: MemoryAccess,
        fault: FaultAccess,
    },
}

impl<E> From<E> for EmulationError<E> {
    fn from(error: E) -> Self {
        EmulationError::Context(error)
    }
}

/// Emulates `instruction` (decoded at `registers.rip`) for the EPT violation `fault`.
pub fn emulate<C: EmulationContext + ?Sized>(
    instruction: &Instruction,
    registers: &mut Registers,
    fault: FaultInfo,
    context: &mut C,
) -> Result<Outcome, EmulationError<C::Error>> {
    let access = instruction.memory_access();
    let consistent = match (access, fault.access) {
        (MemoryAccess::Read, FaultAccess::Read)
        | (MemoryAccess::Write, FaultAccess::Write)
        | (MemoryAccess::ReadWrite, _) => true,
        (MemoryAccess::Read, FaultAccess::Write) | (MemoryAccess::Write, FaultAccess::Read) => {
            false
        }
    };
    if !consistent {
        return Err(EmulationError::AccessMismatch {
            instruction: access,
            fault: fault.access,
        });
    }

    let mut next = *registers;
    let size = instruction.size;
    let gpa = fault.gpa;
    match instruction.operation {
        Operation::Store { source } => {
            let value = source_value(&next, source) & size.mask();
            context.mmio_write(gpa, size, value)?;
        }
        Operation::Load { destination } => {
            let value = context.mmio_read(gpa, size)? & size.mask();
            next.write(destination, value);
        }
        Operation::LoadExtended {
            destination,
            extension,
        } => {
            let value = context.mmio_read(gpa, size)? & size.mask();
            let widened = match extension {
                Extension::Zero => value,
                Extension::Sign => size.sign_extend(value),
            };
            next.write(destination, widened & destination.size.mask());
        }
        Operation::ArithmeticToMemory { op, source } => {
            let memory = context.mmio_read(gpa, size)?;
            let result = alu(op, size, memory, source_value(&next, source), next.rflags);
            if op.writes_destination() {
                context.mmio_write(gpa, size, result.value)?;
            }
            next.rflags = result.rflags;
        }
        Operation::ArithmeticToRegister { op, destination } => {
            let memory = context.mmio_read(gpa, size)?;
            let result = alu(op, size, next.read(destination), memory, next.rflags);
            if op.writes_destination() {
                next.write(destination, result.value);
            }
            next.rflags = result.rflags;
        }
        Operation::UnaryOnMemory { op } => {
            let memory = context.mmio_read(gpa, size)?;
            let result = unary(op, size, memory, next.rflags);
            context.mmio_write(gpa, size, result.value)?;
            next.rflags = result.rflags;
        }
        Operation::Exchange { register } => {
            let memory = context.mmio_read(gpa, size)? & size.mask();
            context.mmio_write(gpa, size, next.read(register))?;
            next.write(register, memory);
        }
        Operation::Stos | Operation::Movs { .. } => {
            let outcome = string_element(instruction, &mut next, fault, context)?;
            *registers = next;
            return Ok(outcome);
        }
    }
    let next_rip = instruction.next_rip(next.rip);
    next.rip = next_rip;
    *registers = next;
    Ok(Outcome::Retired { next_rip })
}

/// The value of a register or immediate source operand.
fn source_value(registers: &Registers, source: Source) -> u64 {
    match source {
        Source::Register(register) => registers.read(register),
        Source::Immediate(value) => value,
    }
}
