//! A cursor over the fetched instruction bytes that enforces the architectural 15-byte limit
//! (Intel SDM Vol. 2A §2.3.11: a longer instruction raises #GP) and tells a fetch that stopped
//! short (a page end) from an over-long instruction.

use super::DecodeError;

/// The longest legal x86 instruction, prefixes included.
pub const MAX_INSTRUCTION_LENGTH: usize = 15;

/// Reads instruction bytes front to back.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, position: 0 }
    }

    /// Bytes consumed so far: the instruction length once decoding is done.
    pub(super) fn position(&self) -> usize {
        self.position
    }

    /// The next byte without consuming it.
    pub(super) fn peek(&self) -> Result<u8, DecodeError> {
        if self.position >= MAX_INSTRUCTION_LENGTH {
            return Err(DecodeError::TooLong);
        }
        self.bytes
            .get(self.position)
            .copied()
            .ok_or(DecodeError::Truncated {
                available: self.bytes.len(),
            })
    }

    pub(super) fn u8(&mut self) -> Result<u8, DecodeError> {
        let byte = self.peek()?;
        self.position += 1;
        Ok(byte)
    }

    /// A little-endian value of `bytes` bytes (1–8), zero-extended.
    pub(super) fn little_endian(&mut self, bytes: u8) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for shift in 0..u32::from(bytes) {
            value |= u64::from(self.u8()?) << (shift * u8::BITS);
        }
        Ok(value)
    }

    pub(super) fn i8(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from(self.u8()? as i8))
    }

    pub(super) fn i16(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from(self.little_endian(2)? as u16 as i16))
    }

    pub(super) fn i32(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from(self.little_endian(4)? as u32 as i32))
    }
}
