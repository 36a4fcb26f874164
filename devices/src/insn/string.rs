//! One element of MOVS or STOS, with or without a REP prefix (Intel SDM Vol. 2B "MOVS/MOVSB/
//! MOVSW/MOVSD/MOVSQ", Vol. 2B "STOS/STOSB/STOSW/STOSD/STOSQ", and "REP/REPE/REPZ/REPNE/REPNZ").
//!
//! rSI, rDI and rCX are the address-size registers (SI/DI/CX, ESI/EDI/ECX or RSI/RDI/RCX). Each
//! element moves rSI/rDI by the element size, up when RFLAGS.DF = 0, down when it is 1. A REP
//! instruction with rCX = 0 does nothing and retires; otherwise it performs one element per call
//! and decrements rCX, retiring when rCX reaches 0 and asking the kernel to re-execute it
//! ([`Outcome::Repeat`]) otherwise — which is architecturally what the CPU does at an interrupt
//! window between iterations.

use super::emulate::{EmulationContext, EmulationError, FaultAccess, FaultInfo, Outcome};
use super::flags::rflags;
use super::{Gpr, Instruction, Operation, Registers};

/// The largest string element: a quadword.
const MAX_ELEMENT_BYTES: usize = 8;

/// Performs one element of the string instruction `instruction` (MOVS or STOS).
pub(super) fn string_element<C: EmulationContext + ?Sized>(
    instruction: &Instruction,
    registers: &mut Registers,
    fault: FaultInfo,
    context: &mut C,
) -> Result<Outcome, EmulationError<C::Error>> {
    let address_size = instruction.memory.address_size;
    let next_rip = instruction.next_rip(registers.rip);
    let count = registers.read_address_register(Gpr::Rcx, address_size);
    if instruction.rep.is_some() && count == 0 {
        registers.rip = next_rip;
        return Ok(Outcome::Retired { next_rip });
    }

    let size = instruction.size;
    let bytes = usize::from(size.bytes());
    let mut buffer = [0u8; MAX_ELEMENT_BYTES];
    let element = &mut buffer[..bytes];
    let destination = instruction.memory.effective_address(registers, next_rip);
    match instruction.operation {
        Operation::Movs { source } => {
            let source_offset = source.effective_address(registers, next_rip);
            match fault.access {
                FaultAccess::Write => {
                    context.read_memory(source.segment, source_offset, element)?;
                    let value = little_endian(element);
                    context.mmio_write(fault.gpa, size, value)?;
                }
                FaultAccess::Read => {
                    let value = context.mmio_read(fault.gpa, size)?;
                    element.copy_from_slice(&value.to_le_bytes()[..bytes]);
                    context.write_memory(instruction.memory.segment, destination, element)?;
                }
            }
            advance(registers, instruction, Gpr::Rsi);
        }
        // STOS: the accumulator to ES:[rDI], which is the faulting device page.
        _ => {
            let value = registers.gpr(Gpr::Rax) & size.mask();
            context.mmio_write(fault.gpa, size, value)?;
        }
    }
    advance(registers, instruction, Gpr::Rdi);

    if instruction.rep.is_some() {
        let remaining = count.wrapping_sub(1) & address_size.mask();
        registers.write_address_register(Gpr::Rcx, address_size, remaining);
        if remaining != 0 {
            return Ok(Outcome::Repeat);
        }
    }
    registers.rip = next_rip;
    Ok(Outcome::Retired { next_rip })
}

/// Moves a pointer register by one element, in the direction RFLAGS.DF says.
fn advance(registers: &mut Registers, instruction: &Instruction, pointer: Gpr) {
    let address_size = instruction.memory.address_size;
    let step = u64::from(instruction.size.bytes());
    let old = registers.read_address_register(pointer, address_size);
    let new = if registers.rflags & rflags::DF == 0 {
        old.wrapping_add(step)
    } else {
        old.wrapping_sub(step)
    };
    registers.write_address_register(pointer, address_size, new & address_size.mask());
}

/// A little-endian value from up to eight bytes.
fn little_endian(bytes: &[u8]) -> u64 {
    let mut buffer = [0u8; MAX_ELEMENT_BYTES];
    for (slot, byte) in buffer.iter_mut().zip(bytes) {
        *slot = *byte;
    }
    u64::from_le_bytes(buffer)
}
