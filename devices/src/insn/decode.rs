//! The decoder: instruction bytes fetched at guest RIP → [`Instruction`] (Intel SDM Vol. 2A
//! chapter 2 "Instruction format", Vol. 2D Appendix A "Opcode map").
//!
//! Only the forms a guest uses on device memory are accepted: MOV (88h–8Bh, A0h–A3h, C6h/C7h),
//! MOVZX/MOVSX (0F B6/B7/BE/BF), MOVSXD (63h, 64-bit mode), the ALU block 00h–3Bh, groups 1
//! (80h–83h), 3 (F6h/F7h: TEST, NOT, NEG), 4/5 (FEh/FFh: INC, DEC), TEST 84h/85h, XCHG 86h/87h,
//! MOVS and STOS. Every other opcode, and every register-only (ModRM.mod = 11) form, is a
//! [`DecodeError`]; the decoder never reports a length for an instruction it did not decode.

use core::fmt;

use super::modrm::{self, ModRm};
use super::opcode::{
    ALU_BLOCK_FIRST_NON_MODRM_FORM, ALU_BLOCK_FORM_MASK, ALU_BLOCK_LAST, ALU_BLOCK_OPERATION_SHIFT,
    DIRECTION_BIT, GROUP1_RM_IMM, GROUP1_RM_IMM8, GROUP1_RM8_IMM8, GROUP1_RM8_IMM8_ALIAS,
    GROUP3_NEG, GROUP3_NOT, GROUP3_RM, GROUP3_RM8, GROUP3_TEST, GROUP3_TEST_ALIAS, GROUP4_RM8,
    GROUP5_RM, GROUP11_MOV, GROUP11_RM_IMM, GROUP11_RM8_IMM8, GROUP45_DEC, GROUP45_INC,
    MOV_AL_MOFFS, MOV_AX_MOFFS, MOV_MOFFS_AL, MOV_MOFFS_AX, MOV_R_RM, MOV_R8_RM8, MOV_RM_R,
    MOV_RM8_R8, MOVS, MOVSB, MOVSX_R_RM8, MOVSX_R_RM16, MOVSXD, MOVZX_R_RM8, MOVZX_R_RM16, STOS,
    STOSB, TEST_RM_R, TEST_RM8_R8, TWO_BYTE_ESCAPE, WIDTH_BIT, XCHG_RM_R, XCHG_RM8_R8, two_byte,
};
use super::prefix::Prefixes;
use super::reader::Reader;
use super::{
    AddressSize, AluOp, Base, Extension, Gpr, Instruction, MemoryOperand, Mode, OperandSize,
    Operation, RegisterOperand, Segment, Source, UnaryOp,
};

/// Why instruction bytes could not be decoded. None of these is a hypervisor bug: the kernel
/// reports them and stops the VM (or, for `Truncated`, fetches the rest from the next page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeError {
    /// The bytes ended (`available` of them) before the instruction did.
    Truncated { available: usize },
    /// Prefixes and all made the instruction longer than 15 bytes (#GP on hardware).
    TooLong,
    /// An opcode this emulator does not handle: one-byte opcodes as `0x00XX`, two-byte ones as
    /// `0x0FXX` (`0x0F38`/`0x0F3A` for the three-byte maps).
    Unsupported { opcode: u16 },
    /// A supported opcode in its register-only form (ModRM.mod = 11), which touches no memory
    /// and so cannot have caused an EPT violation.
    NoMemoryOperand { opcode: u16 },
    /// LOCK on an instruction that cannot be locked (#UD on hardware).
    InvalidLock { opcode: u16 },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { available } => {
                write!(
                    f,
                    "instruction continues past the {available} bytes fetched"
                )
            }
            DecodeError::TooLong => write!(f, "instruction longer than 15 bytes"),
            DecodeError::Unsupported { opcode } => {
                write!(
                    f,
                    "opcode {opcode:#06x} is not an emulated MMIO instruction"
                )
            }
            DecodeError::NoMemoryOperand { opcode } => {
                write!(
                    f,
                    "opcode {opcode:#06x} in its register-only form touches no memory"
                )
            }
            DecodeError::InvalidLock { opcode } => {
                write!(f, "LOCK on opcode {opcode:#06x}, which cannot be locked")
            }
        }
    }
}

/// Decodes the instruction at the start of `bytes` (up to 15 are looked at) in `mode`.
pub fn decode(bytes: &[u8], mode: Mode) -> Result<Instruction, DecodeError> {
    let mut reader = Reader::new(bytes);
    let prefixes = Prefixes::read(&mut reader, mode)?;
    let decoder = Decoder {
        mode,
        operand_size: operand_size(mode, &prefixes),
        address_size: if prefixes.address_size {
            mode.overridden_address_size()
        } else {
            mode.default_address_size()
        },
        prefixes,
    };
    let first = reader.u8()?;
    let (opcode, form) = if first == TWO_BYTE_ESCAPE {
        let second = reader.u8()?;
        (two_byte(second), decoder.two_byte(&mut reader, second)?)
    } else {
        (u16::from(first), decoder.one_byte(&mut reader, first)?)
    };
    if prefixes.lock && !form.lockable {
        return Err(DecodeError::InvalidLock { opcode });
    }
    let is_string = matches!(form.operation, Operation::Stos | Operation::Movs { .. });
    let length = u8::try_from(reader.position()).map_err(|_| DecodeError::TooLong)?;
    Ok(Instruction {
        length,
        mode,
        operation: form.operation,
        size: form.size,
        memory: form.memory,
        rep: prefixes.rep.filter(|_| is_string),
        lock: prefixes.lock,
    })
}

/// The operand size of the full-size forms: REX.W → 64, else the mode's default, flipped
/// between 16 and 32 by 66h (SDM Vol. 1 Table 3-4).
fn operand_size(mode: Mode, prefixes: &Prefixes) -> OperandSize {
    if prefixes.rex_w() {
        return OperandSize::Qword;
    }
    let default_is_16 = mode.default_operand_size() == OperandSize::Word;
    if default_is_16 != prefixes.operand_size {
        OperandSize::Word
    } else {
        OperandSize::Dword
    }
}

/// An accepted instruction body, before the prefix checks.
struct Form {
    operation: Operation,
    size: OperandSize,
    memory: MemoryOperand,
    lockable: bool,
}

/// The decoding state after the prefixes.
struct Decoder {
    mode: Mode,
    prefixes: Prefixes,
    operand_size: OperandSize,
    address_size: AddressSize,
}

impl Decoder {
    fn one_byte(&self, reader: &mut Reader<'_>, opcode: u8) -> Result<Form, DecodeError> {
        let full_size = if opcode & WIDTH_BIT == 0 {
            OperandSize::Byte
        } else {
            self.operand_size
        };
        match opcode {
            _ if opcode <= ALU_BLOCK_LAST
                && opcode & ALU_BLOCK_FORM_MASK < ALU_BLOCK_FIRST_NON_MODRM_FORM =>
            {
                let op = AluOp::from_group1(opcode >> ALU_BLOCK_OPERATION_SHIFT);
                let (modrm, memory) = self.modrm_memory(reader, opcode)?;
                let register = self.register(modrm.reg, full_size);
                if opcode & DIRECTION_BIT == 0 {
                    let source = Source::Register(register);
                    let operation = Operation::ArithmeticToMemory { op, source };
                    Ok(self.form(operation, full_size, memory, op.writes_destination()))
                } else {
                    let operation = Operation::ArithmeticToRegister {
                        op,
                        destination: register,
                    };
                    Ok(self.form(operation, full_size, memory, false))
                }
            }
            MOVSXD if self.mode == Mode::Long64 => {
                let (modrm, memory) = self.modrm_memory(reader, opcode)?;
                if self.operand_size == OperandSize::Qword {
                    let operation = Operation::LoadExtended {
                        destination: self.register(modrm.reg, OperandSize::Qword),
                        extension: Extension::Sign,
                    };
                    Ok(self.form(operation, OperandSize::Dword, memory, false))
                } else {
                    let destination = self.register(modrm.reg, self.operand_size);
                    let operation = Operation::Load { destination };
                    Ok(self.form(operation, self.operand_size, memory, false))
                }
            }
            GROUP1_RM8_IMM8 | GROUP1_RM_IMM | GROUP1_RM_IMM8 => self.group1(reader, opcode),
            GROUP1_RM8_IMM8_ALIAS if self.mode != Mode::Long64 => self.group1(reader, opcode),
            TEST_RM8_R8 | TEST_RM_R => {
                let (modrm, memory) = self.modrm_memory(reader, opcode)?;
                let source = Source::Register(self.register(modrm.reg, full_size));
                let operation = Operation::ArithmeticToMemory {
                    op: AluOp::Test,
                    source,
                };
                Ok(self.form(operation, full_size, memory, false))
            }
            XCHG_RM8_R8 | XCHG_RM_R => {
                let (modrm, memory) = self.modrm_memory(reader, opcode)?;
                let register = self.register(modrm.reg, full_size);
                Ok(self.form(Operation::Exchange { register }, full_size, memory, true))
            }
            MOV_RM8_R8 | MOV_RM_R | MOV_R8_RM8 | MOV_R_RM => {
                let (modrm, memory) = self.modrm_memory(reader, opcode)?;
                let register = self.register(modrm.reg, full_size);
                let operation = if opcode & DIRECTION_BIT == 0 {
                    Operation::Store {
                        source: Source::Register(register),
                    }
                } else {
                    Operation::Load {
                        destination: register,
                    }
                };
                Ok(self.form(operation, full_size, memory, false))
            }
            MOV_AL_MOFFS | MOV_AX_MOFFS | MOV_MOFFS_AL | MOV_MOFFS_AX => {
                let offset = reader.little_endian(self.address_size.bytes())?;
                let memory = MemoryOperand {
                    segment: self.prefixes.segment.unwrap_or(Segment::Ds),
                    base: None,
                    index: None,
                    scale: 1,
                    displacement: offset as i64,
                    address_size: self.address_size,
                };
                let accumulator = RegisterOperand {
                    gpr: Gpr::Rax,
                    size: full_size,
                    high_byte: false,
                };
                let operation = if opcode & DIRECTION_BIT == 0 {
                    Operation::Load {
                        destination: accumulator,
                    }
                } else {
                    Operation::Store {
                        source: Source::Register(accumulator),
                    }
                };
                Ok(self.form(operation, full_size, memory, false))
            }
            MOVSB | MOVS => {
                let source =
                    self.string_operand(self.prefixes.segment.unwrap_or(Segment::Ds), Gpr::Rsi);
                let destination = self.string_operand(Segment::Es, Gpr::Rdi);
                Ok(self.form(Operation::Movs { source }, full_size, destination, false))
            }
            STOSB | STOS => {
                let destination = self.string_operand(Segment::Es, Gpr::Rdi);
                Ok(self.form(Operation::Stos, full_size, destination, false))
            }
            GROUP11_RM8_IMM8 | GROUP11_RM_IMM => {
                let (modrm, memory) = self.modrm_memory(reader, opcode)?;
                if modrm.reg != GROUP11_MOV {
                    return Err(unsupported(opcode));
                }
                let source = Source::Immediate(self.immediate(reader, full_size)?);
                Ok(self.form(Operation::Store { source }, full_size, memory, false))
            }
            GROUP3_RM8 | GROUP3_RM => {
                let (modrm, memory) = self.modrm_memory(reader, opcode)?;
                match modrm.reg {
                    GROUP3_TEST | GROUP3_TEST_ALIAS => {
                        let source = Source::Immediate(self.immediate(reader, full_size)?);
                        let operation = Operation::ArithmeticToMemory {
                            op: AluOp::Test,
                            source,
                        };
                        Ok(self.form(operation, full_size, memory, false))
                    }
                    GROUP3_NOT | GROUP3_NEG => {
                        let op = if modrm.reg == GROUP3_NOT {
                            UnaryOp::Not
                        } else {
                            UnaryOp::Neg
                        };
                        let operation = Operation::UnaryOnMemory { op };
                        Ok(self.form(operation, full_size, memory, true))
                    }
                    _ => Err(unsupported(opcode)),
                }
            }
            GROUP4_RM8 | GROUP5_RM => {
                let (modrm, memory) = self.modrm_memory(reader, opcode)?;
                let op = match modrm.reg {
                    GROUP45_INC => UnaryOp::Inc,
                    GROUP45_DEC => UnaryOp::Dec,
                    _ => return Err(unsupported(opcode)),
                };
                Ok(self.form(Operation::UnaryOnMemory { op }, full_size, memory, true))
            }
            _ => Err(unsupported(opcode)),
        }
    }

    fn two_byte(&self, reader: &mut Reader<'_>, opcode: u8) -> Result<Form, DecodeError> {
        let (size, extension) = match opcode {
            MOVZX_R_RM8 => (OperandSize::Byte, Extension::Zero),
            MOVZX_R_RM16 => (OperandSize::Word, Extension::Zero),
            MOVSX_R_RM8 => (OperandSize::Byte, Extension::Sign),
            MOVSX_R_RM16 => (OperandSize::Word, Extension::Sign),
            _ => {
                return Err(DecodeError::Unsupported {
                    opcode: two_byte(opcode),
                });
            }
        };
        let (modrm, memory) = self.modrm_memory_two_byte(reader, opcode)?;
        let operation = Operation::LoadExtended {
            destination: self.register(modrm.reg, self.operand_size),
            extension,
        };
        Ok(self.form(operation, size, memory, false))
    }

    /// Group 1 (80h–83h): `op r/m, imm` with the operation in ModRM.reg.
    fn group1(&self, reader: &mut Reader<'_>, opcode: u8) -> Result<Form, DecodeError> {
        let size = if opcode & WIDTH_BIT == 0 {
            OperandSize::Byte
        } else {
            self.operand_size
        };
        let (modrm, memory) = self.modrm_memory(reader, opcode)?;
        let op = AluOp::from_group1(modrm.reg);
        let immediate = if opcode == GROUP1_RM_IMM8 {
            reader.i8()? as u64
        } else {
            self.immediate(reader, size)?
        };
        let source = Source::Immediate(immediate);
        let operation = Operation::ArithmeticToMemory { op, source };
        Ok(self.form(operation, size, memory, op.writes_destination()))
    }

    fn form(
        &self,
        operation: Operation,
        size: OperandSize,
        memory: MemoryOperand,
        lockable: bool,
    ) -> Form {
        Form {
            operation,
            size,
            memory,
            lockable,
        }
    }

    /// Reads ModRM and the memory operand it describes; a register-only form is an error.
    fn modrm_memory(
        &self,
        reader: &mut Reader<'_>,
        opcode: u8,
    ) -> Result<(ModRm, MemoryOperand), DecodeError> {
        self.modrm_memory_for(reader, u16::from(opcode))
    }

    fn modrm_memory_two_byte(
        &self,
        reader: &mut Reader<'_>,
        opcode: u8,
    ) -> Result<(ModRm, MemoryOperand), DecodeError> {
        self.modrm_memory_for(reader, two_byte(opcode))
    }

    fn modrm_memory_for(
        &self,
        reader: &mut Reader<'_>,
        opcode: u16,
    ) -> Result<(ModRm, MemoryOperand), DecodeError> {
        let modrm = ModRm::read(reader)?;
        if modrm.is_register() {
            return Err(DecodeError::NoMemoryOperand { opcode });
        }
        let memory =
            modrm::memory_operand(reader, modrm, &self.prefixes, self.mode, self.address_size)?;
        Ok((modrm, memory))
    }

    /// The register ModRM.reg (extended by REX.R) names at `size`: byte registers 4–7 are
    /// AH/CH/DH/BH without a REX prefix and SPL/BPL/SIL/DIL with one.
    fn register(&self, reg: u8, size: OperandSize) -> RegisterOperand {
        let number = reg | self.prefixes.rex_r();
        let high_byte = size == OperandSize::Byte
            && self.prefixes.rex.is_none()
            && (HIGH_BYTE_FIRST..=HIGH_BYTE_LAST).contains(&number);
        RegisterOperand {
            gpr: Gpr::from_number(if high_byte {
                number - HIGH_BYTE_FIRST
            } else {
                number
            }),
            size,
            high_byte,
        }
    }

    /// An immediate of the operand's size, at most 32 bits (imm32 is sign-extended for 64-bit
    /// operands), sign-extended to 64 bits.
    fn immediate(&self, reader: &mut Reader<'_>, size: OperandSize) -> Result<u64, DecodeError> {
        Ok(match size {
            OperandSize::Byte => reader.i8()?,
            OperandSize::Word => reader.i16()?,
            OperandSize::Dword | OperandSize::Qword => reader.i32()?,
        } as u64)
    }

    /// `segment:[rSI]` or `ES:[rDI]` at the address size.
    fn string_operand(&self, segment: Segment, pointer: Gpr) -> MemoryOperand {
        MemoryOperand {
            segment,
            base: Some(Base::Gpr(pointer)),
            index: None,
            scale: 1,
            displacement: 0,
            address_size: self.address_size,
        }
    }
}

/// Byte-register numbers 4–7 name AH, CH, DH, BH when there is no REX prefix.
const HIGH_BYTE_FIRST: u8 = 4;
const HIGH_BYTE_LAST: u8 = 7;

fn unsupported(opcode: u8) -> DecodeError {
    DecodeError::Unsupported {
        opcode: u16::from(opcode),
    }
}
