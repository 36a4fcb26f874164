//! What a virtio device type (block, console) provides to the PCI transport
//! ([`crate::virtio::VirtioPci`]): its identity (VIRTIO 1.1 §5 device IDs, §4.1.2.1 PCI
//! IDs), its feature bits, its queues, its configuration space, and the work it does when the
//! driver notifies a queue.

use crate::interface::{DeviceContext, DmaError, Nanos};
use crate::virtio::queue::{QueueError, Virtqueue};

/// Why a device stopped processing: the driver broke the protocol. The transport sets
/// DEVICE_NEEDS_RESET and ignores the device's queues until the driver resets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VirtioError {
    /// A ring or descriptor chain was malformed.
    Queue(QueueError),
    /// A buffer of a well-formed chain is not guest RAM.
    Dma(DmaError),
    /// A request's chain has no device-writable byte to put its status in.
    MissingStatus { head: u16 },
}

impl From<QueueError> for VirtioError {
    fn from(e: QueueError) -> Self {
        VirtioError::Queue(e)
    }
}

impl From<DmaError> for VirtioError {
    fn from(e: DmaError) -> Self {
        VirtioError::Dma(e)
    }
}

/// Which queues got new used buffers (bit `i`: queue `i`), so the transport asks only those
/// whether the driver wants an interrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UsedQueues(pub u32);

impl UsedQueues {
    /// No queue.
    pub const NONE: UsedQueues = UsedQueues(0);
    /// Just queue `index` (indices past 31 are not representable and give none; the transport
    /// allows at most [`crate::virtio::MAX_QUEUES`]).
    pub fn only(index: usize) -> Self {
        UsedQueues(
            u32::try_from(index)
                .ok()
                .and_then(|i| 1u32.checked_shl(i))
                .unwrap_or(0),
        )
    }
    /// Both sets.
    pub fn with(self, other: UsedQueues) -> Self {
        UsedQueues(self.0 | other.0)
    }
    /// Whether queue `index` is in the set.
    pub fn contains(self, index: usize) -> bool {
        UsedQueues::only(index).0 & self.0 != 0
    }
}

/// Static identity of a device type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// Virtio device ID (§5: 2 block, 3 console); the PCI subsystem ID.
    pub virtio_id: u16,
    /// Transitional PCI device ID (0x1000 + virtio ID − 1 for the original types).
    pub pci_device_id: u16,
    /// PCI base class, sub-class and programming interface.
    pub class: (u8, u8, u8),
}

/// Copy the bytes of a device's configuration `config` at `offset` into `data`; bytes past
/// its end (or an offset that overflows) read as 0. Guest-controlled offsets stay bounded.
pub fn read_config_window(config: &[u8], offset: usize, data: &mut [u8]) {
    for (i, byte) in data.iter_mut().enumerate() {
        *byte = offset
            .checked_add(i)
            .and_then(|at| config.get(at))
            .copied()
            .unwrap_or(0);
    }
}

/// A virtio device type behind the PCI transport.
pub trait VirtioDevice: Send {
    /// A short name for diagnostics.
    fn name(&self) -> &str;
    /// Its identity.
    fn identity(&self) -> Identity;
    /// Feature bits 0–31 it offers.
    fn features(&self) -> u32;
    /// Queue sizes, one per queue (each a power of two, at most 256).
    fn queue_sizes(&self) -> &[u16];
    /// Bytes of device-specific configuration.
    fn config_len(&self) -> usize;
    /// Reads configuration bytes at `offset` (bytes past the end read 0).
    fn read_config(&self, offset: usize, data: &mut [u8]);
    /// Writes configuration bytes (default: read-only configuration).
    fn write_config(&mut self, _offset: usize, _data: &[u8]) {}
    /// The driver accepted `features` (a subset of [`VirtioDevice::features`]).
    fn set_driver_features(&mut self, _features: u32) {}

    /// The driver notified queue `queue` (or set DRIVER_OK: every queue is run once). Takes
    /// what the queue has and returns which queues got used buffers. `scratch` is a bounce
    /// buffer the transport holds from the VMM (operation 16). Only set-up queues are passed.
    fn process(
        &mut self,
        ctx: &mut dyn DeviceContext,
        queue: usize,
        queues: &mut [Virtqueue],
        scratch: &mut [u8],
    ) -> Result<UsedQueues, VirtioError>;

    /// Work that does not come from a notification (input arriving from the VMM). Returns
    /// which queues got used buffers.
    fn poll(
        &mut self,
        _ctx: &mut dyn DeviceContext,
        _queues: &mut [Virtqueue],
        _scratch: &mut [u8],
    ) -> Result<UsedQueues, VirtioError> {
        Ok(UsedQueues::NONE)
    }

    /// How often the transport should call [`VirtioDevice::poll`] through a timer, if at all.
    fn poll_period(&self) -> Option<Nanos> {
        None
    }

    /// The driver reset the device: forget negotiated state (backing data stays).
    fn reset(&mut self) {}
}
