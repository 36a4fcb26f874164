//! The disk behind a virtio-blk device: the [`BlockBackend`] trait the VMM implements, and
//! [`MemoryDisk`], a bounded in-memory image (for tests, and for the kernel, which loads the
//! image from the boot ramdisk and hands the written-back bytes to the host afterwards).
//!
//! Sectors are 512 bytes (VIRTIO 1.1 §5.2.6: "sector" always means 512 bytes). Every call
//! names a whole number of sectors inside the disk, or is refused with a [`BlockError`].

use alloc::vec;
use alloc::vec::Vec;

/// Bytes per sector.
pub const SECTOR_BYTES: usize = 512;
/// `SECTOR_BYTES` as a `u64`, for sector arithmetic.
pub const SECTOR_BYTES_U64: u64 = SECTOR_BYTES as u64;
/// Largest in-memory disk: 1 GiB.
pub const MAX_MEMORY_DISK_BYTES: usize = 1 << 30;

/// Why a disk operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockError {
    /// A length that is not a whole number of sectors.
    Unaligned { len: usize },
    /// Some sector of the access lies past the end of the disk.
    OutOfRange { sector: u64, len: usize },
    /// An image larger than the back end accepts.
    TooLarge { bytes: usize },
    /// The storage itself failed.
    Io,
}

/// A disk of 512-byte sectors.
pub trait BlockBackend: Send {
    /// Disk size in sectors.
    fn sectors(&self) -> u64;
    /// Fills `buf` (a whole number of sectors) from `sector` on.
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError>;
    /// Stores `data` (a whole number of sectors) from `sector` on.
    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), BlockError>;
    /// Makes earlier writes durable (default: they already are).
    fn flush(&mut self) -> Result<(), BlockError> {
        Ok(())
    }
}

/// A disk image in memory, at most [`MAX_MEMORY_DISK_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryDisk {
    bytes: Vec<u8>,
}

impl MemoryDisk {
    /// A disk holding `image`, which must be a whole number of sectors and at most
    /// [`MAX_MEMORY_DISK_BYTES`].
    pub fn new(image: Vec<u8>) -> Result<Self, BlockError> {
        if image.len() > MAX_MEMORY_DISK_BYTES {
            return Err(BlockError::TooLarge { bytes: image.len() });
        }
        if !image.len().is_multiple_of(SECTOR_BYTES) {
            return Err(BlockError::Unaligned { len: image.len() });
        }
        Ok(MemoryDisk { bytes: image })
    }

    /// A zero-filled disk of `sectors` sectors.
    pub fn zeroed(sectors: usize) -> Result<Self, BlockError> {
        let bytes = sectors
            .checked_mul(SECTOR_BYTES)
            .filter(|b| *b <= MAX_MEMORY_DISK_BYTES)
            .ok_or(BlockError::TooLarge { bytes: usize::MAX })?;
        Ok(MemoryDisk {
            bytes: vec![0; bytes],
        })
    }

    /// The image as it is now (with everything the guest wrote).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The image, giving up the disk.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The byte range of `len` bytes from `sector`, if whole sectors inside the disk.
    fn span(&self, sector: u64, len: usize) -> Result<core::ops::Range<usize>, BlockError> {
        if !len.is_multiple_of(SECTOR_BYTES) {
            return Err(BlockError::Unaligned { len });
        }
        let out = BlockError::OutOfRange { sector, len };
        let start = usize::try_from(sector)
            .ok()
            .and_then(|s| s.checked_mul(SECTOR_BYTES))
            .ok_or(out)?;
        let end = start.checked_add(len).ok_or(out)?;
        if end > self.bytes.len() {
            return Err(out);
        }
        Ok(start..end)
    }
}

impl BlockBackend for MemoryDisk {
    fn sectors(&self) -> u64 {
        (self.bytes.len() / SECTOR_BYTES) as u64
    }
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        let span = self.span(sector, buf.len())?;
        buf.copy_from_slice(&self.bytes[span]);
        Ok(())
    }
    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), BlockError> {
        let span = self.span(sector, data.len())?;
        self.bytes[span].copy_from_slice(data);
        Ok(())
    }
}
