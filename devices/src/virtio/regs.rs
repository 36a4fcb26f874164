//! Register layout and bit values of the virtio **legacy** PCI transport and the split
//! virtqueue (Virtual I/O Device (VIRTIO) Version 1.1/1.2, §4.1.4.8 "Legacy Interfaces: A Note
//! on PCI Device Layout", §2.1 "Device Status Field", §2.7 "Split Virtqueues" and §2.7.2 "Legacy
//! Interfaces: A Note on Virtqueue Layout"; PCI identity from §4.1.2.1).

/// PCI vendor ID of every virtio device (Red Hat, Inc.).
pub const VIRTIO_PCI_VENDOR_ID: u16 = 0x1AF4;
/// Revision ID of a transitional device (§4.1.2.1: legacy drivers accept revision 0).
pub const VIRTIO_PCI_REVISION_TRANSITIONAL: u8 = 0x00;

// ---- I/O BAR0 registers (offsets from the BAR, MSI-X disabled) ----

/// Device (host) features, bits 0–31. 32 bits, read-only.
pub const REG_DEVICE_FEATURES: u64 = 0x00;
/// Driver (guest) features, bits 0–31. 32 bits, read/write.
pub const REG_DRIVER_FEATURES: u64 = 0x04;
/// Queue address: guest-physical page frame number (4 KiB pages) of the selected queue.
/// 32 bits, read/write; 0 disables the queue.
pub const REG_QUEUE_ADDRESS: u64 = 0x08;
/// Queue size of the selected queue (0: no such queue). 16 bits, read-only.
pub const REG_QUEUE_SIZE: u64 = 0x0C;
/// Queue select. 16 bits, read/write.
pub const REG_QUEUE_SELECT: u64 = 0x0E;
/// Queue notify: the written value is the index of the queue with new buffers. 16 bits.
pub const REG_QUEUE_NOTIFY: u64 = 0x10;
/// Device status. 8 bits, read/write; writing 0 resets the device.
pub const REG_DEVICE_STATUS: u64 = 0x12;
/// ISR status. 8 bits, read-only; a read returns and clears it and lowers INTx.
pub const REG_ISR_STATUS: u64 = 0x13;
/// Start of the device-specific configuration (when MSI-X is disabled).
pub const REG_DEVICE_CONFIG: u64 = 0x14;
/// Smallest I/O BAR the transport uses (a power of two covering the common registers).
pub const MIN_BAR_SIZE: u64 = 0x40;

/// Width in bytes of the 32-bit registers.
pub const WIDTH_32: usize = 4;
/// Width in bytes of the 16-bit registers.
pub const WIDTH_16: usize = 2;
/// Width in bytes of the 8-bit registers.
pub const WIDTH_8: usize = 1;

// ---- Device status bits (§2.1) ----

/// The guest OS has found the device.
pub const STATUS_ACKNOWLEDGE: u8 = 1;
/// The guest OS knows how to drive the device.
pub const STATUS_DRIVER: u8 = 2;
/// The driver is set up and ready to drive the device.
pub const STATUS_DRIVER_OK: u8 = 4;
/// Feature negotiation is complete (not used by legacy drivers; stored).
pub const STATUS_FEATURES_OK: u8 = 8;
/// The device hit an error it cannot recover from; the driver must reset it.
pub const STATUS_DEVICE_NEEDS_RESET: u8 = 64;
/// The guest gave up on the device.
pub const STATUS_FAILED: u8 = 128;
/// Status bits the driver may write (NEEDS_RESET is the device's to set).
pub const STATUS_DRIVER_WRITABLE: u8 =
    STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK | STATUS_FEATURES_OK | STATUS_FAILED;

// ---- ISR status bits (§4.1.4.5) ----

/// A queue has new used buffers.
pub const ISR_QUEUE: u8 = 1 << 0;
/// The device configuration changed (or the device needs a reset).
pub const ISR_CONFIG: u8 = 1 << 1;

// ---- Split virtqueue layout (§2.7) ----

/// Largest queue size this implementation offers (the spec allows 32768; bounded work).
pub const MAX_QUEUE_SIZE: u16 = 256;
/// Legacy queue alignment: the used ring starts on the next 4 KiB boundary (§2.7.2).
pub const LEGACY_QUEUE_ALIGN: u64 = 4096;
/// The queue address register counts pages of this many bits.
pub const QUEUE_ADDRESS_SHIFT: u32 = 12;
/// Bytes per descriptor-table entry: addr (8), len (4), flags (2), next (2).
pub const DESCRIPTOR_BYTES: u64 = 16;
/// Offset of the buffer address in a descriptor.
pub const DESCRIPTOR_ADDR: usize = 0;
/// Offset of the buffer length in a descriptor.
pub const DESCRIPTOR_LEN: usize = 8;
/// Offset of the flags in a descriptor.
pub const DESCRIPTOR_FLAGS: usize = 12;
/// Offset of the next index in a descriptor.
pub const DESCRIPTOR_NEXT: usize = 14;
/// Descriptor flag: the chain continues at `next`.
pub const DESC_F_NEXT: u16 = 1;
/// Descriptor flag: the buffer is device-writable (otherwise device-readable).
pub const DESC_F_WRITE: u16 = 2;
/// Descriptor flag: the buffer holds an indirect descriptor table (not offered here).
pub const DESC_F_INDIRECT: u16 = 4;
/// Offset of `flags` in the available and used rings.
pub const RING_FLAGS: u64 = 0;
/// Offset of `idx` in the available and used rings.
pub const RING_IDX: u64 = 2;
/// Offset of the first ring entry in the available and used rings.
pub const RING_ENTRIES: u64 = 4;
/// Bytes per available-ring entry (a descriptor index).
pub const AVAIL_ENTRY_BYTES: u64 = 2;
/// Bytes after the available ring's entries (`used_event`).
pub const AVAIL_TRAILER_BYTES: u64 = 2;
/// Bytes per used-ring entry: id (4), len (4).
pub const USED_ENTRY_BYTES: u64 = 8;
/// Available-ring flag: the driver does not want used-buffer interrupts.
pub const AVAIL_F_NO_INTERRUPT: u16 = 1;
