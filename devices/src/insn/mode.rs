//! The CPU mode a faulting instruction executed in, and the default operand, address and
//! instruction-pointer sizes it implies (Intel SDM Vol. 1 §3.6 "Operand-size and address-size
//! attributes", Vol. 3A §3.4.5 "Segment descriptors": the D flag of CS, and §2.2.1 for IA-32e).

/// How the vCPU was executing when it faulted. The kernel derives it from CR0.PE, EFER.LMA and
/// the CS access rights (L and D bits) in the guest VMCS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// CR0.PE = 0: 16-bit operands and addresses, segment base = selector × 16.
    Real16,
    /// Protected or compatibility mode with CS.D = 0 (also virtual-8086 mode).
    Protected16,
    /// Protected or compatibility mode with CS.D = 1.
    Protected32,
    /// IA-32e 64-bit mode (EFER.LMA = 1, CS.L = 1): REX prefixes exist, addresses are 64-bit.
    Long64,
}

impl Mode {
    /// The operand size an instruction has without a 66h prefix or REX.W.
    pub const fn default_operand_size(self) -> super::OperandSize {
        match self {
            Mode::Real16 | Mode::Protected16 => super::OperandSize::Word,
            Mode::Protected32 | Mode::Long64 => super::OperandSize::Dword,
        }
    }

    /// The address size an instruction has without a 67h prefix.
    pub const fn default_address_size(self) -> AddressSize {
        match self {
            Mode::Real16 | Mode::Protected16 => AddressSize::Bits16,
            Mode::Protected32 => AddressSize::Bits32,
            Mode::Long64 => AddressSize::Bits64,
        }
    }

    /// The address size after a 67h prefix (SDM Vol. 1 Table 3-4 and §3.6.1).
    pub const fn overridden_address_size(self) -> AddressSize {
        match self {
            Mode::Real16 | Mode::Protected16 => AddressSize::Bits32,
            Mode::Protected32 => AddressSize::Bits16,
            Mode::Long64 => AddressSize::Bits32,
        }
    }

    /// Whether REX prefixes (40h–4Fh) exist; outside 64-bit mode those bytes are INC/DEC.
    pub const fn has_rex(self) -> bool {
        matches!(self, Mode::Long64)
    }

    /// The bits of RIP the mode keeps: IP is 16 bits wide in 16-bit code, EIP 32 bits in 32-bit
    /// code; a sequential RIP advance wraps within that width.
    pub const fn instruction_pointer_mask(self) -> u64 {
        match self {
            Mode::Real16 | Mode::Protected16 => WORD_MASK,
            Mode::Protected32 => DWORD_MASK,
            Mode::Long64 => u64::MAX,
        }
    }
}

/// The low 16 bits of a register.
const WORD_MASK: u64 = 0xFFFF;
/// The low 32 bits of a register.
const DWORD_MASK: u64 = 0xFFFF_FFFF;

/// The width of an effective address, and so of the pointer and count registers (SI/DI/CX,
/// ESI/EDI/ECX, RSI/RDI/RCX) that string instructions use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressSize {
    Bits16,
    Bits32,
    Bits64,
}

impl AddressSize {
    /// The mask an effective address is truncated to.
    pub const fn mask(self) -> u64 {
        match self {
            AddressSize::Bits16 => WORD_MASK,
            AddressSize::Bits32 => DWORD_MASK,
            AddressSize::Bits64 => u64::MAX,
        }
    }

    /// The width in bytes.
    pub const fn bytes(self) -> u8 {
        match self {
            AddressSize::Bits16 => 2,
            AddressSize::Bits32 => 4,
            AddressSize::Bits64 => 8,
        }
    }
}
