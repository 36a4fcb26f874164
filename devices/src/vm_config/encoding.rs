//! The compact form the boot tool writes into the ramdisk and the kernel reads. A small
//! hand-written binary format (this crate is also built for the bare-metal kernel, where no
//! serialization framework with `std` features may be pulled in):
//!
//! ```text
//! header   = "HVMC" (MAGIC), FORMAT_VERSION as u16
//! machine  = vms: seq<vm>                                   (cap MAX_VMS)
//! vm       = name: str (MAX_NAME_LEN), ram_mib: u32, vcpus: u32, apic: bool, acpi: bool, guest,
//!            devices: seq<device> (MAX_DEVICES), cpuid_overrides: seq<cpuid> (MAX_CPUID_OVERRIDES)
//! guest    = 0 file: str | 1 file: str, load_address: u32
//!          | 2 kernel: str, initrd: option<str>, cmdline: str (MAX_CMDLINE_LEN)
//! device   = name: str (MAX_NAME_LEN), kind, method
//! kind     = 0 base: u16, irq: u8 (UART) | 1 port: u16 (debug exit) | 2 base: u64 (test device)
//!          | 3 base: u16, len: u16 (ports) | 4 base: u64, len: u64 (memory)
//!          | 5 slot: u8, disk: str (virtio-blk) | 6 slot: u8 (virtio-console)
//! method   = 0 (emulated) | 1 host (host-backed) | 2 host (passthrough)
//!          | 3 host, policy: seq<rule> (mediated, MAX_POLICY_RULES)
//! host     = 0 (COM1) | 1 (COM2) | 2 base: u16, len: u16 | 3 base: u64, len: u64
//! rule     = first: u16, last: u16, access: (0 read | 1 write | 2 both),
//!            action: (0 allow | 1 deny | 2 log | 3 and_mask: u32, or_value: u32)
//! cpuid    = leaf: u32, subleaf: option<u32>, eax: u32, ebx: u32, ecx: u32, edx: u32
//! ```
//!
//! Integers are fixed-width little-endian; `bool` is a byte 0 or 1. `str` and `seq<T>` are a `u16` little-endian length
//! (bytes, or entries) followed by that many UTF-8 bytes or entries; file names are capped by
//! `MAX_FILE_NAME_LEN`. A tag is one byte before a variant's fields; `option<T>` is a byte 0
//! (absent) or 1 (then the value). The decoder checks each length against its cap
//! ([`super::limits`]) before reading or allocating, refuses any other tag or presence byte
//! ([`DecodeError::Malformed`]), input that ends early ([`DecodeError::Truncated`]) and bytes
//! after the machine ([`DecodeError::TrailingBytes`]). Every value has exactly one encoding.
//! The whole is at most [`MAX_ENCODED_LEN`] bytes. `layout` writes and reads the
//! types, `wire` the primitives.

use alloc::vec::Vec;
use core::fmt;

use super::layout::{read_machine, write_machine};
use super::limits::{LimitError, check_limits};
use super::schema::Machine;
use super::wire::{Reader, Writer};

/// The first four bytes of an encoded configuration.
pub const MAGIC: [u8; 4] = *b"HVMC";
/// The format this code writes and reads; bumped on any layout change (1 was postcard's; 3
/// added the APIC/ACPI switches and the virtio devices).
pub const FORMAT_VERSION: u16 = 3;
/// Bytes before the machine: magic, then version.
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
    /// A string or sequence is too long for its length prefix (only possible past the caps,
    /// which are checked first).
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
    /// The payload is not a machine (unknown tag or presence byte, bad UTF-8).
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

/// The compact form of `machine`: header, then the machine.
pub fn encode(machine: &Machine) -> Result<Vec<u8>, EncodeError> {
    check_limits(machine).map_err(EncodeError::Limit)?;
    let bytes = encode_unchecked(machine)?;
    if bytes.len() > MAX_ENCODED_LEN {
        return Err(EncodeError::TooLarge { len: bytes.len() });
    }
    Ok(bytes)
}

/// Header and machine, with no cap checked (tests use it to build over-cap input).
pub(super) fn encode_unchecked(machine: &Machine) -> Result<Vec<u8>, EncodeError> {
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(&MAGIC);
    header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    let mut out = Writer::new(header);
    write_machine(&mut out, machine)?;
    Ok(out.finish())
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
    let mut input = Reader::new(payload);
    let machine = read_machine(&mut input)?;
    if input.remaining() != 0 {
        return Err(DecodeError::TrailingBytes {
            count: input.remaining(),
        });
    }
    // Every cap was checked as its length was read; this keeps `decode` and `encode` agreeing
    // should a cap ever be added that no length prefix carries.
    check_limits(&machine).map_err(DecodeError::Limit)?;
    Ok(machine)
}
