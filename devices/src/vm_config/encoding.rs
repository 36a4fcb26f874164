//! The compact form the boot tool writes into the ramdisk and the kernel reads: a 4-byte magic
//! ([`MAGIC`]), the format version ([`FORMAT_VERSION`], `u16` little-endian), then the
//! [`Machine`] in the postcard wire format (postcard 1.x specification: varint lengths and
//! enum discriminants, little-endian fixed-width integers only where the type is fixed).
//! Nothing may follow the machine. The whole is at most [`MAX_ENCODED_LEN`] bytes.

use alloc::vec::Vec;
use core::fmt;

use super::limits::{LimitError, check_limits};
use super::schema::Machine;

/// The first four bytes of an encoded configuration.
pub const MAGIC: [u8; 4] = *b"HVMC";
/// The format this code writes and reads; bumped on any schema change.
pub const FORMAT_VERSION: u16 = 1;
/// Bytes before the postcard payload: magic, then version.
pub const HEADER_LEN: usize = MAGIC.len() + core::mem::size_of::<u16>();
/// Longest encoded configuration accepted (the caps of [`check_limits`] keep real ones far
/// below it).
pub const MAX_ENCODED_LEN: usize = 64 * 1024;

/// Why a machine could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// A cap of [`check_limits`] is exceeded.
    Limit(LimitError),
    /// The encoding would be longer than [`MAX_ENCODED_LEN`].
    TooLarge {
        /// Its length.
        len: usize,
    },
    /// The serializer refused the value.
    Serialize,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::Limit(error) => write!(f, "{error}"),
            EncodeError::TooLarge { len } => write!(
                f,
                "the encoded configuration is {len} bytes, at most {MAX_ENCODED_LEN}"
            ),
            EncodeError::Serialize => f.write_str("the configuration could not be serialized"),
        }
    }
}

impl core::error::Error for EncodeError {}

/// Why bytes are not a configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Longer than [`MAX_ENCODED_LEN`].
    TooLarge {
        /// The length given.
        len: usize,
    },
    /// Does not start with [`MAGIC`] (or is shorter than it).
    BadMagic,
    /// Written in a format version this code does not read.
    UnsupportedVersion {
        /// The version found.
        found: u16,
    },
    /// Ends before the machine does.
    Truncated,
    /// The payload is not a machine (bad discriminant, bad UTF-8, bad varint, ...).
    Malformed,
    /// Bytes follow the machine.
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// The machine exceeds a cap.
    Limit(LimitError),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooLarge { len } => {
                write!(f, "configuration is {len} bytes, at most {MAX_ENCODED_LEN}")
            }
            DecodeError::BadMagic => write!(f, "not a VM configuration (bad magic)"),
            DecodeError::UnsupportedVersion { found } => write!(
                f,
                "configuration format version {found}, this hypervisor reads {FORMAT_VERSION}"
            ),
            DecodeError::Truncated => f.write_str("configuration is truncated"),
            DecodeError::Malformed => f.write_str("configuration is malformed"),
            DecodeError::TrailingBytes { count } => {
                write!(f, "{count} bytes follow the configuration")
            }
            DecodeError::Limit(error) => write!(f, "{error}"),
        }
    }
}

impl core::error::Error for DecodeError {}

/// The compact form of `machine`: header, then the postcard payload.
pub fn encode(machine: &Machine) -> Result<Vec<u8>, EncodeError> {
    check_limits(machine).map_err(EncodeError::Limit)?;
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(&MAGIC);
    header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    let bytes = postcard::to_extend(machine, header).map_err(|_| EncodeError::Serialize)?;
    if bytes.len() > MAX_ENCODED_LEN {
        return Err(EncodeError::TooLarge { len: bytes.len() });
    }
    Ok(bytes)
}

/// The machine `bytes` encode, checked against the caps.
pub fn decode(bytes: &[u8]) -> Result<Machine, DecodeError> {
    if bytes.len() > MAX_ENCODED_LEN {
        return Err(DecodeError::TooLarge { len: bytes.len() });
    }
    let payload = bytes.strip_prefix(&MAGIC).ok_or(DecodeError::BadMagic)?;
    let (version, payload) = payload
        .split_first_chunk::<2>()
        .ok_or(DecodeError::Truncated)?;
    let found = u16::from_le_bytes(*version);
    if found != FORMAT_VERSION {
        return Err(DecodeError::UnsupportedVersion { found });
    }
    let (machine, rest) =
        postcard::take_from_bytes::<Machine>(payload).map_err(|error| match error {
            postcard::Error::DeserializeUnexpectedEnd => DecodeError::Truncated,
            _ => DecodeError::Malformed,
        })?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes { count: rest.len() });
    }
    check_limits(&machine).map_err(DecodeError::Limit)?;
    Ok(machine)
}
