//! A walked descriptor chain (VIRTIO 1.1 §2.7.5, §2.7.4.2): its buffers as [`Segment`]s, the
//! device-readable ones first, and cursors that move bytes between a device-side buffer and
//! the chain's buffers through the context's DMA, as one byte stream per direction.
//!
//! # Threat note
//! Segment addresses and lengths are the guest's; they are only ever handed to
//! `ctx.dma_read`/`ctx.dma_write`, which bounds-check them against guest RAM. Cursor positions
//! only move forward over lengths summed in `u64`, so no arithmetic here can overflow.

use alloc::vec::Vec;

use crate::interface::{DeviceContext, DmaError, Gpa};

/// One buffer of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Guest-physical address of the buffer.
    pub addr: Gpa,
    /// Its length in bytes.
    pub len: u32,
    /// Device-writable (otherwise device-readable).
    pub writable: bool,
}

/// A chain taken from the available ring: its head index (what goes back in the used ring)
/// and its buffers in order, device-readable ones first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    head: u16,
    segments: Vec<Segment>,
}

impl Chain {
    /// A chain with head descriptor `head` (the queue walker builds these).
    pub fn new(head: u16, segments: Vec<Segment>) -> Self {
        Chain { head, segments }
    }
    /// The head descriptor's index.
    pub fn head(&self) -> u16 {
        self.head
    }
    /// The buffers, in chain order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }
    /// Total bytes of the device-readable buffers.
    pub fn readable_len(&self) -> u64 {
        self.total(false)
    }
    /// Total bytes of the device-writable buffers.
    pub fn writable_len(&self) -> u64 {
        self.total(true)
    }
    /// A cursor over the device-readable bytes, at their start.
    pub fn reader(&self) -> ChainCursor<'_> {
        ChainCursor::new(&self.segments, false)
    }
    /// A cursor over the device-writable bytes, at their start.
    pub fn writer(&self) -> ChainCursor<'_> {
        ChainCursor::new(&self.segments, true)
    }
    fn total(&self, writable: bool) -> u64 {
        self.segments
            .iter()
            .filter(|s| s.writable == writable)
            .map(|s| u64::from(s.len))
            .sum()
    }
}

/// A position in one direction's byte stream of a chain.
#[derive(Debug, Clone)]
pub struct ChainCursor<'a> {
    segments: &'a [Segment],
    writable: bool,
    /// Index into `segments` of the current buffer.
    index: usize,
    /// Bytes of the current buffer already passed.
    offset: u32,
}

impl<'a> ChainCursor<'a> {
    fn new(segments: &'a [Segment], writable: bool) -> Self {
        let mut cursor = ChainCursor {
            segments,
            writable,
            index: 0,
            offset: 0,
        };
        cursor.settle();
        cursor
    }

    /// Copies the next bytes of the stream into `buf` (guest → device). Returns how many were
    /// copied: fewer than `buf.len()` only at the end of the stream.
    pub fn read(&mut self, ctx: &mut dyn DeviceContext, buf: &mut [u8]) -> Result<usize, DmaError> {
        let mut done = 0;
        while done < buf.len() {
            let Some((addr, len)) = self.current(buf.len() - done) else {
                break;
            };
            ctx.dma_read(addr, &mut buf[done..done + len])?;
            self.advance(len);
            done += len;
        }
        Ok(done)
    }

    /// Copies `data` into the next bytes of the stream (device → guest). Returns how many were
    /// copied: fewer than `data.len()` only at the end of the stream.
    pub fn write(&mut self, ctx: &mut dyn DeviceContext, data: &[u8]) -> Result<usize, DmaError> {
        let mut done = 0;
        while done < data.len() {
            let Some((addr, len)) = self.current(data.len() - done) else {
                break;
            };
            ctx.dma_write(addr, &data[done..done + len])?;
            self.advance(len);
            done += len;
        }
        Ok(done)
    }

    /// Moves forward `count` bytes without touching guest memory. Returns how many were passed.
    pub fn skip(&mut self, count: u64) -> u64 {
        let mut done = 0u64;
        while done < count {
            let want = usize::try_from(count - done).unwrap_or(usize::MAX);
            let Some((_, len)) = self.current(want) else {
                break;
            };
            self.advance(len);
            done += len as u64;
        }
        done
    }

    /// The address and length (at most `want`) of the next piece of the current buffer.
    fn current(&self, want: usize) -> Option<(Gpa, usize)> {
        let segment = self.segments.get(self.index)?;
        let left = segment.len - self.offset;
        let len = usize::try_from(left).unwrap_or(usize::MAX).min(want);
        // `addr + offset` may pass the top of the address space only for a buffer that is not
        // RAM; wrapping hands the DMA check an address it refuses.
        Some((segment.addr.wrapping_add(u64::from(self.offset)), len))
    }

    /// Passes `len` bytes of the current buffer (at most what is left of it).
    fn advance(&mut self, len: usize) {
        // `len` came from `current`, so it fits the buffer's `u32` remainder.
        self.offset = self
            .offset
            .saturating_add(u32::try_from(len).unwrap_or(u32::MAX));
        self.settle();
    }

    /// Moves to the first buffer of this direction with bytes left.
    fn settle(&mut self) {
        while let Some(segment) = self.segments.get(self.index) {
            if segment.writable == self.writable && self.offset < segment.len {
                return;
            }
            self.index += 1;
            self.offset = 0;
        }
    }
}
