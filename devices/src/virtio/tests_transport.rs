//! The legacy PCI transport: queue registers, feature masking, reset, ISR/INTx behaviour with
//! the command register's interrupt-disable bit, lifecycle (bounce buffer, BAR claims).

use crate::interface::{Device, Region};
use crate::pci::regs::{COMMAND, COMMAND_BUS_MASTER, COMMAND_INTERRUPT_DISABLE, COMMAND_IO_SPACE};
use crate::testing::FakeContext;
use crate::virtio::blk::{
    HEADER_TYPE, REQUEST_HEADER_BYTES, VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_T_FLUSH, VirtioBlk,
};
use crate::virtio::block_backend::MemoryDisk;
use crate::virtio::regs::*;
use crate::virtio::test_driver::*;
use crate::virtio::transport::{BOUNCE_BYTES, VirtioPci};

type Blk = VirtioPci<VirtioBlk<MemoryDisk>>;

fn blk() -> Blk {
    VirtioPci::new(bdf(), IRQ, VirtioBlk::new(MemoryDisk::zeroed(8).unwrap())).unwrap()
}

/// Submits one FLUSH and notifies.
fn flush(ctx: &mut FakeContext, dev: &mut Blk, queue: &mut DriverQueue) {
    let mut header = [0u8; REQUEST_HEADER_BYTES];
    header[HEADER_TYPE..HEADER_TYPE + 4].copy_from_slice(&VIRTIO_BLK_T_FLUSH.to_le_bytes());
    put_ram(ctx, BUFFERS, &header);
    queue.submit(ctx, &[(BUFFERS, 16, false), (BUFFERS + 0x100, 1, true)]);
    queue.notify(ctx, dev);
}

#[test]
fn transport_queue_registers_follow_queue_select() {
    let mut ctx = context();
    let mut dev = blk();
    bring_up(&mut ctx, &mut dev, true);
    write_reg(&mut ctx, &mut dev, REG_QUEUE_SELECT, WIDTH_16, 0);
    assert_eq!(read_reg(&mut ctx, &mut dev, REG_QUEUE_SIZE, WIDTH_16), 128);
    assert_eq!(
        read_reg(&mut ctx, &mut dev, REG_QUEUE_ADDRESS, WIDTH_32),
        u64::from(QUEUE_PAGE_BASE)
    );
    write_reg(&mut ctx, &mut dev, REG_QUEUE_SELECT, WIDTH_16, 0xFFFF);
    assert_eq!(
        read_reg(&mut ctx, &mut dev, REG_QUEUE_SELECT, WIDTH_16),
        0xFFFF
    );
    assert_eq!(read_reg(&mut ctx, &mut dev, REG_QUEUE_SIZE, WIDTH_16), 0);
    write_reg(&mut ctx, &mut dev, REG_QUEUE_ADDRESS, WIDTH_32, 0x55);
    assert_eq!(read_reg(&mut ctx, &mut dev, REG_QUEUE_ADDRESS, WIDTH_32), 0);
    assert_eq!(dev.ignored_writes(), 1);
}

#[test]
fn transport_driver_features_are_masked_to_the_offer() {
    let mut ctx = context();
    let mut dev = blk();
    bring_up(&mut ctx, &mut dev, false);
    write_reg(
        &mut ctx,
        &mut dev,
        REG_DRIVER_FEATURES,
        WIDTH_32,
        0xFFFF_FFFF,
    );
    let accepted = read_reg(&mut ctx, &mut dev, REG_DRIVER_FEATURES, WIDTH_32);
    assert_eq!(
        accepted,
        read_reg(&mut ctx, &mut dev, REG_DEVICE_FEATURES, WIDTH_32)
    );
    assert_ne!(accepted as u32 & VIRTIO_BLK_F_FLUSH, 0);
}

#[test]
fn transport_status_write_zero_resets_features_queues_and_isr() {
    let mut ctx = context();
    let mut dev = blk();
    let mut queue = bring_up(&mut ctx, &mut dev, true).remove(0);
    flush(&mut ctx, &mut dev, &mut queue);
    assert_eq!(dev.isr(), ISR_QUEUE);
    write_reg(&mut ctx, &mut dev, REG_DEVICE_STATUS, WIDTH_8, 0);
    assert_eq!(read_reg(&mut ctx, &mut dev, REG_DEVICE_STATUS, WIDTH_8), 0);
    assert_eq!(
        read_reg(&mut ctx, &mut dev, REG_DRIVER_FEATURES, WIDTH_32),
        0
    );
    assert_eq!(read_reg(&mut ctx, &mut dev, REG_QUEUE_ADDRESS, WIDTH_32), 0);
    assert_eq!(dev.isr(), 0);
    assert!(!ctx.irq_level(IRQ));
}

#[test]
fn transport_driver_cannot_set_needs_reset() {
    let mut ctx = context();
    let mut dev = blk();
    bring_up(&mut ctx, &mut dev, false);
    write_reg(&mut ctx, &mut dev, REG_DEVICE_STATUS, WIDTH_8, 0xFF);
    assert_eq!(dev.status(), STATUS_DRIVER_WRITABLE);
}

#[test]
fn transport_interrupt_disable_holds_intx_low_while_isr_is_set() {
    let mut ctx = context();
    let mut dev = blk();
    let mut queue = bring_up(&mut ctx, &mut dev, true).remove(0);
    let io_master = COMMAND_IO_SPACE | COMMAND_BUS_MASTER;
    dev.pci_config_write(
        &mut ctx,
        COMMAND,
        &(io_master | COMMAND_INTERRUPT_DISABLE).to_le_bytes(),
    );
    flush(&mut ctx, &mut dev, &mut queue);
    assert_eq!(dev.isr(), ISR_QUEUE);
    assert!(!ctx.irq_level(IRQ));
    let mut status = [0u8; 2];
    dev.pci_config_read(&mut ctx, 0x06, &mut status);
    assert_ne!(
        u16::from_le_bytes(status) & crate::pci::regs::STATUS_INTERRUPT,
        0
    );
    dev.pci_config_write(&mut ctx, COMMAND, &io_master.to_le_bytes());
    assert!(
        ctx.irq_level(IRQ),
        "re-enabling INTx asserts the pending interrupt"
    );
    assert_eq!(read_isr(&mut ctx, &mut dev), ISR_QUEUE);
    assert!(!ctx.irq_level(IRQ));
}

#[test]
fn transport_wrong_width_register_writes_are_ignored() {
    let mut ctx = context();
    let mut dev = blk();
    bring_up(&mut ctx, &mut dev, false);
    let before = dev.status();
    write_reg(&mut ctx, &mut dev, REG_DEVICE_STATUS, WIDTH_16, 0);
    assert_eq!(dev.status(), before);
    assert_eq!(dev.ignored_writes(), 1);
    // Reads of any width return the bytes they cover: status and ISR as one word.
    assert_eq!(
        read_reg(&mut ctx, &mut dev, REG_DEVICE_STATUS, WIDTH_16),
        u64::from(before)
    );
}

#[test]
fn transport_power_cycle_borrows_and_returns_the_bounce_buffer() {
    let mut ctx = context();
    let mut dev = blk();
    let mut queue = bring_up(&mut ctx, &mut dev, true).remove(0);
    assert_eq!(ctx.outstanding_bytes(), BOUNCE_BYTES);
    flush(&mut ctx, &mut dev, &mut queue);
    assert!(ctx.irq_level(IRQ));
    dev.power_off(&mut ctx).unwrap();
    assert_eq!(ctx.outstanding_allocations(), 0);
    assert!(!ctx.irq_level(IRQ));
    dev.power_on(&mut ctx).unwrap();
    assert_eq!(ctx.outstanding_bytes(), BOUNCE_BYTES);
    assert_eq!(dev.status(), 0);
    assert_eq!(
        ctx.claims(),
        [Region::Pci(bdf())],
        "power-on resets the BAR"
    );
}

#[test]
fn transport_remove_releases_the_bar_and_the_buffer() {
    let mut ctx = context();
    let mut dev = blk();
    bring_up(&mut ctx, &mut dev, true);
    assert_eq!(ctx.claims().len(), 2);
    dev.remove(&mut ctx).unwrap();
    assert_eq!(ctx.claims(), [Region::Pci(bdf())]);
    assert_eq!(ctx.outstanding_allocations(), 0);
}

#[test]
fn transport_ports_outside_the_bar_read_all_ones() {
    let mut ctx = context();
    let mut dev = blk();
    bring_up(&mut ctx, &mut dev, false);
    let mut data = [0u8; 2];
    dev.pio_read(&mut ctx, BAR_PORT + 0x40, &mut data);
    assert_eq!(data, [0xFF, 0xFF]);
}

#[test]
fn firmware_placement_programs_bar0_and_enables_io_decoding_at_power_on() {
    use crate::pci::regs::{BAR0, COMMAND, COMMAND_IO_SPACE};
    let bdf = crate::interface::Bdf::new(0, 3, 0).unwrap();
    let blk = crate::virtio::VirtioBlk::new(crate::virtio::MemoryDisk::zeroed(8).unwrap());
    let mut function = crate::virtio::VirtioPci::new(bdf, crate::interface::IrqLine(11), blk)
        .unwrap()
        .with_firmware_io_base(crate::interface::PortRange::new(0xC040, 0x40).unwrap())
        .unwrap();
    assert_eq!(function.io_bar_size(), 64);
    let mut ctx = crate::testing::FakeContext::default();
    use crate::interface::Device;
    function.install(&mut ctx).unwrap();
    function.power_on(&mut ctx).unwrap();
    let mut bar = [0u8; 4];
    function.pci_config_read(&mut ctx, BAR0, &mut bar);
    assert_eq!(u32::from_le_bytes(bar) & !0x3, 0xC040);
    let mut command = [0u8; 2];
    function.pci_config_read(&mut ctx, COMMAND, &mut command);
    assert_ne!(u16::from_le_bytes(command) & COMMAND_IO_SPACE, 0);
    // The device status register answers at the programmed base.
    let mut status = [0xFFu8; 1];
    function.pio_read(&mut ctx, 0xC040 + 0x12, &mut status);
    assert_eq!(status, [0]);
}

#[test]
fn firmware_windows_that_misalign_or_shrink_the_bar_are_refused() {
    use crate::interface::PortRange;
    let function = || {
        let bdf = crate::interface::Bdf::new(0, 3, 0).unwrap();
        let blk = crate::virtio::VirtioBlk::new(crate::virtio::MemoryDisk::zeroed(8).unwrap());
        crate::virtio::VirtioPci::new(bdf, crate::interface::IrqLine(11), blk).unwrap()
    };
    for window in [
        PortRange::new(0xC020, 0x100).unwrap(),
        PortRange::new(0xC000, 0x20).unwrap(),
    ] {
        assert!(matches!(
            function().with_firmware_io_base(window),
            Err(crate::virtio::VirtioPciError::FirmwareWindow(w)) if w == window
        ));
    }
    assert!(
        function()
            .with_firmware_io_base(PortRange::new(0xC300, 0x100).unwrap())
            .is_ok()
    );
}
