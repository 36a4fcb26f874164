//! Instruction prefixes: the legacy groups (Intel SDM Vol. 2A §2.1.1) and REX (§2.2.1).
//!
//! Rules followed, as the processor applies them:
//! - prefixes may come in any order and repeat; for each group the last one counts;
//! - a REX prefix counts only directly before the opcode: a legacy prefix after it cancels it;
//! - in 64-bit mode the ES/CS/SS/DS overrides are ignored after an FS or GS override (FS/GS
//!   keep priority), as the reference decoder iced-x86 reports it; the address is the same
//!   either way, since those four segments are flat in 64-bit mode;
//! - F2h and F3h: the last one counts; they are REP prefixes only for the string instructions.

use super::Mode;
use super::opcode::{
    PREFIX_ADDRESS_SIZE, PREFIX_CS, PREFIX_DS, PREFIX_ES, PREFIX_FS, PREFIX_GS, PREFIX_LOCK,
    PREFIX_OPERAND_SIZE, PREFIX_REP, PREFIX_REPNE, PREFIX_SS, REX_B, REX_FIRST, REX_LAST, REX_R,
    REX_W, REX_X,
};
use super::reader::Reader;
use super::{DecodeError, Segment};

/// A REX bit becomes bit 3 of a 4-bit register number.
const REX_EXTENSION_SHIFT: u8 = 3;

/// A REP prefix on a string instruction. For MOVS and STOS both repeat until rCX = 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RepPrefix {
    /// F3h: REP / REPE.
    Rep,
    /// F2h: REPNE.
    Repne,
}

/// The prefixes in front of an opcode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Prefixes {
    pub operand_size: bool,
    pub address_size: bool,
    pub lock: bool,
    pub rep: Option<RepPrefix>,
    pub segment: Option<Segment>,
    /// The REX byte in effect (64-bit mode only), if any.
    pub rex: Option<u8>,
}

impl Prefixes {
    /// Consumes the prefix bytes, leaving the reader at the opcode.
    pub(super) fn read(reader: &mut Reader<'_>, mode: Mode) -> Result<Prefixes, DecodeError> {
        let mut prefixes = Prefixes::default();
        let mut fs_gs_priority = false;
        loop {
            let byte = reader.peek()?;
            match byte {
                PREFIX_OPERAND_SIZE => prefixes.operand_size = true,
                PREFIX_ADDRESS_SIZE => prefixes.address_size = true,
                PREFIX_LOCK => prefixes.lock = true,
                PREFIX_REPNE => prefixes.rep = Some(RepPrefix::Repne),
                PREFIX_REP => prefixes.rep = Some(RepPrefix::Rep),
                PREFIX_ES | PREFIX_CS | PREFIX_SS | PREFIX_DS => {
                    if !(mode.has_rex() && fs_gs_priority) {
                        prefixes.segment = Some(match byte {
                            PREFIX_ES => Segment::Es,
                            PREFIX_CS => Segment::Cs,
                            PREFIX_SS => Segment::Ss,
                            _ => Segment::Ds,
                        });
                    }
                }
                PREFIX_FS | PREFIX_GS => {
                    prefixes.segment = Some(if byte == PREFIX_FS {
                        Segment::Fs
                    } else {
                        Segment::Gs
                    });
                    fs_gs_priority = true;
                }
                REX_FIRST..=REX_LAST if mode.has_rex() => {
                    reader.u8()?;
                    prefixes.rex = Some(byte);
                    continue;
                }
                _ => return Ok(prefixes),
            }
            reader.u8()?;
            prefixes.rex = None;
        }
    }

    fn rex_bit(&self, bit: u8) -> bool {
        self.rex.is_some_and(|rex| rex & bit != 0)
    }

    /// REX.W: 64-bit operand size.
    pub(super) fn rex_w(&self) -> bool {
        self.rex_bit(REX_W)
    }

    /// REX.R as the fourth bit of the ModRM reg field.
    pub(super) fn rex_r(&self) -> u8 {
        u8::from(self.rex_bit(REX_R)) << REX_EXTENSION_SHIFT
    }

    /// REX.X as the fourth bit of the SIB index field.
    pub(super) fn rex_x(&self) -> u8 {
        u8::from(self.rex_bit(REX_X)) << REX_EXTENSION_SHIFT
    }

    /// REX.B as the fourth bit of the ModRM rm / SIB base field.
    pub(super) fn rex_b(&self) -> u8 {
        u8::from(self.rex_bit(REX_B)) << REX_EXTENSION_SHIFT
    }
}
