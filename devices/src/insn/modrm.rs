//! The ModRM and SIB bytes and the displacement: register numbers and the memory operand's
//! components (Intel SDM Vol. 2A §2.1.5, Table 2-1 for 16-bit addressing, Tables 2-2/2-3 for
//! 32/64-bit addressing, §2.2.1.6 for RIP-relative addressing and §2.2.1.2 for the REX rules:
//! r/m = 100 always means SIB and mod = 00 r/m = 101 always means disp32 / RIP, whatever REX.B).

use super::prefix::Prefixes;
use super::reader::Reader;
use super::{AddressSize, Base, DecodeError, Gpr, MemoryOperand, Mode, Segment};

/// ModRM.mod = 11: the r/m operand is a register, not memory.
pub(super) const MOD_REGISTER: u8 = 0b11;
/// ModRM.mod = 01: an 8-bit displacement follows.
const MOD_DISP8: u8 = 0b01;
/// ModRM.mod = 10: a 16- or 32-bit displacement follows.
const MOD_DISP_FULL: u8 = 0b10;
/// 32/64-bit addressing: r/m = 100 means a SIB byte follows.
const RM_SIB: u8 = 0b100;
/// 32/64-bit addressing, mod = 00: r/m = 101 (and SIB base = 101) mean disp32 without base.
const RM_DISP32: u8 = 0b101;
/// 16-bit addressing, mod = 00: r/m = 110 means disp16 without base.
const RM16_DISP16: u8 = 0b110;
/// SIB.index = 100 (without REX.X) means no index.
const SIB_NO_INDEX: u8 = 0b100;
/// Three-bit fields of ModRM and SIB.
const FIELD_MASK: u8 = 0b111;
const MOD_SHIFT: u8 = 6;
const REG_SHIFT: u8 = 3;
/// SIB bits 7:6: log2 of the scale.
const SCALE_SHIFT: u8 = 6;
/// SIB bits 5:3: the index register.
const INDEX_SHIFT: u8 = 3;

/// A ModRM byte split into its fields (reg not yet extended by REX.R).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ModRm {
    pub mode: u8,
    pub reg: u8,
    pub rm: u8,
}

impl ModRm {
    pub(super) fn read(reader: &mut Reader<'_>) -> Result<ModRm, DecodeError> {
        let byte = reader.u8()?;
        Ok(ModRm {
            mode: byte >> MOD_SHIFT,
            reg: (byte >> REG_SHIFT) & FIELD_MASK,
            rm: byte & FIELD_MASK,
        })
    }

    pub(super) fn is_register(&self) -> bool {
        self.mode == MOD_REGISTER
    }
}

/// 16-bit addressing (Table 2-1): r/m selects base and index; BP-based forms default to SS.
const RM16_TABLE: [(Option<Gpr>, Option<Gpr>); 8] = [
    (Some(Gpr::Rbx), Some(Gpr::Rsi)),
    (Some(Gpr::Rbx), Some(Gpr::Rdi)),
    (Some(Gpr::Rbp), Some(Gpr::Rsi)),
    (Some(Gpr::Rbp), Some(Gpr::Rdi)),
    (Some(Gpr::Rsi), None),
    (Some(Gpr::Rdi), None),
    (Some(Gpr::Rbp), None),
    (Some(Gpr::Rbx), None),
];

/// Reads the SIB byte and displacement a memory-form ModRM calls for and describes the operand.
pub(super) fn memory_operand(
    reader: &mut Reader<'_>,
    modrm: ModRm,
    prefixes: &Prefixes,
    mode: Mode,
    address_size: AddressSize,
) -> Result<MemoryOperand, DecodeError> {
    let (base, index, scale, displacement) = match address_size {
        AddressSize::Bits16 => {
            let (base, index) = if modrm.mode == 0 && modrm.rm == RM16_DISP16 {
                (None, None)
            } else {
                RM16_TABLE[usize::from(modrm.rm)]
            };
            let displacement = match modrm.mode {
                MOD_DISP8 => reader.i8()?,
                MOD_DISP_FULL => reader.i16()?,
                _ if base.is_none() => reader.i16()?,
                _ => 0,
            };
            (base.map(Base::Gpr), index, 1, displacement)
        }
        AddressSize::Bits32 | AddressSize::Bits64 => {
            let (base, index, scale, no_base) = if modrm.rm == RM_SIB {
                let sib = reader.u8()?;
                let scale = 1u8 << (sib >> SCALE_SHIFT);
                let index_number = ((sib >> INDEX_SHIFT) & FIELD_MASK) | prefixes.rex_x();
                let index = (index_number != SIB_NO_INDEX).then(|| Gpr::from_number(index_number));
                let base_low = sib & FIELD_MASK;
                if modrm.mode == 0 && base_low == RM_DISP32 {
                    (None, index, scale, true)
                } else {
                    let base = Gpr::from_number(base_low | prefixes.rex_b());
                    (Some(Base::Gpr(base)), index, scale, false)
                }
            } else if modrm.mode == 0 && modrm.rm == RM_DISP32 {
                let base = mode.has_rex().then_some(Base::Rip);
                (base, None, 1, true)
            } else {
                let base = Gpr::from_number(modrm.rm | prefixes.rex_b());
                (Some(Base::Gpr(base)), None, 1, false)
            };
            let displacement = match modrm.mode {
                MOD_DISP8 => reader.i8()?,
                MOD_DISP_FULL => reader.i32()?,
                _ if no_base => reader.i32()?,
                _ => 0,
            };
            (base, index, scale, displacement)
        }
    };
    let stack_based = matches!(base, Some(Base::Gpr(Gpr::Rsp | Gpr::Rbp)));
    let segment = prefixes.segment.unwrap_or(if stack_based {
        Segment::Ss
    } else {
        Segment::Ds
    });
    Ok(MemoryOperand {
        segment,
        base,
        index,
        scale,
        displacement,
        address_size,
    })
}
