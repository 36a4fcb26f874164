//! Operands of a decoded instruction: sizes, general-purpose registers, segments and the memory
//! operand's effective-address components (Intel SDM Vol. 2A §2.1.5 "Addressing-mode encoding of
//! ModR/M and SIB bytes", Tables 2-1 to 2-3, and Vol. 1 §3.7.5 "Specifying an offset").

use super::{AddressSize, Registers};

/// The size of an operand, which for the memory operand is the size of the access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OperandSize {
    Byte,
    Word,
    Dword,
    Qword,
}

impl OperandSize {
    /// The width in bytes: 1, 2, 4 or 8.
    pub const fn bytes(self) -> u8 {
        match self {
            OperandSize::Byte => 1,
            OperandSize::Word => 2,
            OperandSize::Dword => 4,
            OperandSize::Qword => 8,
        }
    }

    /// The width in bits.
    pub const fn bits(self) -> u32 {
        match self {
            OperandSize::Byte => u8::BITS,
            OperandSize::Word => u16::BITS,
            OperandSize::Dword => u32::BITS,
            OperandSize::Qword => u64::BITS,
        }
    }

    /// The mask of the operand's bits within a 64-bit value.
    pub const fn mask(self) -> u64 {
        match self {
            OperandSize::Byte => u8::MAX as u64,
            OperandSize::Word => u16::MAX as u64,
            OperandSize::Dword => u32::MAX as u64,
            OperandSize::Qword => u64::MAX,
        }
    }

    /// The operand's most significant bit (the sign bit, SF's source).
    pub const fn sign_bit(self) -> u64 {
        1 << (self.bits() - 1)
    }

    /// `value`'s low bits of this size, sign-extended to 64 bits.
    pub const fn sign_extend(self, value: u64) -> u64 {
        match self {
            OperandSize::Byte => value as u8 as i8 as i64 as u64,
            OperandSize::Word => value as u16 as i16 as i64 as u64,
            OperandSize::Dword => value as u32 as i32 as i64 as u64,
            OperandSize::Qword => value,
        }
    }
}

/// A general-purpose register, numbered as the ModRM/SIB/REX encodings number them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Gpr {
    Rax,
    Rcx,
    Rdx,
    Rbx,
    Rsp,
    Rbp,
    Rsi,
    Rdi,
    R8,
    R9,
    R10,
    R11,
    R12,
    R13,
    R14,
    R15,
}

/// The register-number field is 4 bits wide (3 from ModRM/SIB, 1 from REX).
const GPR_NUMBER_MASK: u8 = 0xF;

impl Gpr {
    /// All sixteen, in encoding order (the order of [`Registers::gprs`]).
    pub const ALL: [Gpr; 16] = [
        Gpr::Rax,
        Gpr::Rcx,
        Gpr::Rdx,
        Gpr::Rbx,
        Gpr::Rsp,
        Gpr::Rbp,
        Gpr::Rsi,
        Gpr::Rdi,
        Gpr::R8,
        Gpr::R9,
        Gpr::R10,
        Gpr::R11,
        Gpr::R12,
        Gpr::R13,
        Gpr::R14,
        Gpr::R15,
    ];

    /// The register with encoding number `number & 0xF`.
    pub const fn from_number(number: u8) -> Gpr {
        Gpr::ALL[(number & GPR_NUMBER_MASK) as usize]
    }

    /// The encoding number, 0–15.
    pub const fn number(self) -> u8 {
        self as u8
    }
}

/// A register operand: which register, how much of it, and whether it is one of the legacy
/// high-byte registers AH, CH, DH, BH (bits 15:8 of RAX, RCX, RDX, RBX), which byte operands
/// 4–7 name when the instruction has no REX prefix (SDM Vol. 2A §3.1.1.1, Table 3-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RegisterOperand {
    pub gpr: Gpr,
    pub size: OperandSize,
    pub high_byte: bool,
}

/// A segment register, as a segment-override prefix or a default names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Segment {
    Es,
    Cs,
    Ss,
    Ds,
    Fs,
    Gs,
}

/// The base of an effective address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Base {
    /// A general-purpose register.
    Gpr(Gpr),
    /// RIP-relative (64-bit mode, ModRM mod = 00, r/m = 101): the address of the next instruction.
    Rip,
}

/// A memory operand: `segment:[base + index × scale + displacement]`, truncated to the address
/// size. For the string instructions the decoder describes the implicit operands this way too
/// (`ES:[rDI]`, `DS:[rSI]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemoryOperand {
    /// The effective segment: an override prefix if any, else SS for a BP/SP-based address,
    /// else DS. In 64-bit mode only FS and GS have a base; the others are flat.
    pub segment: Segment,
    pub base: Option<Base>,
    pub index: Option<Gpr>,
    /// 1, 2, 4 or 8.
    pub scale: u8,
    /// Sign-extended to 64 bits; for a 64-bit moffs operand, the full address.
    pub displacement: i64,
    pub address_size: AddressSize,
}

impl MemoryOperand {
    /// The effective address (the offset within `segment`) with the guest's registers, where
    /// `next_rip` is the address of the following instruction (the base of RIP-relative
    /// operands). Register values and the sum are truncated to the address size, so the 16-bit
    /// `[bx+si+disp]` forms wrap within 64 KiB as the CPU computes them.
    pub fn effective_address(&self, registers: &Registers, next_rip: u64) -> u64 {
        let mask = self.address_size.mask();
        let base = match self.base {
            Some(Base::Gpr(gpr)) => registers.gpr(gpr),
            Some(Base::Rip) => next_rip,
            None => 0,
        };
        let index = self.index.map_or(0, |gpr| registers.gpr(gpr) & mask);
        (base & mask)
            .wrapping_add(index.wrapping_mul(u64::from(self.scale)))
            .wrapping_add(self.displacement as u64)
            & mask
    }
}
