//! virtio devices over the **legacy PCI transport** (Virtual I/O Device (VIRTIO) Version 1.1,
//! OASIS; §4.1.4.8 legacy PCI layout, §2.7 split virtqueues with the legacy layout of §2.7.2,
//! §5.2 block device, §5.3 console device), as pure models: guest memory is reached only
//! through the context's DMA, interrupts only through `ctx.set_irq`.
//!
//! - [`regs`]: register offsets and bits of the transport and the rings.
//! - [`queue`]: the split virtqueue walker ([`Virtqueue`]); [`chain`]: a walked chain and
//!   cursors that move its bytes.
//! - [`device`]: the [`VirtioDevice`] trait a device type implements for the transport.
//! - [`transport`]: [`VirtioPci`], the PCI function (a [`crate::interface::Device`]).
//! - [`blk`] with [`block_backend`]: virtio-blk over a [`BlockBackend`] ([`MemoryDisk`]).
//! - [`console`]: virtio-console over a [`ConsoleSink`].
//! - [`tracked_disk`]: a [`MemoryDisk`] that remembers written sectors, and their console dump.
//!
//! A VMM builds, for example,
//! `VirtioPci::new(bdf, IrqLine(11), VirtioBlk::new(MemoryDisk::new(image)?))?` and registers
//! it on the bus; to read the disk back after the VM ends it keeps the function behind a
//! [`crate::shared::Shared`] and calls `device().backend().bytes()`, or takes it back with
//! `into_device().into_backend().into_bytes()`.

pub mod blk;
pub mod block_backend;
pub mod chain;
pub mod console;
pub mod device;
pub mod queue;
pub mod regs;
pub mod tracked_disk;
pub mod transport;

#[cfg(test)]
mod test_driver;
#[cfg(test)]
mod tests_blk;
#[cfg(test)]
mod tests_console;
#[cfg(test)]
mod tests_fuzz;
#[cfg(test)]
mod tests_queue;
#[cfg(test)]
mod tests_transport;

pub use blk::VirtioBlk;
pub use block_backend::{BlockBackend, BlockError, MemoryDisk};
pub use chain::{Chain, ChainCursor, Segment};
pub use console::{BufferedSink, ConsoleSink, VirtioConsole};
pub use device::{Identity, UsedQueues, VirtioDevice, VirtioError};
pub use queue::{QueueError, Virtqueue};
pub use tracked_disk::{TrackedDisk, dump_lines};
pub use transport::{BOUNCE_BYTES, MAX_QUEUES, VirtioPci, VirtioPciError};
