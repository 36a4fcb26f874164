//! The guest register state the emulator reads and writes, with the x86 rules for partial
//! register writes (Intel SDM Vol. 1 §3.4.1.1 "General-purpose registers in 64-bit mode": a
//! 32-bit write zero-extends into bits 63:32; an 8- or 16-bit write leaves the other bits alone).

use super::{AddressSize, Gpr, OperandSize, RegisterOperand};

/// Bits 15:8 of a register hold AH/CH/DH/BH.
const HIGH_BYTE_SHIFT: u32 = 8;

/// The registers an MMIO instruction can touch. The kernel copies them from the guest state
/// (RSP, RIP and RFLAGS from the VMCS, the rest from its save area) and back after [`emulate`].
///
/// [`emulate`]: super::emulate
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Registers {
    /// RAX RCX RDX RBX RSP RBP RSI RDI R8–R15, in encoding order (index = [`Gpr::number`]).
    pub gprs: [u64; 16],
    pub rip: u64,
    pub rflags: u64,
}

impl Registers {
    /// The full 64-bit value of `gpr`.
    pub fn gpr(&self, gpr: Gpr) -> u64 {
        self.gprs[usize::from(gpr.number())]
    }

    /// Sets all 64 bits of `gpr`.
    pub fn set_gpr(&mut self, gpr: Gpr, value: u64) {
        self.gprs[usize::from(gpr.number())] = value;
    }

    /// The value of a register operand, zero-extended: `AH` reads bits 15:8 of RAX.
    pub fn read(&self, operand: RegisterOperand) -> u64 {
        let full = self.gpr(operand.gpr);
        if operand.high_byte {
            (full >> HIGH_BYTE_SHIFT) & OperandSize::Byte.mask()
        } else {
            full & operand.size.mask()
        }
    }

    /// Writes a register operand by the x86 rules: 8- and 16-bit writes (and AH–BH) merge into
    /// the register, a 32-bit write zero-extends to 64 bits, a 64-bit write replaces it.
    pub fn write(&mut self, operand: RegisterOperand, value: u64) {
        let old = self.gpr(operand.gpr);
        let new = if operand.high_byte {
            let field = OperandSize::Byte.mask() << HIGH_BYTE_SHIFT;
            (old & !field) | ((value << HIGH_BYTE_SHIFT) & field)
        } else {
            match operand.size {
                OperandSize::Byte | OperandSize::Word => {
                    let mask = operand.size.mask();
                    (old & !mask) | (value & mask)
                }
                OperandSize::Dword => value & OperandSize::Dword.mask(),
                OperandSize::Qword => value,
            }
        };
        self.set_gpr(operand.gpr, new);
    }

    /// `gpr` truncated to an address size: SI, ESI or RSI for the string instructions.
    pub fn read_address_register(&self, gpr: Gpr, size: AddressSize) -> u64 {
        self.gpr(gpr) & size.mask()
    }

    /// Writes SI/ESI/RSI (or DI, CX…) as an address-size register: a 16-bit write merges, a
    /// 32-bit write zero-extends (as every 32-bit register write does in 64-bit mode).
    pub fn write_address_register(&mut self, gpr: Gpr, size: AddressSize, value: u64) {
        let operand_size = match size {
            AddressSize::Bits16 => OperandSize::Word,
            AddressSize::Bits32 => OperandSize::Dword,
            AddressSize::Bits64 => OperandSize::Qword,
        };
        self.write(
            RegisterOperand {
                gpr,
                size: operand_size,
                high_byte: false,
            },
            value,
        );
    }
}
