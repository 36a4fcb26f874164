//! Arithmetic and logic with the status flags exactly as the Intel SDM defines them (Vol. 1
//! §3.4.3.1 "Status flags", Appendix A "EFLAGS cross-reference", and each instruction's "Flags
//! affected" in Vol. 2). Where the SDM leaves AF undefined (AND, OR, XOR, TEST) it is cleared,
//! as Intel processors and the reference emulators (QEMU, Bochs) do.

use super::OperandSize;

/// RFLAGS bit positions (SDM Vol. 1 Figure 3-8).
pub mod rflags {
    /// Carry flag: unsigned overflow out of the most significant bit (or a borrow into it).
    pub const CF: u64 = 1 << 0;
    /// Parity flag: the low byte of the result has an even number of 1 bits.
    pub const PF: u64 = 1 << 2;
    /// Auxiliary carry flag: carry or borrow out of bit 3.
    pub const AF: u64 = 1 << 4;
    /// Zero flag: the result is zero.
    pub const ZF: u64 = 1 << 6;
    /// Sign flag: the result's most significant bit.
    pub const SF: u64 = 1 << 7;
    /// Direction flag: string instructions decrement RSI/RDI when set.
    pub const DF: u64 = 1 << 10;
    /// Overflow flag: signed overflow.
    pub const OF: u64 = 1 << 11;
    /// The six status flags the arithmetic instructions write.
    pub const STATUS: u64 = CF | PF | AF | ZF | SF | OF;
}

/// AF is the carry out of bit 3, visible in bit 4 of `a ^ b ^ result`.
const AUXILIARY_CARRY_BIT: u64 = 1 << 4;

/// The two-operand arithmetic and logic instructions (group 1, plus TEST), in the order of the
/// ModRM reg field of opcodes 80h–83h (SDM Vol. 2A Table A-6, group 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AluOp {
    Add,
    Or,
    Adc,
    Sbb,
    And,
    Sub,
    Xor,
    Cmp,
    Test,
}

impl AluOp {
    /// Group 1 and the 00h–3Fh block encode the operation in 3 bits (ModRM reg or opcode 5:3).
    pub(super) const fn from_group1(field: u8) -> AluOp {
        match field & 0b111 {
            0 => AluOp::Add,
            1 => AluOp::Or,
            2 => AluOp::Adc,
            3 => AluOp::Sbb,
            4 => AluOp::And,
            5 => AluOp::Sub,
            6 => AluOp::Xor,
            _ => AluOp::Cmp,
        }
    }

    /// CMP and TEST only set flags; the others write their destination.
    pub const fn writes_destination(self) -> bool {
        !matches!(self, AluOp::Cmp | AluOp::Test)
    }
}

/// The one-operand read-modify-write instructions (groups 3 and 4/5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// INC: like ADD 1, but CF is left alone.
    Inc,
    /// DEC: like SUB 1, but CF is left alone.
    Dec,
    /// NOT: no flags change.
    Not,
    /// NEG: 0 − operand; CF = (operand ≠ 0).
    Neg,
}

/// A result and the RFLAGS value after the instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlagsResult {
    /// The result, truncated to the operand size.
    pub value: u64,
    /// The input RFLAGS with the affected status flags replaced.
    pub rflags: u64,
}

/// `destination op source` at `size`, given the RFLAGS before (ADC/SBB read CF from it).
pub fn alu(
    op: AluOp,
    size: OperandSize,
    destination: u64,
    source: u64,
    rflags: u64,
) -> FlagsResult {
    let a = destination & size.mask();
    let b = source & size.mask();
    let carry_in = u64::from(rflags & rflags::CF != 0);
    let (value, status) = match op {
        AluOp::Add => add(size, a, b, 0),
        AluOp::Adc => add(size, a, b, carry_in),
        AluOp::Sub | AluOp::Cmp => subtract(size, a, b, 0),
        AluOp::Sbb => subtract(size, a, b, carry_in),
        AluOp::And | AluOp::Test => logic(size, a & b),
        AluOp::Or => logic(size, a | b),
        AluOp::Xor => logic(size, a ^ b),
    };
    FlagsResult {
        value,
        rflags: (rflags & !rflags::STATUS) | status,
    }
}

/// INC, DEC, NOT or NEG of `operand` at `size`.
pub fn unary(op: UnaryOp, size: OperandSize, operand: u64, rflags: u64) -> FlagsResult {
    let a = operand & size.mask();
    let (value, status, affected) = match op {
        UnaryOp::Inc => {
            let (value, status) = add(size, a, 1, 0);
            (value, status, rflags::STATUS & !rflags::CF)
        }
        UnaryOp::Dec => {
            let (value, status) = subtract(size, a, 1, 0);
            (value, status, rflags::STATUS & !rflags::CF)
        }
        UnaryOp::Not => (!a & size.mask(), 0, 0),
        UnaryOp::Neg => {
            let (value, status) = subtract(size, 0, a, 0);
            (value, status, rflags::STATUS)
        }
    };
    FlagsResult {
        value,
        rflags: (rflags & !affected) | (status & affected),
    }
}

/// `a + b + carry` with CF, OF, AF and the result flags.
fn add(size: OperandSize, a: u64, b: u64, carry: u64) -> (u64, u64) {
    let wide = u128::from(a) + u128::from(b) + u128::from(carry);
    let value = (wide as u64) & size.mask();
    let mut status = result_flags(size, value);
    if wide >> size.bits() != 0 {
        status |= rflags::CF;
    }
    if (a ^ value) & (b ^ value) & size.sign_bit() != 0 {
        status |= rflags::OF;
    }
    if (a ^ b ^ value) & AUXILIARY_CARRY_BIT != 0 {
        status |= rflags::AF;
    }
    (value, status)
}

/// `a − b − borrow` with CF (borrow), OF, AF and the result flags.
fn subtract(size: OperandSize, a: u64, b: u64, borrow: u64) -> (u64, u64) {
    let value = a.wrapping_sub(b).wrapping_sub(borrow) & size.mask();
    let mut status = result_flags(size, value);
    if u128::from(a) < u128::from(b) + u128::from(borrow) {
        status |= rflags::CF;
    }
    if (a ^ b) & (a ^ value) & size.sign_bit() != 0 {
        status |= rflags::OF;
    }
    if (a ^ b ^ value) & AUXILIARY_CARRY_BIT != 0 {
        status |= rflags::AF;
    }
    (value, status)
}

/// AND/OR/XOR/TEST: CF = OF = 0, AF cleared, SF/ZF/PF from the result.
fn logic(size: OperandSize, value: u64) -> (u64, u64) {
    let value = value & size.mask();
    (value, result_flags(size, value))
}

/// SF, ZF and PF, which every arithmetic result sets the same way.
fn result_flags(size: OperandSize, value: u64) -> u64 {
    let mut status = 0;
    if value & size.sign_bit() != 0 {
        status |= rflags::SF;
    }
    if value == 0 {
        status |= rflags::ZF;
    }
    if (value as u8).count_ones() % 2 == 0 {
        status |= rflags::PF;
    }
    status
}
