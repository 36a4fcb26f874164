//! A decoded MMIO instruction: what it does, how big its memory access is, where its memory
//! operand is, and how long it is. Produced by [`decode`](super::decode), consumed by
//! [`emulate`](super::emulate) and, for diagnostics and the far side of MOVS, by the kernel.

use super::{
    AluOp, MemoryOperand, Mode, OperandSize, RegisterOperand, Registers, RepPrefix, UnaryOp,
};

/// The second operand of a store or an ALU operation on memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    Register(RegisterOperand),
    /// Sign-extended to 64 bits as the encoding specifies (imm8 of 83h, imm32 of REX.W C7h/81h);
    /// the operand is its low [`Instruction::size`] bytes.
    Immediate(u64),
}

/// How MOVZX/MOVSX/MOVSXD widen the loaded value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Extension {
    Zero,
    Sign,
}

/// What the instruction does. The memory operand is [`Instruction::memory`]; its access size is
/// [`Instruction::size`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `MOV m, r` (88h/89h), `MOV m, imm` (C6h/C7h /0), `MOV moffs, AL/rAX` (A2h/A3h).
    Store { source: Source },
    /// `MOV r, m` (8Ah/8Bh), `MOV AL/rAX, moffs` (A0h/A1h), and MOVSXD without REX.W.
    Load { destination: RegisterOperand },
    /// `MOVZX`/`MOVSX` (0F B6/B7/BE/BF) and `MOVSXD r64, m32` (REX.W 63h): load `size` bytes and
    /// widen them to the destination's size.
    LoadExtended {
        destination: RegisterOperand,
        extension: Extension,
    },
    /// `op m, r` / `op m, imm` (00h–39h with a memory destination, 80h–83h, TEST 84h/85h and
    /// F6h/F7h /0): memory is the destination; CMP and TEST only read it.
    ArithmeticToMemory { op: AluOp, source: Source },
    /// `op r, m` (02h–3Bh with a register destination): memory is the source; CMP does not write
    /// the register.
    ArithmeticToRegister {
        op: AluOp,
        destination: RegisterOperand,
    },
    /// `INC`/`DEC` (FEh/FFh /0–/1), `NOT`/`NEG` (F6h/F7h /2–/3) of memory.
    UnaryOnMemory { op: UnaryOp },
    /// `XCHG m, r` (86h/87h).
    Exchange { register: RegisterOperand },
    /// `STOS` (AAh/ABh): store AL/AX/EAX/RAX to `ES:[rDI]` (the [`Instruction::memory`]).
    Stos,
    /// `MOVS` (A4h/A5h): copy from `source` (`seg:[rSI]`) to `ES:[rDI]` (the
    /// [`Instruction::memory`]); one side is the MMIO page that faulted.
    Movs { source: MemoryOperand },
}

/// What an instruction does to its memory operand(s), which the EPT violation must agree with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemoryAccess {
    Read,
    Write,
    /// A read-modify-write (ALU to memory, XCHG, INC…), or MOVS, which reads one side and writes
    /// the other.
    ReadWrite,
}

/// One decoded instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Instruction {
    /// Bytes, prefixes included: 1–15.
    pub length: u8,
    /// The mode it was decoded in.
    pub mode: Mode,
    pub operation: Operation,
    /// The memory access size (for MOVS/STOS, the element size).
    pub size: OperandSize,
    /// The memory operand (for MOVS and STOS, the destination `ES:[rDI]`).
    pub memory: MemoryOperand,
    /// F2h/F3h on MOVS/STOS; `None` on every other instruction (where those bytes are hints).
    pub rep: Option<RepPrefix>,
    /// F0h. Accepted on the lockable read-modify-write forms only (elsewhere it is #UD).
    pub lock: bool,
}

impl Instruction {
    /// RIP after this instruction: `rip + length`, wrapped to the mode's IP width.
    pub fn next_rip(&self, rip: u64) -> u64 {
        rip.wrapping_add(u64::from(self.length)) & self.mode.instruction_pointer_mask()
    }

    /// The effective address (segment offset) of [`Instruction::memory`] with these registers.
    pub fn effective_address(&self, registers: &Registers) -> u64 {
        self.memory
            .effective_address(registers, self.next_rip(registers.rip))
    }

    /// The register operand, if the instruction has one (for MOVS/STOS and the immediate forms,
    /// `None`; STOS's implicit rAX is not reported).
    pub fn register(&self) -> Option<RegisterOperand> {
        match self.operation {
            Operation::Store {
                source: Source::Register(register),
            }
            | Operation::ArithmeticToMemory {
                source: Source::Register(register),
                ..
            }
            | Operation::Load {
                destination: register,
            }
            | Operation::LoadExtended {
                destination: register,
                ..
            }
            | Operation::ArithmeticToRegister {
                destination: register,
                ..
            }
            | Operation::Exchange { register } => Some(register),
            _ => None,
        }
    }

    /// The immediate operand, sign-extended to 64 bits, if the instruction has one.
    pub fn immediate(&self) -> Option<u64> {
        match self.operation {
            Operation::Store {
                source: Source::Immediate(value),
            }
            | Operation::ArithmeticToMemory {
                source: Source::Immediate(value),
                ..
            } => Some(value),
            _ => None,
        }
    }

    /// What the instruction does to memory.
    pub fn memory_access(&self) -> MemoryAccess {
        match self.operation {
            Operation::Store { .. } | Operation::Stos => MemoryAccess::Write,
            Operation::Load { .. }
            | Operation::LoadExtended { .. }
            | Operation::ArithmeticToRegister { .. } => MemoryAccess::Read,
            Operation::ArithmeticToMemory { op, .. } if !op.writes_destination() => {
                MemoryAccess::Read
            }
            Operation::ArithmeticToMemory { .. }
            | Operation::UnaryOnMemory { .. }
            | Operation::Exchange { .. }
            | Operation::Movs { .. } => MemoryAccess::ReadWrite,
        }
    }
}
