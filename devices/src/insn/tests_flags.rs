//! Status flags of the ALU operations at every size, at the boundaries the SDM's definitions
//! turn on: carry out of the top bit, signed overflow, carry out of bit 3, parity of the low byte.

use super::flags::rflags::{AF, CF, OF, PF, SF, ZF};
use super::*;

fn flags(op: AluOp, size: OperandSize, a: u64, b: u64, rflags_in: u64) -> (u64, u64) {
    let result = alu(op, size, a, b, rflags_in);
    (result.value, result.rflags & rflags::STATUS)
}

#[test]
fn add_byte_7f_plus_1_overflows_into_the_sign() {
    assert_eq!(
        flags(AluOp::Add, OperandSize::Byte, 0x7F, 1, 0),
        (0x80, OF | SF | AF)
    );
}

#[test]
fn add_byte_ff_plus_1_carries_to_zero() {
    assert_eq!(
        flags(AluOp::Add, OperandSize::Byte, 0xFF, 1, 0),
        (0, CF | ZF | AF | PF)
    );
}

#[test]
fn add_qword_carry_out_of_bit_63() {
    assert_eq!(
        flags(
            AluOp::Add,
            OperandSize::Qword,
            0x8000_0000_0000_0000,
            0x8000_0000_0000_0000,
            0
        ),
        (0, CF | OF | ZF | PF)
    );
}

#[test]
fn add_ignores_operand_bits_above_the_size() {
    assert_eq!(
        flags(AluOp::Add, OperandSize::Word, 0xFFFF_0001, 0x1_0001, 0),
        (2, 0)
    );
}

#[test]
fn sub_byte_0_minus_1_borrows() {
    assert_eq!(
        flags(AluOp::Sub, OperandSize::Byte, 0, 1, 0),
        (0xFF, CF | SF | AF | PF)
    );
}

#[test]
fn sub_word_8000_minus_1_overflows() {
    assert_eq!(
        flags(AluOp::Sub, OperandSize::Word, 0x8000, 1, 0),
        (0x7FFF, OF | AF | PF)
    );
}

#[test]
fn cmp_equal_dwords_sets_zero_and_parity() {
    assert_eq!(
        flags(AluOp::Cmp, OperandSize::Dword, 0x1234, 0x1234, CF | SF),
        (0, ZF | PF)
    );
}

#[test]
fn adc_adds_the_carry_in() {
    assert_eq!(
        flags(AluOp::Adc, OperandSize::Byte, 0xFF, 0, CF),
        (0, CF | ZF | AF | PF)
    );
    assert_eq!(
        flags(AluOp::Adc, OperandSize::Qword, u64::MAX, u64::MAX, CF),
        (u64::MAX, CF | SF | AF | PF)
    );
}

#[test]
fn sbb_subtracts_the_borrow_in() {
    assert_eq!(
        flags(AluOp::Sbb, OperandSize::Dword, 0, 0, CF),
        (0xFFFF_FFFF, CF | SF | AF | PF)
    );
    assert_eq!(
        flags(AluOp::Sbb, OperandSize::Qword, 0, u64::MAX, CF),
        (0, CF | ZF | AF | PF)
    );
}

#[test]
fn logic_ops_clear_carry_overflow_and_aux() {
    let all = CF | OF | AF;
    assert_eq!(
        flags(AluOp::And, OperandSize::Byte, 0xF0, 0x0F, all),
        (0, ZF | PF)
    );
    assert_eq!(
        flags(AluOp::Or, OperandSize::Word, 0x8000, 0x0003, all),
        (0x8003, SF | PF)
    );
    assert_eq!(
        flags(AluOp::Xor, OperandSize::Dword, 0xFF, 0xFE, all),
        (1, 0)
    );
    assert_eq!(
        flags(AluOp::Test, OperandSize::Qword, u64::MAX, 1 << 63, all),
        (1 << 63, SF | PF)
    );
}

#[test]
fn parity_looks_at_the_low_byte_only() {
    // 0x0100: low byte 0x00 has even parity although the word has one bit set.
    assert_eq!(
        flags(AluOp::Or, OperandSize::Word, 0x0100, 0, 0),
        (0x0100, PF)
    );
    assert_eq!(
        flags(AluOp::Or, OperandSize::Word, 0x0301, 0, 0),
        (0x0301, 0)
    );
}

#[test]
fn inc_and_dec_leave_carry_as_it_was() {
    let inc = unary(UnaryOp::Inc, OperandSize::Dword, 0x7FFF_FFFF, CF);
    assert_eq!(
        (inc.value, inc.rflags),
        (0x8000_0000, CF | OF | SF | AF | PF)
    );
    let dec = unary(UnaryOp::Dec, OperandSize::Byte, 0, 0);
    assert_eq!((dec.value, dec.rflags), (0xFF, SF | AF | PF));
}

#[test]
fn neg_sets_carry_unless_the_operand_is_zero() {
    let zero = unary(UnaryOp::Neg, OperandSize::Byte, 0, CF);
    assert_eq!((zero.value, zero.rflags), (0, ZF | PF));
    let most_negative = unary(UnaryOp::Neg, OperandSize::Byte, 0x80, 0);
    assert_eq!(
        (most_negative.value, most_negative.rflags),
        (0x80, CF | OF | SF)
    );
}

#[test]
fn not_changes_no_flag() {
    let not = unary(UnaryOp::Not, OperandSize::Word, 0x00FF, CF | ZF | OF);
    assert_eq!((not.value, not.rflags), (0xFF00, CF | ZF | OF));
}
