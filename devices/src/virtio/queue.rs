//! A legacy split virtqueue, device side (VIRTIO 1.1 §2.7 "Split Virtqueues", §2.7.2 legacy
//! layout): the descriptor table, the available ring and (on the next 4 KiB boundary) the used
//! ring, all in guest RAM and reached only through the context's DMA (operations 5–6).
//!
//! [`Virtqueue::pop`] takes the next available descriptor chain and walks it into a
//! [`Chain`] of buffer [`Segment`]s; [`Virtqueue::push_used`] returns a chain to the driver.
//!
//! # Threat note
//! The guest writes every byte of the rings. The queue size is fixed by the device (a power of
//! two, at most [`MAX_QUEUE_SIZE`]); the queue address is a 32-bit page number, so every ring
//! address fits in 45 bits and is computed with checked arithmetic. Ring indices are reduced
//! modulo the size; an available index more than `size` ahead of the device is refused. A chain
//! visits each descriptor at most once (a bitmap detects loops), so it has at most `size`
//! segments and a walk reads at most `size` descriptors. Indirect descriptors are not offered
//! and are refused; a device-readable buffer after a device-writable one is refused. Buffer
//! lengths add up in `u64` (at most 256 × 4 GiB, no overflow). Every error is a value: the
//! transport answers it with DEVICE_NEEDS_RESET and stops the device, never a panic.

use alloc::vec::Vec;

use crate::interface::{DeviceContext, DmaError, Gpa};
use crate::virtio::chain::{Chain, Segment};
use crate::virtio::regs::{
    AVAIL_ENTRY_BYTES, AVAIL_F_NO_INTERRUPT, AVAIL_TRAILER_BYTES, DESC_F_INDIRECT, DESC_F_NEXT,
    DESC_F_WRITE, DESCRIPTOR_ADDR, DESCRIPTOR_BYTES, DESCRIPTOR_FLAGS, DESCRIPTOR_LEN,
    DESCRIPTOR_NEXT, LEGACY_QUEUE_ALIGN, MAX_QUEUE_SIZE, QUEUE_ADDRESS_SHIFT, RING_ENTRIES,
    RING_FLAGS, RING_IDX, USED_ENTRY_BYTES,
};

/// Why a queue operation failed. Each one means the driver broke the ring protocol (or
/// pointed it outside RAM); the device stops rather than guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueError {
    /// A size that is zero, not a power of two, or above [`MAX_QUEUE_SIZE`].
    BadSize(u16),
    /// The queue has no address (the driver never wrote the queue address register).
    NotReady,
    /// A ring or descriptor lies outside guest RAM.
    Dma(DmaError),
    /// The available index ran more than `size` entries ahead of the device.
    AvailIndexJump { avail: u16, last: u16, size: u16 },
    /// A descriptor index (head or `next`) at or above the queue size.
    IndexOutOfRange { index: u16, size: u16 },
    /// The chain came back to a descriptor it already visited.
    Loop { index: u16 },
    /// A descriptor with the INDIRECT flag (the feature is not offered).
    Indirect { index: u16 },
    /// A device-readable descriptor after a device-writable one (§2.7.4.2).
    ReadableAfterWritable { index: u16 },
}

impl From<DmaError> for QueueError {
    fn from(e: DmaError) -> Self {
        QueueError::Dma(e)
    }
}

/// One virtqueue's device-side state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Virtqueue {
    size: u16,
    /// The page number the driver wrote (0: not set up).
    page: u32,
    /// Next available-ring slot the device will read (free-running, wraps at 2^16).
    next_avail: u16,
    /// Next used-ring slot the device will write (free-running).
    next_used: u16,
}

/// Bitmap words covering [`MAX_QUEUE_SIZE`] descriptors.
const VISITED_WORDS: usize = MAX_QUEUE_SIZE as usize / u64::BITS as usize;

impl Virtqueue {
    /// A queue of `size` entries (a power of two, 1..=[`MAX_QUEUE_SIZE`]), not yet set up.
    pub const fn new(size: u16) -> Result<Self, QueueError> {
        if size == 0 || !size.is_power_of_two() || size > MAX_QUEUE_SIZE {
            return Err(QueueError::BadSize(size));
        }
        Ok(Virtqueue {
            size,
            page: 0,
            next_avail: 0,
            next_used: 0,
        })
    }

    /// The queue size (what the queue size register reads).
    pub fn size(&self) -> u16 {
        self.size
    }

    /// The page number the driver programmed (what the queue address register reads).
    pub fn page(&self) -> u32 {
        self.page
    }

    /// Sets the queue's page number (0 disables it) and restarts the ring indices.
    pub fn set_page(&mut self, page: u32) {
        self.page = page;
        self.next_avail = 0;
        self.next_used = 0;
    }

    /// Back to not set up (device reset).
    pub fn reset(&mut self) {
        self.set_page(0);
    }

    /// Whether the driver gave the queue an address.
    pub fn is_ready(&self) -> bool {
        self.page != 0
    }

    /// The next available-ring slot the device will read.
    pub fn next_avail(&self) -> u16 {
        self.next_avail
    }

    /// The next used-ring slot the device will write.
    pub fn next_used(&self) -> u16 {
        self.next_used
    }

    /// Guest-physical address of the descriptor table.
    pub fn descriptor_table(&self) -> Result<Gpa, QueueError> {
        if self.page == 0 {
            return Err(QueueError::NotReady);
        }
        Ok(u64::from(self.page) << QUEUE_ADDRESS_SHIFT)
    }

    /// Guest-physical address of the available ring (right after the descriptor table).
    pub fn avail_ring(&self) -> Result<Gpa, QueueError> {
        let table = self.descriptor_table()?;
        Ok(table + DESCRIPTOR_BYTES * u64::from(self.size))
    }

    /// Guest-physical address of the used ring (after the available ring, 4 KiB aligned).
    pub fn used_ring(&self) -> Result<Gpa, QueueError> {
        let avail_end = self.avail_ring()?
            + RING_ENTRIES
            + AVAIL_ENTRY_BYTES * u64::from(self.size)
            + AVAIL_TRAILER_BYTES;
        // The page number is 32 bits and the rings are a few KiB: at most 2^45, no overflow.
        Ok(avail_end.next_multiple_of(LEGACY_QUEUE_ALIGN))
    }

    /// Bytes of guest memory the queue spans (descriptor table to the end of the used ring).
    pub const fn legacy_bytes(size: u16) -> u64 {
        let size = size as u64;
        let avail_end =
            DESCRIPTOR_BYTES * size + RING_ENTRIES + AVAIL_ENTRY_BYTES * size + AVAIL_TRAILER_BYTES;
        avail_end.next_multiple_of(LEGACY_QUEUE_ALIGN)
            + RING_ENTRIES
            + USED_ENTRY_BYTES * size
            + AVAIL_TRAILER_BYTES
    }

    /// Whether the driver has made chains available that the device has not taken.
    pub fn has_available(&self, ctx: &mut dyn DeviceContext) -> Result<bool, QueueError> {
        Ok(self.pending(ctx)? > 0)
    }

    /// Takes the next available chain, or `None` if the driver has made none available.
    pub fn pop(&mut self, ctx: &mut dyn DeviceContext) -> Result<Option<Chain>, QueueError> {
        if self.pending(ctx)? == 0 {
            return Ok(None);
        }
        let slot = self.next_avail % self.size;
        let entry = self.avail_ring()? + RING_ENTRIES + AVAIL_ENTRY_BYTES * u64::from(slot);
        let head = read_u16(ctx, entry)?;
        let chain = self.walk(ctx, head)?;
        self.next_avail = self.next_avail.wrapping_add(1);
        Ok(Some(chain))
    }

    /// Returns chain `head` to the driver with `len` bytes written into its buffers, then
    /// publishes the new used index.
    pub fn push_used(
        &mut self,
        ctx: &mut dyn DeviceContext,
        head: u16,
        len: u32,
    ) -> Result<(), QueueError> {
        let used = self.used_ring()?;
        let slot = self.next_used % self.size;
        let entry = used + RING_ENTRIES + USED_ENTRY_BYTES * u64::from(slot);
        let mut element = [0u8; USED_ENTRY_BYTES as usize];
        element[..4].copy_from_slice(&u32::from(head).to_le_bytes());
        element[4..].copy_from_slice(&len.to_le_bytes());
        ctx.dma_write(entry, &element)?;
        let next = self.next_used.wrapping_add(1);
        ctx.dma_write(used + RING_IDX, &next.to_le_bytes())?;
        self.next_used = next;
        Ok(())
    }

    /// Whether the driver wants an interrupt for new used buffers (the available ring's
    /// NO_INTERRUPT flag is clear; §2.7.7).
    pub fn wants_interrupt(&self, ctx: &mut dyn DeviceContext) -> Result<bool, QueueError> {
        let flags = read_u16(ctx, self.avail_ring()? + RING_FLAGS)?;
        Ok(flags & AVAIL_F_NO_INTERRUPT == 0)
    }

    /// Chains the driver made available that the device has not taken, checked against the size.
    fn pending(&self, ctx: &mut dyn DeviceContext) -> Result<u16, QueueError> {
        let avail = read_u16(ctx, self.avail_ring()? + RING_IDX)?;
        let pending = avail.wrapping_sub(self.next_avail);
        if pending > self.size {
            return Err(QueueError::AvailIndexJump {
                avail,
                last: self.next_avail,
                size: self.size,
            });
        }
        Ok(pending)
    }

    /// Follows the chain starting at descriptor `head`.
    fn walk(&self, ctx: &mut dyn DeviceContext, head: u16) -> Result<Chain, QueueError> {
        let table = self.descriptor_table()?;
        let mut visited = [0u64; VISITED_WORDS];
        let mut segments = Vec::new();
        let mut seen_writable = false;
        let mut index = head;
        loop {
            if index >= self.size {
                return Err(QueueError::IndexOutOfRange {
                    index,
                    size: self.size,
                });
            }
            let word = usize::from(index) / u64::BITS as usize;
            let bit = 1u64 << (u32::from(index) % u64::BITS);
            if visited[word] & bit != 0 {
                return Err(QueueError::Loop { index });
            }
            visited[word] |= bit;

            let mut raw = [0u8; DESCRIPTOR_BYTES as usize];
            ctx.dma_read(table + DESCRIPTOR_BYTES * u64::from(index), &mut raw)?;
            let addr = u64::from_le_bytes(field(&raw, DESCRIPTOR_ADDR));
            let len = u32::from_le_bytes(field(&raw, DESCRIPTOR_LEN));
            let flags = u16::from_le_bytes(field(&raw, DESCRIPTOR_FLAGS));
            let next = u16::from_le_bytes(field(&raw, DESCRIPTOR_NEXT));
            if flags & DESC_F_INDIRECT != 0 {
                return Err(QueueError::Indirect { index });
            }
            let writable = flags & DESC_F_WRITE != 0;
            if seen_writable && !writable {
                return Err(QueueError::ReadableAfterWritable { index });
            }
            seen_writable |= writable;
            segments.push(Segment {
                addr,
                len,
                writable,
            });
            if flags & DESC_F_NEXT == 0 {
                return Ok(Chain::new(head, segments));
            }
            index = next;
        }
    }
}

/// Reads a little-endian `u16` of guest memory.
fn read_u16(ctx: &mut dyn DeviceContext, gpa: Gpa) -> Result<u16, QueueError> {
    let mut bytes = [0u8; 2];
    ctx.dma_read(gpa, &mut bytes)?;
    Ok(u16::from_le_bytes(bytes))
}

/// The `N` bytes of `raw` at `at` (a fixed descriptor field; `at + N` ≤ 16 by the constants).
fn field<const N: usize>(raw: &[u8; DESCRIPTOR_BYTES as usize], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&raw[at..at + N]);
    out
}
