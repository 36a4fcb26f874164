//! Opcode bytes and prefix bytes the decoder recognises (Intel SDM Vol. 2A §2.1.1 "Instruction
//! prefixes", §2.2.1 "REX prefixes", and the opcode map of Vol. 2D Appendix A, Tables A-2/A-3).

// Legacy prefixes (SDM Vol. 2A §2.1.1).
pub const PREFIX_OPERAND_SIZE: u8 = 0x66;
pub const PREFIX_ADDRESS_SIZE: u8 = 0x67;
pub const PREFIX_LOCK: u8 = 0xF0;
pub const PREFIX_REPNE: u8 = 0xF2;
pub const PREFIX_REP: u8 = 0xF3;
pub const PREFIX_ES: u8 = 0x26;
pub const PREFIX_CS: u8 = 0x2E;
pub const PREFIX_SS: u8 = 0x36;
pub const PREFIX_DS: u8 = 0x3E;
pub const PREFIX_FS: u8 = 0x64;
pub const PREFIX_GS: u8 = 0x65;

// REX (64-bit mode only): 0100WRXB.
pub const REX_FIRST: u8 = 0x40;
pub const REX_LAST: u8 = 0x4F;
/// REX.W: 64-bit operand size.
pub const REX_W: u8 = 1 << 3;
/// REX.R: extends ModRM.reg.
pub const REX_R: u8 = 1 << 2;
/// REX.X: extends SIB.index.
pub const REX_X: u8 = 1 << 1;
/// REX.B: extends ModRM.rm or SIB.base.
pub const REX_B: u8 = 1 << 0;

/// The escape to the two-byte opcode map.
pub const TWO_BYTE_ESCAPE: u8 = 0x0F;

/// 00h–3Fh: the eight ALU operations (opcode bits 5:3), each with four ModRM forms in the low
/// two bits (bit 0: 0 = byte operands; bit 1: 0 = r/m ← reg, 1 = reg ← r/m) then two
/// accumulator-immediate forms and two others.
pub const ALU_BLOCK_LAST: u8 = 0x3F;
/// Bits 2:0 of an ALU-block opcode at or above this are not ModRM forms.
pub const ALU_BLOCK_FIRST_NON_MODRM_FORM: u8 = 4;
/// Bits 2:0 of an ALU-block opcode.
pub const ALU_BLOCK_FORM_MASK: u8 = 0b111;
/// Bits 5:3 of an ALU-block opcode: the operation.
pub const ALU_BLOCK_OPERATION_SHIFT: u8 = 3;
/// Bit 0 of most byte/full-size opcode pairs: set for the full-size (16/32/64-bit) form.
pub const WIDTH_BIT: u8 = 1 << 0;
/// Bit 1 of the ALU-block and MOV opcodes: set when the register is the destination.
pub const DIRECTION_BIT: u8 = 1 << 1;

pub const MOVSXD: u8 = 0x63;
pub const GROUP1_RM8_IMM8: u8 = 0x80;
pub const GROUP1_RM_IMM: u8 = 0x81;
/// An alias of 80h, invalid in 64-bit mode.
pub const GROUP1_RM8_IMM8_ALIAS: u8 = 0x82;
pub const GROUP1_RM_IMM8: u8 = 0x83;
pub const TEST_RM8_R8: u8 = 0x84;
pub const TEST_RM_R: u8 = 0x85;
pub const XCHG_RM8_R8: u8 = 0x86;
pub const XCHG_RM_R: u8 = 0x87;
pub const MOV_RM8_R8: u8 = 0x88;
pub const MOV_RM_R: u8 = 0x89;
pub const MOV_R8_RM8: u8 = 0x8A;
pub const MOV_R_RM: u8 = 0x8B;
pub const MOV_AL_MOFFS: u8 = 0xA0;
pub const MOV_AX_MOFFS: u8 = 0xA1;
pub const MOV_MOFFS_AL: u8 = 0xA2;
pub const MOV_MOFFS_AX: u8 = 0xA3;
pub const MOVSB: u8 = 0xA4;
pub const MOVS: u8 = 0xA5;
pub const STOSB: u8 = 0xAA;
pub const STOS: u8 = 0xAB;
pub const GROUP11_RM8_IMM8: u8 = 0xC6;
pub const GROUP11_RM_IMM: u8 = 0xC7;
pub const GROUP3_RM8: u8 = 0xF6;
pub const GROUP3_RM: u8 = 0xF7;
pub const GROUP4_RM8: u8 = 0xFE;
pub const GROUP5_RM: u8 = 0xFF;

// Two-byte opcodes (second byte after 0Fh).
pub const MOVZX_R_RM8: u8 = 0xB6;
pub const MOVZX_R_RM16: u8 = 0xB7;
pub const MOVSX_R_RM8: u8 = 0xBE;
pub const MOVSX_R_RM16: u8 = 0xBF;

// ModRM reg-field opcode extensions (SDM Vol. 2D Table A-6).
/// Group 11 (C6/C7) /0: MOV r/m, imm.
pub const GROUP11_MOV: u8 = 0;
/// Group 3 (F6/F7) /0 and its alias /1: TEST r/m, imm.
pub const GROUP3_TEST: u8 = 0;
pub const GROUP3_TEST_ALIAS: u8 = 1;
pub const GROUP3_NOT: u8 = 2;
pub const GROUP3_NEG: u8 = 3;
/// Groups 4/5 (FE/FF) /0 and /1.
pub const GROUP45_INC: u8 = 0;
pub const GROUP45_DEC: u8 = 1;

/// The value reported in [`DecodeError::Unsupported`] for a two-byte opcode: `0F xx` → `0x0Fxx`.
///
/// [`DecodeError::Unsupported`]: super::DecodeError::Unsupported
pub const fn two_byte(second: u8) -> u16 {
    (TWO_BYTE_ESCAPE as u16) << u8::BITS | second as u16
}
