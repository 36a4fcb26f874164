//! The primitives of the configuration's wire format ([`super::encoding`] describes the whole):
//! little-endian fixed-width integers, one tag byte, and length-prefixed byte strings and
//! sequences whose `u16` little-endian length prefix is checked against its cap
//! ([`Limit`]) before anything is read or allocated.
//!
//! [`Writer`] appends to a `Vec<u8>`; [`Reader`] walks a borrowed slice and never panics:
//! every read is bounds-checked and reports [`DecodeError::Truncated`] when the input ends,
//! [`DecodeError::Malformed`] when bytes are not what the format allows, and
//! [`DecodeError::Limit`] when a length prefix exceeds its cap.

use alloc::string::String;
use alloc::vec::Vec;

use super::encoding::{DecodeError, EncodeError};
use super::limits::{Limit, LimitError};

/// The type of every length prefix (string bytes, sequence entries).
pub type LenPrefix = u16;

/// Where in the machine a value sits, for the [`LimitError`] a cap violation reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Place {
    /// The VM's index, once inside a VM.
    pub vm: Option<usize>,
    /// The device's index within its VM, once inside a device.
    pub device: Option<usize>,
}

impl Place {
    /// The machine itself (the VM list).
    pub const MACHINE: Place = Place {
        vm: None,
        device: None,
    };

    /// Inside VM `vm`.
    pub const fn vm(vm: usize) -> Place {
        Place {
            vm: Some(vm),
            device: None,
        }
    }

    /// Inside device `device` of this place's VM.
    pub const fn device(self, device: usize) -> Place {
        Place {
            vm: self.vm,
            device: Some(device),
        }
    }
}

/// Appends wire-format values to a byte vector.
#[derive(Debug, Default)]
pub struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    /// A writer appending to `bytes` (which may already hold a header).
    pub fn new(bytes: Vec<u8>) -> Self {
        Self { bytes }
    }

    /// Everything written.
    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }

    /// One byte: a tag or a `u8` field.
    pub fn u8(&mut self, value: u8) {
        self.bytes.push(value);
    }

    /// Two bytes, little-endian.
    pub fn u16(&mut self, value: u16) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    /// Four bytes, little-endian.
    pub fn u32(&mut self, value: u32) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    /// Eight bytes, little-endian.
    pub fn u64(&mut self, value: u64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    /// A length prefix; an error if `len` does not fit one (only reachable for values over
    /// the caps, which [`encode`](super::encode) refuses first).
    pub fn len(&mut self, len: usize) -> Result<(), EncodeError> {
        let prefix = LenPrefix::try_from(len).map_err(|_| EncodeError::Serialize)?;
        self.u16(prefix);
        Ok(())
    }

    /// A string: its length in bytes, then its UTF-8 bytes.
    pub fn str(&mut self, value: &str) -> Result<(), EncodeError> {
        self.len(value.len())?;
        self.bytes.extend_from_slice(value.as_bytes());
        Ok(())
    }
}

/// Reads wire-format values from the front of a byte slice.
#[derive(Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`.
    pub const fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// The bytes not read yet.
    pub const fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// The next `N` bytes; [`DecodeError::Truncated`] if fewer are left.
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(DecodeError::Truncated)?;
        self.rest = rest;
        Ok(*head)
    }

    /// The next `len` bytes; [`DecodeError::Truncated`] if fewer are left.
    fn bytes(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        let (head, rest) = self
            .rest
            .split_at_checked(len)
            .ok_or(DecodeError::Truncated)?;
        self.rest = rest;
        Ok(head)
    }

    /// One byte: a tag or a `u8` field.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        self.array::<1>().map(|[byte]| byte)
    }

    /// Two bytes, little-endian.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        self.array().map(u16::from_le_bytes)
    }

    /// Four bytes, little-endian.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        self.array().map(u32::from_le_bytes)
    }

    /// Eight bytes, little-endian.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        self.array().map(u64::from_le_bytes)
    }

    /// A length prefix, refused with [`DecodeError::Limit`] if it exceeds `limit`'s cap —
    /// before the caller reads or allocates anything for it.
    pub fn len(&mut self, limit: Limit, place: Place) -> Result<usize, DecodeError> {
        let found = usize::from(self.u16()?);
        if found > limit.max() {
            return Err(DecodeError::Limit(LimitError {
                limit,
                vm: place.vm,
                device: place.device,
                found,
            }));
        }
        Ok(found)
    }

    /// A string capped by `limit`: [`DecodeError::Malformed`] if its bytes are not UTF-8.
    pub fn string(&mut self, limit: Limit, place: Place) -> Result<String, DecodeError> {
        let len = self.len(limit, place)?;
        let bytes = self.bytes(len)?;
        let text = core::str::from_utf8(bytes).map_err(|_| DecodeError::Malformed)?;
        Ok(String::from(text))
    }

    /// A sequence capped by `limit`, each entry read by `entry` (given its index).
    pub fn seq<T>(
        &mut self,
        limit: Limit,
        place: Place,
        mut entry: impl FnMut(&mut Self, usize) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let count = self.len(limit, place)?;
        let mut entries = Vec::with_capacity(count);
        for index in 0..count {
            entries.push(entry(self, index)?);
        }
        Ok(entries)
    }
}
