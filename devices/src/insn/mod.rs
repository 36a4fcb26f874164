//! x86 instruction decoding and emulation for MMIO exits.
//!
//! When a guest touches device memory the CPU leaves the guest with an EPT violation that names
//! the guest-physical address but not the data (Intel SDM Vol. 3C §29.3.3). The kernel fetches
//! up to 15 bytes at guest RIP, [`decode`]s them, and [`emulate`]s the instruction: the access
//! goes to the device bus through an [`EmulationContext`], the registers and RFLAGS are written
//! back as the CPU would, and RIP advances (or, for REP string instructions, stays put for the
//! next element).
//!
//! Decoding follows SDM Vol. 2A chapter 2 (prefixes, REX, ModRM/SIB, displacements, 16-bit and
//! RIP-relative addressing); the emulated forms are the ones guests use on device registers:
//! MOV, MOVZX, MOVSX, MOVSXD, the ALU operations and TEST, INC/DEC/NOT/NEG, XCHG, MOVS and STOS.
//! Anything else is a typed [`DecodeError`]; nothing reachable from guest bytes panics. The
//! decoder is checked against iced-x86 on a systematic corpus (`tests_reference.rs`).
//!
//! Threat note: everything here is guest-controlled (instruction bytes, registers, device
//! values). Input is bounded by [`MAX_INSTRUCTION_LENGTH`]; all address arithmetic wraps to the
//! address size; a string instruction does one element per call, so rCX bounds nothing here.

mod decode;
mod emulate;
mod flags;
mod fuzz;
mod instruction;
mod mode;
mod modrm;
mod opcode;
mod operand;
mod prefix;
mod reader;
mod registers;
mod string;

pub use decode::{DecodeError, decode};
pub use emulate::{
    EmulationContext, EmulationError, FaultAccess, FaultInfo, Outcome, emulate, qualification,
};
pub use flags::{AluOp, FlagsResult, UnaryOp, alu, rflags, unary};
pub use fuzz::fuzz_decode_and_emulate;
pub use instruction::{Extension, Instruction, MemoryAccess, Operation, Source};
pub use mode::{AddressSize, Mode};
pub use operand::{Base, Gpr, MemoryOperand, OperandSize, RegisterOperand, Segment};
pub use prefix::RepPrefix;
pub use reader::MAX_INSTRUCTION_LENGTH;
pub use registers::Registers;

#[cfg(test)]
mod tests_decode;
#[cfg(test)]
mod tests_emulate;
#[cfg(test)]
mod tests_flags;
#[cfg(test)]
mod tests_fuzz;
#[cfg(test)]
mod tests_reference;
#[cfg(test)]
mod tests_string;
#[cfg(test)]
mod tests_support;
