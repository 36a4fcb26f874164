//! virtio-blk (VIRTIO 1.1 §5.2 "Block Device"): one request queue over a [`BlockBackend`].
//!
//! A request is one descriptor chain: a 16-byte device-readable header (type, reserved,
//! sector), the data (device-readable for OUT, device-writable for IN and GET_ID) and a final
//! device-writable status byte (§5.2.6). The device treats the readable and the writable
//! buffers as two byte streams, so any split of header and data over descriptors works.
//!
//! Supported: IN (read), OUT (write), FLUSH, GET_ID (a 20-byte serial). Anything else
//! completes with UNSUPP. Offered features: SEG_MAX (so Linux puts up to `queue size − 2`
//! data segments in one request; without it, it sends one) and FLUSH. Configuration:
//! capacity, size_max (0: none), seg_max, geometry (0), blk_size (512) — the first 24 bytes of
//! `struct virtio_blk_config`.
//!
//! # Threat note
//! The guest controls every chain. A request's data length must be a whole number of sectors
//! and at most [`MAX_REQUEST_BYTES`], and its sectors must lie inside the disk (checked with
//! `checked_add`) or it completes with IOERR and the disk is untouched. Data moves through the
//! transport's bounce buffer in pieces of at most its size, so nothing grows with the request;
//! a call handles at most one queue's worth of chains. A chain with no writable byte for the
//! status, or a buffer outside RAM, stops the device (DEVICE_NEEDS_RESET) — no panic.

use crate::interface::DeviceContext;
use crate::virtio::block_backend::{BlockBackend, SECTOR_BYTES, SECTOR_BYTES_U64};
use crate::virtio::chain::Chain;
use crate::virtio::device::{Identity, UsedQueues, VirtioDevice, VirtioError, read_config_window};
use crate::virtio::queue::Virtqueue;

/// Virtio device ID of a block device.
pub const VIRTIO_ID_BLOCK: u16 = 2;
/// Transitional PCI device ID of a block device.
pub const PCI_DEVICE_ID_BLOCK: u16 = 0x1001;
/// PCI base class: mass storage controller.
pub const CLASS_MASS_STORAGE: u8 = 0x01;
/// PCI sub-class 00h (SCSI), as transitional virtio-blk devices report.
pub const SUBCLASS_SCSI: u8 = 0x00;

/// Feature bit 2: `seg_max` in the configuration is valid.
pub const VIRTIO_BLK_F_SEG_MAX: u32 = 1 << 2;
/// Feature bit 9: the device handles FLUSH.
pub const VIRTIO_BLK_F_FLUSH: u32 = 1 << 9;

/// Configuration: capacity in sectors (64 bits).
pub const CONFIG_CAPACITY: usize = 0x00;
/// Configuration: largest segment size (32 bits; 0 as SIZE_MAX is not offered).
pub const CONFIG_SIZE_MAX: usize = 0x08;
/// Configuration: most data segments per request (32 bits).
pub const CONFIG_SEG_MAX: usize = 0x0C;
/// Configuration: geometry (cylinders 16 bits, heads 8, sectors 8; 0 as GEOMETRY is not offered).
pub const CONFIG_GEOMETRY: usize = 0x10;
/// Configuration: block size (32 bits).
pub const CONFIG_BLK_SIZE: usize = 0x14;
/// Bytes of configuration the device exposes.
pub const CONFIG_LEN: usize = 0x18;

/// Bytes of a request header.
pub const REQUEST_HEADER_BYTES: usize = 16;
/// Offset of the request type in the header.
pub const HEADER_TYPE: usize = 0;
/// Offset of the first sector in the header.
pub const HEADER_SECTOR: usize = 8;
/// Request type: read sectors into the writable buffers.
pub const VIRTIO_BLK_T_IN: u32 = 0;
/// Request type: write the readable buffers to sectors.
pub const VIRTIO_BLK_T_OUT: u32 = 1;
/// Request type: flush.
pub const VIRTIO_BLK_T_FLUSH: u32 = 4;
/// Request type: device ID string.
pub const VIRTIO_BLK_T_GET_ID: u32 = 8;
/// Status: success.
pub const VIRTIO_BLK_S_OK: u8 = 0;
/// Status: the request failed (bad range, bad length, back-end error).
pub const VIRTIO_BLK_S_IOERR: u8 = 1;
/// Status: unknown request type.
pub const VIRTIO_BLK_S_UNSUPP: u8 = 2;
/// Bytes of the GET_ID answer.
pub const ID_BYTES: usize = 20;

/// Entries of the request queue.
pub const QUEUE_SIZE: u16 = 128;
/// Data segments per request announced in `seg_max` (the chain also holds header and status).
pub const SEG_MAX: u32 = QUEUE_SIZE as u32 - 2;
/// Largest data length of one request (bounded work per request).
pub const MAX_REQUEST_BYTES: u64 = 16 << 20;
/// The serial number GET_ID returns unless set otherwise.
pub const DEFAULT_SERIAL: &[u8] = b"microhv-blk";

/// Index of the only queue.
const REQUEST_QUEUE: usize = 0;
/// Bytes of the status.
const STATUS_BYTES: u64 = 1;
const QUEUE_SIZES: [u16; 1] = [QUEUE_SIZE];

/// A virtio block device over `B`.
#[derive(Debug)]
pub struct VirtioBlk<B> {
    backend: B,
    serial: [u8; ID_BYTES],
    completed: u64,
    failed: u64,
}

impl<B: BlockBackend> VirtioBlk<B> {
    /// A block device over `backend`, with serial [`DEFAULT_SERIAL`].
    pub fn new(backend: B) -> Self {
        let mut serial = [0u8; ID_BYTES];
        serial[..DEFAULT_SERIAL.len()].copy_from_slice(DEFAULT_SERIAL);
        VirtioBlk {
            backend,
            serial,
            completed: 0,
            failed: 0,
        }
    }

    /// Sets the GET_ID serial (cut to [`ID_BYTES`], zero-padded).
    pub fn with_serial(mut self, serial: &[u8]) -> Self {
        let len = serial.len().min(ID_BYTES);
        self.serial = [0; ID_BYTES];
        self.serial[..len].copy_from_slice(&serial[..len]);
        self
    }

    /// The disk.
    pub fn backend(&self) -> &B {
        &self.backend
    }
    /// The disk, mutably.
    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }
    /// The disk, giving up the device (how the VMM takes the written image back).
    pub fn into_backend(self) -> B {
        self.backend
    }
    /// Requests completed with OK (saturating).
    pub fn completed(&self) -> u64 {
        self.completed
    }
    /// Requests completed with IOERR or UNSUPP (saturating).
    pub fn failed(&self) -> u64 {
        self.failed
    }

    /// Carries out one request; returns the bytes written into its writable buffers.
    fn handle(
        &mut self,
        ctx: &mut dyn DeviceContext,
        chain: &Chain,
        scratch: &mut [u8],
    ) -> Result<u32, VirtioError> {
        let writable = chain.writable_len();
        let Some(data_room) = writable.checked_sub(STATUS_BYTES) else {
            return Err(VirtioError::MissingStatus { head: chain.head() });
        };
        let mut reader = chain.reader();
        let mut header = [0u8; REQUEST_HEADER_BYTES];
        let got = reader.read(ctx, &mut header)?;
        let (status, written) = if got < REQUEST_HEADER_BYTES {
            (VIRTIO_BLK_S_IOERR, 0)
        } else {
            let mut kind = [0u8; 4];
            kind.copy_from_slice(&header[HEADER_TYPE..HEADER_TYPE + 4]);
            let kind = u32::from_le_bytes(kind);
            let mut sector = [0u8; 8];
            sector.copy_from_slice(&header[HEADER_SECTOR..HEADER_SECTOR + 8]);
            let sector = u64::from_le_bytes(sector);
            let data_in = chain
                .readable_len()
                .saturating_sub(REQUEST_HEADER_BYTES as u64);
            match kind {
                VIRTIO_BLK_T_IN => self.read_in(ctx, chain, sector, data_room, scratch)?,
                VIRTIO_BLK_T_OUT => (
                    self.write_out(ctx, &mut reader, sector, data_in, scratch)?,
                    0,
                ),
                VIRTIO_BLK_T_FLUSH => match self.backend.flush() {
                    Ok(()) => (VIRTIO_BLK_S_OK, 0),
                    Err(_) => (VIRTIO_BLK_S_IOERR, 0),
                },
                VIRTIO_BLK_T_GET_ID => {
                    let len = usize::try_from(data_room).unwrap_or(ID_BYTES).min(ID_BYTES);
                    let done = chain.writer().write(ctx, &self.serial[..len])?;
                    (VIRTIO_BLK_S_OK, done as u64)
                }
                _ => (VIRTIO_BLK_S_UNSUPP, 0),
            }
        };
        let mut status_cursor = chain.writer();
        status_cursor.skip(data_room);
        status_cursor.write(ctx, &[status])?;
        if status == VIRTIO_BLK_S_OK {
            self.completed = self.completed.saturating_add(1);
        } else {
            self.failed = self.failed.saturating_add(1);
        }
        // `written` ≤ MAX_REQUEST_BYTES (16 MiB), so the sum fits in 32 bits.
        Ok(u32::try_from(written + STATUS_BYTES).unwrap_or(u32::MAX))
    }

    /// Checks a data length and range; returns the length in bytes if the disk can serve it.
    fn check_range(&self, sector: u64, len: u64) -> Option<usize> {
        if !len.is_multiple_of(SECTOR_BYTES_U64) || len > MAX_REQUEST_BYTES {
            return None;
        }
        let end = sector.checked_add(len / SECTOR_BYTES_U64)?;
        if end > self.backend.sectors() {
            return None;
        }
        usize::try_from(len).ok()
    }

    /// IN: disk → guest. Returns the status and the data bytes written.
    fn read_in(
        &mut self,
        ctx: &mut dyn DeviceContext,
        chain: &Chain,
        sector: u64,
        len: u64,
        scratch: &mut [u8],
    ) -> Result<(u8, u64), VirtioError> {
        let piece = whole_sectors(scratch.len());
        let Some(len) = self.check_range(sector, len).filter(|_| piece > 0) else {
            return Ok((VIRTIO_BLK_S_IOERR, 0));
        };
        let mut writer = chain.writer();
        let mut done = 0usize;
        while done < len {
            let n = (len - done).min(piece);
            let at = sector + (done / SECTOR_BYTES) as u64;
            if self.backend.read(at, &mut scratch[..n]).is_err() {
                return Ok((VIRTIO_BLK_S_IOERR, done as u64));
            }
            writer.write(ctx, &scratch[..n])?;
            done += n;
        }
        Ok((VIRTIO_BLK_S_OK, done as u64))
    }

    /// OUT: guest → disk, from where `reader` stands (after the header). Returns the status.
    fn write_out(
        &mut self,
        ctx: &mut dyn DeviceContext,
        reader: &mut crate::virtio::chain::ChainCursor<'_>,
        sector: u64,
        len: u64,
        scratch: &mut [u8],
    ) -> Result<u8, VirtioError> {
        let piece = whole_sectors(scratch.len());
        let Some(len) = self.check_range(sector, len).filter(|_| piece > 0) else {
            return Ok(VIRTIO_BLK_S_IOERR);
        };
        let mut done = 0usize;
        while done < len {
            let n = (len - done).min(piece);
            reader.read(ctx, &mut scratch[..n])?;
            let at = sector + (done / SECTOR_BYTES) as u64;
            if self.backend.write(at, &scratch[..n]).is_err() {
                return Ok(VIRTIO_BLK_S_IOERR);
            }
            done += n;
        }
        Ok(VIRTIO_BLK_S_OK)
    }
}

/// The largest whole number of sectors in `len` bytes, in bytes.
fn whole_sectors(len: usize) -> usize {
    len - len % SECTOR_BYTES
}

impl<B: BlockBackend> VirtioDevice for VirtioBlk<B> {
    fn name(&self) -> &str {
        "virtio-blk"
    }
    fn identity(&self) -> Identity {
        Identity {
            virtio_id: VIRTIO_ID_BLOCK,
            pci_device_id: PCI_DEVICE_ID_BLOCK,
            class: (CLASS_MASS_STORAGE, SUBCLASS_SCSI, 0),
        }
    }
    fn features(&self) -> u32 {
        VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_FLUSH
    }
    fn queue_sizes(&self) -> &[u16] {
        &QUEUE_SIZES
    }
    fn config_len(&self) -> usize {
        CONFIG_LEN
    }
    fn read_config(&self, offset: usize, data: &mut [u8]) {
        let mut config = [0u8; CONFIG_LEN];
        config[CONFIG_CAPACITY..CONFIG_CAPACITY + 8]
            .copy_from_slice(&self.backend.sectors().to_le_bytes());
        config[CONFIG_SEG_MAX..CONFIG_SEG_MAX + 4].copy_from_slice(&SEG_MAX.to_le_bytes());
        config[CONFIG_BLK_SIZE..CONFIG_BLK_SIZE + 4]
            .copy_from_slice(&(SECTOR_BYTES as u32).to_le_bytes());
        read_config_window(&config, offset, data);
    }

    fn process(
        &mut self,
        ctx: &mut dyn DeviceContext,
        queue: usize,
        queues: &mut [Virtqueue],
        scratch: &mut [u8],
    ) -> Result<UsedQueues, VirtioError> {
        let Some(requests) = queues
            .get_mut(REQUEST_QUEUE)
            .filter(|_| queue == REQUEST_QUEUE)
        else {
            return Ok(UsedQueues::NONE);
        };
        let mut added = UsedQueues::NONE;
        for _ in 0..requests.size() {
            let Some(chain) = requests.pop(ctx)? else {
                break;
            };
            let written = self.handle(ctx, &chain, scratch)?;
            requests.push_used(ctx, chain.head(), written)?;
            added = UsedQueues::only(REQUEST_QUEUE);
        }
        Ok(added)
    }
}
