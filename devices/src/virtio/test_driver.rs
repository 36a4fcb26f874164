//! A driver-side helper for the virtio tests: brings a [`VirtioPci`] function up the way
//! Linux's legacy virtio-pci driver does (BAR0 programmed, I/O and bus mastering enabled,
//! ACKNOWLEDGE → DRIVER → features → queue pages → DRIVER_OK), lays out legacy split
//! virtqueues in the [`FakeContext`]'s RAM and submits descriptor chains.

use alloc::vec::Vec;

use crate::interface::{Bdf, Device, Gpa, IrqLine};
use crate::pci::regs::{BAR0, COMMAND, COMMAND_BUS_MASTER, COMMAND_IO_SPACE};
use crate::testing::FakeContext;
use crate::virtio::device::VirtioDevice;
use crate::virtio::queue::Virtqueue;
use crate::virtio::regs::*;
use crate::virtio::transport::VirtioPci;

/// Where the tests put BAR0.
pub const BAR_PORT: u16 = 0xC000;
/// The INTx line the tests wire.
pub const IRQ: IrqLine = IrqLine(11);
/// Guest RAM of the tests' fake VM.
pub const RAM_BYTES: usize = 1 << 20;
/// Page number of queue `i` is `QUEUE_PAGE_BASE + QUEUE_PAGE_STRIDE * i`.
pub const QUEUE_PAGE_BASE: u32 = 0x10;
/// Pages between queues (a legacy queue of 256 entries spans 3 pages).
pub const QUEUE_PAGE_STRIDE: u32 = 0x10;
/// Where tests put their buffers.
pub const BUFFERS: Gpa = 0x8_0000;

/// The function's address in the tests.
pub fn bdf() -> Bdf {
    Bdf::new(0, 3, 0).unwrap()
}

/// A fake VM with [`RAM_BYTES`] of RAM.
pub fn context() -> FakeContext {
    FakeContext::with_ram(RAM_BYTES)
}

/// Port I/O through the function's BAR.
pub fn read_reg(ctx: &mut FakeContext, dev: &mut dyn Device, offset: u64, width: usize) -> u64 {
    let mut data = [0u8; 8];
    dev.pio_read(ctx, BAR_PORT + offset as u16, &mut data[..width]);
    u64::from_le_bytes(data)
}

/// A port write of `width` bytes of `value` at BAR offset `offset`.
pub fn write_reg(
    ctx: &mut FakeContext,
    dev: &mut dyn Device,
    offset: u64,
    width: usize,
    value: u64,
) {
    dev.pio_write(ctx, BAR_PORT + offset as u16, &value.to_le_bytes()[..width]);
}

/// The driver's view of one queue.
#[derive(Debug, Clone)]
pub struct DriverQueue {
    pub index: u16,
    pub size: u16,
    pub base: Gpa,
    next_descriptor: u16,
    avail_idx: u16,
    used_seen: u16,
}

impl DriverQueue {
    /// Address of descriptor `i`.
    pub fn descriptor(&self, i: u16) -> Gpa {
        self.base + DESCRIPTOR_BYTES * u64::from(i)
    }
    /// Address of the available ring.
    pub fn avail(&self) -> Gpa {
        self.base + DESCRIPTOR_BYTES * u64::from(self.size)
    }
    /// Address of the used ring.
    pub fn used(&self) -> Gpa {
        let mut queue = Virtqueue::new(self.size).unwrap();
        queue.set_page((self.base >> QUEUE_ADDRESS_SHIFT) as u32);
        queue.used_ring().unwrap()
    }

    /// Writes descriptor `i` directly.
    pub fn write_descriptor(
        &self,
        ctx: &mut FakeContext,
        i: u16,
        addr: Gpa,
        len: u32,
        flags: u16,
        next: u16,
    ) {
        let at = self.descriptor(i) as usize;
        ctx.ram[at..at + 8].copy_from_slice(&addr.to_le_bytes());
        ctx.ram[at + 8..at + 12].copy_from_slice(&len.to_le_bytes());
        ctx.ram[at + 12..at + 14].copy_from_slice(&flags.to_le_bytes());
        ctx.ram[at + 14..at + 16].copy_from_slice(&next.to_le_bytes());
    }

    /// Makes `head` available (ring entry, then index).
    pub fn publish(&mut self, ctx: &mut FakeContext, head: u16) {
        let slot = u64::from(self.avail_idx % self.size);
        let entry = (self.avail() + RING_ENTRIES + AVAIL_ENTRY_BYTES * slot) as usize;
        ctx.ram[entry..entry + 2].copy_from_slice(&head.to_le_bytes());
        self.avail_idx = self.avail_idx.wrapping_add(1);
        let idx = (self.avail() + RING_IDX) as usize;
        ctx.ram[idx..idx + 2].copy_from_slice(&self.avail_idx.to_le_bytes());
    }

    /// Sets the available ring's flags (NO_INTERRUPT).
    pub fn set_avail_flags(&self, ctx: &mut FakeContext, flags: u16) {
        let at = (self.avail() + RING_FLAGS) as usize;
        ctx.ram[at..at + 2].copy_from_slice(&flags.to_le_bytes());
    }

    /// Chains `buffers` (address, length, device-writable) into free descriptors and makes
    /// the chain available; returns its head.
    pub fn submit(&mut self, ctx: &mut FakeContext, buffers: &[(Gpa, u32, bool)]) -> u16 {
        let head = self.next_descriptor;
        for (n, (addr, len, writable)) in buffers.iter().enumerate() {
            let i = (head + n as u16) % self.size;
            let last = n + 1 == buffers.len();
            let mut flags = if *writable { DESC_F_WRITE } else { 0 };
            if !last {
                flags |= DESC_F_NEXT;
            }
            self.write_descriptor(ctx, i, *addr, *len, flags, (i + 1) % self.size);
        }
        self.next_descriptor = (head + buffers.len() as u16) % self.size;
        self.publish(ctx, head);
        head
    }

    /// Tells the device about new buffers.
    pub fn notify(&self, ctx: &mut FakeContext, dev: &mut dyn Device) {
        write_reg(ctx, dev, REG_QUEUE_NOTIFY, WIDTH_16, u64::from(self.index));
    }

    /// The used-ring entries (id, len) added since the last call.
    pub fn take_used(&mut self, ctx: &FakeContext) -> Vec<(u32, u32)> {
        let used = self.used() as usize;
        let idx = u16::from_le_bytes([ctx.ram[used + 2], ctx.ram[used + 3]]);
        let mut out = Vec::new();
        while self.used_seen != idx {
            let slot = usize::from(self.used_seen % self.size);
            let at = used + RING_ENTRIES as usize + USED_ENTRY_BYTES as usize * slot;
            let word =
                |o: usize| u32::from_le_bytes(ctx.ram[at + o..at + o + 4].try_into().unwrap());
            out.push((word(0), word(4)));
            self.used_seen = self.used_seen.wrapping_add(1);
        }
        out
    }
}

/// Installs and powers on `dev`, programs BAR0 at [`BAR_PORT`] with I/O and bus mastering on,
/// and, if `driver_ok`, runs the legacy initialisation accepting every offered feature.
pub fn bring_up<D: VirtioDevice>(
    ctx: &mut FakeContext,
    dev: &mut VirtioPci<D>,
    driver_ok: bool,
) -> Vec<DriverQueue> {
    dev.install(ctx).unwrap();
    dev.power_on(ctx).unwrap();
    dev.pci_config_write(ctx, BAR0, &u32::from(BAR_PORT).to_le_bytes());
    dev.pci_config_write(
        ctx,
        COMMAND,
        &(COMMAND_IO_SPACE | COMMAND_BUS_MASTER).to_le_bytes(),
    );
    write_reg(
        ctx,
        dev,
        REG_DEVICE_STATUS,
        WIDTH_8,
        u64::from(STATUS_ACKNOWLEDGE),
    );
    write_reg(
        ctx,
        dev,
        REG_DEVICE_STATUS,
        WIDTH_8,
        u64::from(STATUS_ACKNOWLEDGE | STATUS_DRIVER),
    );
    let features = read_reg(ctx, dev, REG_DEVICE_FEATURES, WIDTH_32);
    write_reg(ctx, dev, REG_DRIVER_FEATURES, WIDTH_32, features);
    let mut queues = Vec::new();
    for index in 0u16.. {
        write_reg(ctx, dev, REG_QUEUE_SELECT, WIDTH_16, u64::from(index));
        let size = read_reg(ctx, dev, REG_QUEUE_SIZE, WIDTH_16) as u16;
        if size == 0 {
            break;
        }
        let page = QUEUE_PAGE_BASE + QUEUE_PAGE_STRIDE * u32::from(index);
        write_reg(ctx, dev, REG_QUEUE_ADDRESS, WIDTH_32, u64::from(page));
        queues.push(DriverQueue {
            index,
            size,
            base: u64::from(page) << QUEUE_ADDRESS_SHIFT,
            next_descriptor: 0,
            avail_idx: 0,
            used_seen: 0,
        });
    }
    if driver_ok {
        write_reg(
            ctx,
            dev,
            REG_DEVICE_STATUS,
            WIDTH_8,
            u64::from(STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK),
        );
    }
    queues
}

/// Reads `len` bytes of fake guest RAM.
pub fn ram(ctx: &FakeContext, at: Gpa, len: usize) -> Vec<u8> {
    ctx.ram[at as usize..at as usize + len].to_vec()
}

/// Writes bytes into fake guest RAM.
pub fn put_ram(ctx: &mut FakeContext, at: Gpa, bytes: &[u8]) {
    ctx.ram[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
}

/// The ISR read a driver's interrupt handler does.
pub fn read_isr(ctx: &mut FakeContext, dev: &mut dyn Device) -> u8 {
    read_reg(ctx, dev, REG_ISR_STATUS, WIDTH_8) as u8
}
