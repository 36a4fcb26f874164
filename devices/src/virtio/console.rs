//! virtio-console (VIRTIO 1.1 §5.3 "Console Device") with one port and no optional features:
//! receiveq (queue 0) carries bytes to the guest, transmitq (queue 1) bytes from it
//! (§5.3.2). Linux binds it as `/dev/hvc0`.
//!
//! What the guest transmits goes to a [`ConsoleSink`] (like the UART's back end); what comes
//! for the guest is queued in the device (bounded, [`INPUT_CAPACITY`]) — pushed by the VMM with
//! [`VirtioConsole::push_input`] or pulled from the sink's [`ConsoleSink::read`] every
//! [`POLL_PERIOD_NS`] — and copied into the receive buffers the driver has made available.
//!
//! Configuration (read-only, meaningful only with features the device does not offer): cols 0,
//! rows 0, max_nr_ports 1, emerg_wr 0.
//!
//! # Threat note
//! The guest controls the chains. A transmit chain delivers at most
//! [`MAX_TRANSMIT_CHAIN_BYTES`] to the sink (the rest is counted in
//! [`VirtioConsole::truncated_output`]); a call handles at most one queue's worth of chains;
//! data moves through the transport's fixed bounce buffer. Input past [`INPUT_CAPACITY`] is
//! refused, so the VMM sees how much was taken. Buffers outside RAM stop the device.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::interface::{DeviceContext, Nanos};
use crate::virtio::device::{Identity, UsedQueues, VirtioDevice, VirtioError, read_config_window};
use crate::virtio::queue::Virtqueue;

/// Virtio device ID of a console.
pub const VIRTIO_ID_CONSOLE: u16 = 3;
/// Transitional PCI device ID of a console.
pub const PCI_DEVICE_ID_CONSOLE: u16 = 0x1003;
/// PCI base class: simple communication controller.
pub const CLASS_COMMUNICATION: u8 = 0x07;
/// PCI sub-class 80h: other communication device.
pub const SUBCLASS_OTHER: u8 = 0x80;

/// Port 0's receive queue (device → guest).
pub const RECEIVE_QUEUE: usize = 0;
/// Port 0's transmit queue (guest → device).
pub const TRANSMIT_QUEUE: usize = 1;
/// Entries of each queue.
pub const QUEUE_SIZE: u16 = 64;
/// Bytes of input the device holds for the guest.
pub const INPUT_CAPACITY: usize = 4096;
/// Bytes of one transmit chain handed to the sink; the rest is dropped and counted.
pub const MAX_TRANSMIT_CHAIN_BYTES: usize = 64 * 1024;
/// How often the transport pulls input from the sink.
pub const POLL_PERIOD_NS: Nanos = 10_000_000;

/// Configuration: columns (16 bits).
pub const CONFIG_COLS: usize = 0x00;
/// Configuration: rows (16 bits).
pub const CONFIG_ROWS: usize = 0x02;
/// Configuration: most ports (32 bits).
pub const CONFIG_MAX_NR_PORTS: usize = 0x04;
/// Configuration: emergency write (32 bits).
pub const CONFIG_EMERG_WR: usize = 0x08;
/// Bytes of configuration.
pub const CONFIG_LEN: usize = 0x0C;
/// Ports of this console.
pub const PORTS: u32 = 1;

const QUEUE_SIZES: [u16; 2] = [QUEUE_SIZE, QUEUE_SIZE];

/// Where a console's bytes go and come from.
pub trait ConsoleSink: Send {
    /// The guest wrote `bytes`.
    fn write(&mut self, bytes: &[u8]);
    /// Fills `buf` with input for the guest; returns how many bytes (default: none).
    fn read(&mut self, _buf: &mut [u8]) -> usize {
        0
    }
}

/// Most output bytes a [`BufferedSink`] keeps.
pub const BUFFERED_SINK_CAPACITY: usize = 64 * 1024;

/// A sink into memory (tests, or a VMM that forwards output itself): keeps up to
/// [`BUFFERED_SINK_CAPACITY`] bytes, drops and counts the rest.
#[derive(Debug, Clone, Default)]
pub struct BufferedSink {
    output: Vec<u8>,
    dropped: u64,
}

impl BufferedSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }
    /// What the guest wrote so far.
    pub fn output(&self) -> &[u8] {
        &self.output
    }
    /// Returns and clears the output.
    pub fn take_output(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.output)
    }
    /// Bytes dropped because the sink was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl ConsoleSink for BufferedSink {
    fn write(&mut self, bytes: &[u8]) {
        let room = BUFFERED_SINK_CAPACITY.saturating_sub(self.output.len());
        let kept = bytes.len().min(room);
        self.output.extend_from_slice(&bytes[..kept]);
        self.dropped = self.dropped.saturating_add((bytes.len() - kept) as u64);
    }
}

/// A one-port virtio console over sink `S`.
#[derive(Debug)]
pub struct VirtioConsole<S> {
    sink: S,
    input: VecDeque<u8>,
    truncated_output: u64,
}

impl<S: ConsoleSink> VirtioConsole<S> {
    /// A console writing to `sink`.
    pub fn new(sink: S) -> Self {
        VirtioConsole {
            sink,
            input: VecDeque::new(),
            truncated_output: 0,
        }
    }
    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }
    /// The sink, mutably.
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }
    /// Queues `bytes` for the guest (delivered on the next poll or receive-queue
    /// notification); returns how many fit under [`INPUT_CAPACITY`].
    pub fn push_input(&mut self, bytes: &[u8]) -> usize {
        let room = INPUT_CAPACITY.saturating_sub(self.input.len());
        let taken = bytes.len().min(room);
        self.input.extend(&bytes[..taken]);
        taken
    }
    /// Input bytes not yet delivered to the guest.
    pub fn pending_input(&self) -> usize {
        self.input.len()
    }
    /// Transmitted bytes dropped past [`MAX_TRANSMIT_CHAIN_BYTES`] per chain (saturating).
    pub fn truncated_output(&self) -> u64 {
        self.truncated_output
    }

    /// Hands every available transmit chain's bytes to the sink.
    fn transmit(
        &mut self,
        ctx: &mut dyn DeviceContext,
        queue: &mut Virtqueue,
        scratch: &mut [u8],
    ) -> Result<UsedQueues, VirtioError> {
        let mut used = UsedQueues::NONE;
        for _ in 0..queue.size() {
            let Some(chain) = queue.pop(ctx)? else {
                break;
            };
            let mut reader = chain.reader();
            let mut left = MAX_TRANSMIT_CHAIN_BYTES;
            while left > 0 {
                let piece = left.min(scratch.len());
                let got = reader.read(ctx, &mut scratch[..piece])?;
                if got == 0 {
                    break;
                }
                self.sink.write(&scratch[..got]);
                left -= got;
            }
            let beyond = chain
                .readable_len()
                .saturating_sub(MAX_TRANSMIT_CHAIN_BYTES as u64);
            self.truncated_output = self.truncated_output.saturating_add(beyond);
            queue.push_used(ctx, chain.head(), 0)?;
            used = UsedQueues::only(TRANSMIT_QUEUE);
        }
        Ok(used)
    }

    /// Copies queued input into available receive buffers.
    fn deliver(
        &mut self,
        ctx: &mut dyn DeviceContext,
        queue: &mut Virtqueue,
        scratch: &mut [u8],
    ) -> Result<UsedQueues, VirtioError> {
        let mut used = UsedQueues::NONE;
        for _ in 0..queue.size() {
            if self.input.is_empty() || !queue.is_ready() {
                break;
            }
            let Some(chain) = queue.pop(ctx)? else {
                break;
            };
            let room = usize::try_from(chain.writable_len()).unwrap_or(usize::MAX);
            let count = self.input.len().min(room).min(scratch.len());
            for (slot, byte) in scratch.iter_mut().zip(self.input.iter()).take(count) {
                *slot = *byte;
            }
            let written = chain.writer().write(ctx, &scratch[..count])?;
            self.input.drain(..written);
            // `written` ≤ the bounce buffer's size.
            queue.push_used(
                ctx,
                chain.head(),
                u32::try_from(written).unwrap_or(u32::MAX),
            )?;
            used = UsedQueues::only(RECEIVE_QUEUE);
        }
        Ok(used)
    }
}

impl<S: ConsoleSink> VirtioDevice for VirtioConsole<S> {
    fn name(&self) -> &str {
        "virtio-console"
    }
    fn identity(&self) -> Identity {
        Identity {
            virtio_id: VIRTIO_ID_CONSOLE,
            pci_device_id: PCI_DEVICE_ID_CONSOLE,
            class: (CLASS_COMMUNICATION, SUBCLASS_OTHER, 0),
        }
    }
    fn features(&self) -> u32 {
        0
    }
    fn queue_sizes(&self) -> &[u16] {
        &QUEUE_SIZES
    }
    fn config_len(&self) -> usize {
        CONFIG_LEN
    }
    fn read_config(&self, offset: usize, data: &mut [u8]) {
        let mut config = [0u8; CONFIG_LEN];
        config[CONFIG_MAX_NR_PORTS..CONFIG_MAX_NR_PORTS + 4].copy_from_slice(&PORTS.to_le_bytes());
        read_config_window(&config, offset, data);
    }

    fn process(
        &mut self,
        ctx: &mut dyn DeviceContext,
        queue: usize,
        queues: &mut [Virtqueue],
        scratch: &mut [u8],
    ) -> Result<UsedQueues, VirtioError> {
        let Some(target) = queues.get_mut(queue) else {
            return Ok(UsedQueues::NONE);
        };
        match queue {
            TRANSMIT_QUEUE => self.transmit(ctx, target, scratch),
            RECEIVE_QUEUE => self.deliver(ctx, target, scratch),
            _ => Ok(UsedQueues::NONE),
        }
    }

    fn poll(
        &mut self,
        ctx: &mut dyn DeviceContext,
        queues: &mut [Virtqueue],
        scratch: &mut [u8],
    ) -> Result<UsedQueues, VirtioError> {
        let room = INPUT_CAPACITY
            .saturating_sub(self.input.len())
            .min(scratch.len());
        let got = self.sink.read(&mut scratch[..room]).min(room);
        self.input.extend(&scratch[..got]);
        match queues.get_mut(RECEIVE_QUEUE) {
            Some(receive) => self.deliver(ctx, receive, scratch),
            None => Ok(UsedQueues::NONE),
        }
    }

    fn poll_period(&self) -> Option<Nanos> {
        Some(POLL_PERIOD_NS)
    }
}
