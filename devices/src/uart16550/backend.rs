//! What sits behind the UART's serial line: the [`UartBackend`] trait, and [`BufferedBackend`],
//! a bounded in-memory line for tests and pure emulation.
//!
//! The register model (`Uart16550`) is the same for every way of building the device; only the
//! back end changes: a buffer here, the hypervisor's own host UART driver (host-driver backed,
//! shared between VMs under a critical section), or a mediated real port.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::interface::DeviceContext;
use crate::uart16550::registers::msr;

/// The far end of the serial line.
pub trait UartBackend: Send {
    /// The guest sent `byte` (already cut to the programmed word length). Not called in
    /// loopback mode, where the transmitter is wired to the receiver.
    fn transmit(&mut self, ctx: &mut dyn DeviceContext, byte: u8);

    /// The next byte the outside world has for the guest, if any. Called only while the
    /// receiver has room, so a back end keeps what the guest has not yet taken.
    fn poll_receive(&mut self, ctx: &mut dyn DeviceContext) -> Option<u8>;

    /// The modem input lines as MSR bits 4–7 ([`msr::LINES`]). The default is a terminal that
    /// is connected and ready: CTS, DSR and DCD asserted, no ring.
    fn modem_inputs(&mut self) -> u8 {
        msr::CTS | msr::DSR | msr::DCD
    }
}

/// Most bytes a [`BufferedBackend`] holds in each direction.
pub const BUFFERED_CAPACITY: usize = 64 * 1024;

/// A serial line into memory: what the guest transmits is kept for the VMM to read; what the
/// VMM pushes is handed to the guest's receiver. Both directions are bounded; bytes past the
/// cap are refused (input) or dropped and counted (output).
#[derive(Debug, Clone)]
pub struct BufferedBackend {
    capacity: usize,
    output: VecDeque<u8>,
    input: VecDeque<u8>,
    dropped_output: u64,
}

impl Default for BufferedBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl BufferedBackend {
    /// A back end holding up to [`BUFFERED_CAPACITY`] bytes each way.
    pub fn new() -> Self {
        Self::with_capacity(BUFFERED_CAPACITY)
    }

    /// A back end holding up to `capacity` bytes each way (at most [`BUFFERED_CAPACITY`], at
    /// least one).
    pub fn with_capacity(capacity: usize) -> Self {
        BufferedBackend {
            capacity: capacity.clamp(1, BUFFERED_CAPACITY),
            output: VecDeque::new(),
            input: VecDeque::new(),
            dropped_output: 0,
        }
    }

    /// The per-direction cap.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Queues bytes for the guest to receive; returns how many fitted.
    pub fn push_input(&mut self, bytes: &[u8]) -> usize {
        let room = self.capacity.saturating_sub(self.input.len());
        let taken = bytes.len().min(room);
        self.input.extend(&bytes[..taken]);
        taken
    }

    /// Bytes queued for the guest and not yet taken by its receiver.
    pub fn pending_input(&self) -> usize {
        self.input.len()
    }

    /// What the guest transmitted so far, oldest first.
    pub fn output(&self) -> &VecDeque<u8> {
        &self.output
    }

    /// Takes what the guest transmitted so far.
    pub fn take_output(&mut self) -> Vec<u8> {
        self.output.drain(..).collect()
    }

    /// Bytes the guest transmitted while the output was full.
    pub fn dropped_output(&self) -> u64 {
        self.dropped_output
    }
}

impl UartBackend for BufferedBackend {
    fn transmit(&mut self, _ctx: &mut dyn DeviceContext, byte: u8) {
        if self.output.len() < self.capacity {
            self.output.push_back(byte);
        } else {
            self.dropped_output = self.dropped_output.saturating_add(1);
        }
    }

    fn poll_receive(&mut self, _ctx: &mut dyn DeviceContext) -> Option<u8> {
        self.input.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeContext;

    #[test]
    fn buffered_backend_refuses_input_past_capacity() {
        let mut backend = BufferedBackend::with_capacity(4);
        assert_eq!(backend.push_input(b"abcdef"), 4);
        assert_eq!(backend.push_input(b"g"), 0);
        let mut ctx = FakeContext::new();
        assert_eq!(backend.poll_receive(&mut ctx), Some(b'a'));
        assert_eq!(backend.pending_input(), 3);
    }

    #[test]
    fn buffered_backend_drops_and_counts_output_past_capacity() {
        let mut backend = BufferedBackend::with_capacity(2);
        let mut ctx = FakeContext::new();
        for byte in *b"xyz" {
            backend.transmit(&mut ctx, byte);
        }
        assert_eq!(backend.take_output(), b"xy");
        assert_eq!(backend.dropped_output(), 1);
    }
}
