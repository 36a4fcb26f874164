//! virtio-blk behaviour through the legacy transport, driven as Linux's driver would: reads
//! return the disk's bytes, writes change them (and the VMM reads them back), bad ranges and
//! unknown types complete with IOERR/UNSUPP, malformed chains stop the device without panic.

use alloc::vec::Vec;

use crate::interface::{Device, Gpa};
use crate::testing::FakeContext;
use crate::virtio::blk::*;
use crate::virtio::block_backend::{BlockError, MemoryDisk, SECTOR_BYTES};
use crate::virtio::device::VirtioError;
use crate::virtio::queue::QueueError;
use crate::virtio::regs::*;
use crate::virtio::test_driver::*;
use crate::virtio::transport::VirtioPci;

type Blk = VirtioPci<VirtioBlk<MemoryDisk>>;

/// Sectors of the test disk.
const DISK_SECTORS: usize = 64;
const HEADER_AT: Gpa = BUFFERS;
const STATUS_AT: Gpa = BUFFERS + 0x100;
const DATA_AT: Gpa = BUFFERS + 0x1000;

/// Byte `i` of the test disk.
fn disk_byte(i: usize) -> u8 {
    (i * 7 + i / SECTOR_BYTES) as u8
}

fn disk_image() -> Vec<u8> {
    (0..DISK_SECTORS * SECTOR_BYTES).map(disk_byte).collect()
}

fn blk_up() -> (FakeContext, Blk, DriverQueue) {
    let mut ctx = context();
    let disk = MemoryDisk::new(disk_image()).unwrap();
    let mut dev = VirtioPci::new(bdf(), IRQ, VirtioBlk::new(disk)).unwrap();
    let mut queues = bring_up(&mut ctx, &mut dev, true);
    assert_eq!(queues.len(), 1);
    let queue = queues.remove(0);
    (ctx, dev, queue)
}

fn header(ctx: &mut FakeContext, kind: u32, sector: u64) {
    let mut bytes = [0u8; REQUEST_HEADER_BYTES];
    bytes[HEADER_TYPE..HEADER_TYPE + 4].copy_from_slice(&kind.to_le_bytes());
    bytes[HEADER_SECTOR..HEADER_SECTOR + 8].copy_from_slice(&sector.to_le_bytes());
    put_ram(ctx, HEADER_AT, &bytes);
    put_ram(ctx, STATUS_AT, &[0xEE]);
}

fn status(ctx: &FakeContext) -> u8 {
    ram(ctx, STATUS_AT, 1)[0]
}

#[test]
fn blk_pci_identity_is_transitional_block_device() {
    let (mut ctx, mut dev, _) = blk_up();
    let mut id = [0u8; 4];
    dev.pci_config_read(&mut ctx, 0x00, &mut id);
    assert_eq!(id, [0xF4, 0x1A, 0x01, 0x10]);
    let mut class = [0u8; 4];
    dev.pci_config_read(&mut ctx, 0x08, &mut class);
    assert_eq!(class, [0x00, 0x00, SUBCLASS_SCSI, CLASS_MASS_STORAGE]);
    let mut subsystem = [0u8; 4];
    dev.pci_config_read(&mut ctx, 0x2C, &mut subsystem);
    assert_eq!(subsystem, [0xF4, 0x1A, 0x02, 0x00]);
    let mut irq = [0u8; 2];
    dev.pci_config_read(&mut ctx, 0x3C, &mut irq);
    assert_eq!(irq, [IRQ.0, 1], "line preset to the wired IRQ, pin INTA#");
}

#[test]
fn blk_bar0_is_a_64_port_io_bar_claimed_when_io_is_enabled() {
    let (mut ctx, mut dev, _) = blk_up();
    assert_eq!(
        ctx.claims().last(),
        Some(&crate::interface::Region::Pio(
            crate::interface::PortRange::new(BAR_PORT, 0x40).unwrap()
        ))
    );
    dev.pci_config_write(&mut ctx, 0x10, &u32::MAX.to_le_bytes());
    let mut bar = [0u8; 4];
    dev.pci_config_read(&mut ctx, 0x10, &mut bar);
    assert_eq!(u32::from_le_bytes(bar), 0x0000_FFC1);
}

#[test]
fn blk_config_reports_capacity_seg_max_and_block_size() {
    let (mut ctx, mut dev, _) = blk_up();
    let low = read_reg(&mut ctx, &mut dev, REG_DEVICE_CONFIG, WIDTH_32);
    let high = read_reg(&mut ctx, &mut dev, REG_DEVICE_CONFIG + 4, WIDTH_32);
    assert_eq!(high << 32 | low, DISK_SECTORS as u64);
    let seg_max = read_reg(
        &mut ctx,
        &mut dev,
        REG_DEVICE_CONFIG + CONFIG_SEG_MAX as u64,
        4,
    );
    assert_eq!(seg_max, u64::from(SEG_MAX));
    let blk_size = read_reg(
        &mut ctx,
        &mut dev,
        REG_DEVICE_CONFIG + CONFIG_BLK_SIZE as u64,
        4,
    );
    assert_eq!(blk_size, 512);
    // Linux's legacy driver reads configuration a byte at a time.
    assert_eq!(read_reg(&mut ctx, &mut dev, REG_DEVICE_CONFIG, WIDTH_8), 64);
    let features = read_reg(&mut ctx, &mut dev, REG_DEVICE_FEATURES, WIDTH_32);
    assert_eq!(
        features,
        u64::from(VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_FLUSH)
    );
}

#[test]
fn blk_read_returns_disk_bytes_and_interrupts() {
    let (mut ctx, mut dev, mut queue) = blk_up();
    header(&mut ctx, VIRTIO_BLK_T_IN, 2);
    // Two sectors over two data descriptors of 700 and 324 bytes.
    let head = queue.submit(
        &mut ctx,
        &[
            (HEADER_AT, 16, false),
            (DATA_AT, 700, true),
            (DATA_AT + 700, 324, true),
            (STATUS_AT, 1, true),
        ],
    );
    queue.notify(&mut ctx, &mut dev);
    assert_eq!(queue.take_used(&ctx), [(u32::from(head), 1025)]);
    assert_eq!(status(&ctx), VIRTIO_BLK_S_OK);
    let expected: Vec<u8> = (2 * SECTOR_BYTES..4 * SECTOR_BYTES)
        .map(disk_byte)
        .collect();
    assert_eq!(ram(&ctx, DATA_AT, 1024), expected);
    assert_eq!(dev.isr(), ISR_QUEUE);
    assert!(ctx.irq_level(IRQ));
    assert_eq!(read_isr(&mut ctx, &mut dev), ISR_QUEUE);
    assert!(!ctx.irq_level(IRQ), "reading ISR lowers INTx");
    assert_eq!(read_isr(&mut ctx, &mut dev), 0);
    assert_eq!(dev.device().completed(), 1);
}

#[test]
fn blk_read_larger_than_the_bounce_buffer_is_copied_in_pieces() {
    let (mut ctx, mut dev, mut queue) = blk_up();
    let len = 40 * SECTOR_BYTES; // 20 KiB > the 16 KiB bounce buffer
    header(&mut ctx, VIRTIO_BLK_T_IN, 10);
    queue.submit(
        &mut ctx,
        &[
            (HEADER_AT, 16, false),
            (DATA_AT, len as u32, true),
            (STATUS_AT, 1, true),
        ],
    );
    queue.notify(&mut ctx, &mut dev);
    assert_eq!(status(&ctx), VIRTIO_BLK_S_OK);
    let expected: Vec<u8> = (10 * SECTOR_BYTES..10 * SECTOR_BYTES + len)
        .map(disk_byte)
        .collect();
    assert_eq!(ram(&ctx, DATA_AT, len), expected);
}

#[test]
fn blk_write_changes_the_disk_and_the_vmm_reads_it_back() {
    let (mut ctx, mut dev, mut queue) = blk_up();
    header(&mut ctx, VIRTIO_BLK_T_OUT, 5);
    put_ram(&mut ctx, DATA_AT, &[0xA5; SECTOR_BYTES]);
    let head = queue.submit(
        &mut ctx,
        &[
            (HEADER_AT, 16, false),
            (DATA_AT, SECTOR_BYTES as u32, false),
            (STATUS_AT, 1, true),
        ],
    );
    queue.notify(&mut ctx, &mut dev);
    assert_eq!(queue.take_used(&ctx), [(u32::from(head), 1)]);
    assert_eq!(status(&ctx), VIRTIO_BLK_S_OK);

    // Read it back through the device.
    header(&mut ctx, VIRTIO_BLK_T_IN, 5);
    put_ram(&mut ctx, DATA_AT, &[0; SECTOR_BYTES]);
    queue.submit(
        &mut ctx,
        &[
            (HEADER_AT, 16, false),
            (DATA_AT, SECTOR_BYTES as u32, true),
            (STATUS_AT, 1, true),
        ],
    );
    queue.notify(&mut ctx, &mut dev);
    assert_eq!(ram(&ctx, DATA_AT, SECTOR_BYTES), [0xA5; SECTOR_BYTES]);

    let image = dev.into_device().into_backend().into_bytes();
    let mut expected = disk_image();
    expected[5 * SECTOR_BYTES..6 * SECTOR_BYTES].fill(0xA5);
    assert_eq!(image, expected);
}

#[test]
fn blk_request_past_capacity_completes_with_ioerr_and_leaves_the_disk() {
    let (mut ctx, mut dev, mut queue) = blk_up();
    // Last sector is 63: sectors 63..65 run past the end.
    header(&mut ctx, VIRTIO_BLK_T_OUT, 63);
    queue.submit(
        &mut ctx,
        &[
            (HEADER_AT, 16, false),
            (DATA_AT, 2 * SECTOR_BYTES as u32, false),
            (STATUS_AT, 1, true),
        ],
    );
    queue.notify(&mut ctx, &mut dev);
    assert_eq!(status(&ctx), VIRTIO_BLK_S_IOERR);
    // A sector number whose end overflows u64.
    header(&mut ctx, VIRTIO_BLK_T_IN, u64::MAX);
    queue.submit(
        &mut ctx,
        &[
            (HEADER_AT, 16, false),
            (DATA_AT, SECTOR_BYTES as u32, true),
            (STATUS_AT, 1, true),
        ],
    );
    queue.notify(&mut ctx, &mut dev);
    assert_eq!(status(&ctx), VIRTIO_BLK_S_IOERR);
    // A length that is not whole sectors.
    header(&mut ctx, VIRTIO_BLK_T_IN, 0);
    queue.submit(
        &mut ctx,
        &[
            (HEADER_AT, 16, false),
            (DATA_AT, 100, true),
            (STATUS_AT, 1, true),
        ],
    );
    queue.notify(&mut ctx, &mut dev);
    assert_eq!(status(&ctx), VIRTIO_BLK_S_IOERR);
    assert_eq!(queue.take_used(&ctx).len(), 3);
    assert_eq!(dev.device().failed(), 3);
    assert_eq!(dev.status() & STATUS_DEVICE_NEEDS_RESET, 0);
    assert_eq!(dev.device().backend().bytes(), disk_image().as_slice());
}

#[test]
fn blk_get_id_flush_and_unknown_type() {
    let (mut ctx, mut dev, mut queue) = blk_up();
    header(&mut ctx, VIRTIO_BLK_T_GET_ID, 0);
    let head = queue.submit(
        &mut ctx,
        &[
            (HEADER_AT, 16, false),
            (DATA_AT, ID_BYTES as u32, true),
            (STATUS_AT, 1, true),
        ],
    );
    queue.notify(&mut ctx, &mut dev);
    assert_eq!(queue.take_used(&ctx), [(u32::from(head), 21)]);
    let mut serial = [0u8; ID_BYTES];
    serial[..DEFAULT_SERIAL.len()].copy_from_slice(DEFAULT_SERIAL);
    assert_eq!(ram(&ctx, DATA_AT, ID_BYTES), serial);
    assert_eq!(status(&ctx), VIRTIO_BLK_S_OK);

    header(&mut ctx, VIRTIO_BLK_T_FLUSH, 0);
    queue.submit(&mut ctx, &[(HEADER_AT, 16, false), (STATUS_AT, 1, true)]);
    queue.notify(&mut ctx, &mut dev);
    assert_eq!(status(&ctx), VIRTIO_BLK_S_OK);

    header(&mut ctx, 0x1234, 0);
    queue.submit(&mut ctx, &[(HEADER_AT, 16, false), (STATUS_AT, 1, true)]);
    queue.notify(&mut ctx, &mut dev);
    assert_eq!(status(&ctx), VIRTIO_BLK_S_UNSUPP);
}

#[test]
fn blk_several_requests_in_one_notification_complete_in_order() {
    let (mut ctx, mut dev, mut queue) = blk_up();
    header(&mut ctx, VIRTIO_BLK_T_FLUSH, 0);
    let first = queue.submit(&mut ctx, &[(HEADER_AT, 16, false), (STATUS_AT, 1, true)]);
    let second = queue.submit(&mut ctx, &[(HEADER_AT, 16, false), (STATUS_AT, 1, true)]);
    queue.notify(&mut ctx, &mut dev);
    assert_eq!(
        queue.take_used(&ctx),
        [(u32::from(first), 1), (u32::from(second), 1)]
    );
    assert_eq!(ctx.irq_rising_edges(IRQ), 1);
}

#[test]
fn blk_loop_in_chain_sets_needs_reset_without_panic() {
    let (mut ctx, mut dev, mut queue) = blk_up();
    header(&mut ctx, VIRTIO_BLK_T_IN, 0);
    queue.write_descriptor(&mut ctx, 0, HEADER_AT, 16, DESC_F_NEXT, 1);
    queue.write_descriptor(&mut ctx, 1, DATA_AT, 512, DESC_F_NEXT | DESC_F_WRITE, 0);
    queue.publish(&mut ctx, 0);
    queue.notify(&mut ctx, &mut dev);
    assert_eq!(
        dev.last_error(),
        Some(VirtioError::Queue(QueueError::Loop { index: 0 }))
    );
    let status_reg = read_reg(&mut ctx, &mut dev, REG_DEVICE_STATUS, WIDTH_8) as u8;
    assert_ne!(status_reg & STATUS_DEVICE_NEEDS_RESET, 0);
    assert!(queue.take_used(&ctx).is_empty());
    assert_eq!(read_isr(&mut ctx, &mut dev), ISR_CONFIG);

    // Stopped: a good request is not served until the driver resets the device.
    header(&mut ctx, VIRTIO_BLK_T_FLUSH, 0);
    queue.submit(&mut ctx, &[(HEADER_AT, 16, false), (STATUS_AT, 1, true)]);
    queue.notify(&mut ctx, &mut dev);
    assert!(queue.take_used(&ctx).is_empty());
    write_reg(&mut ctx, &mut dev, REG_DEVICE_STATUS, WIDTH_8, 0);
    assert_eq!(dev.status(), 0);
    assert!(!dev.queues()[0].is_ready());
}

#[test]
fn blk_descriptor_outside_ram_sets_needs_reset() {
    let (mut ctx, mut dev, mut queue) = blk_up();
    header(&mut ctx, VIRTIO_BLK_T_IN, 0);
    let outside = RAM_BYTES as Gpa - 100;
    queue.submit(
        &mut ctx,
        &[
            (HEADER_AT, 16, false),
            (outside, 512, true),
            (STATUS_AT, 1, true),
        ],
    );
    queue.notify(&mut ctx, &mut dev);
    assert!(matches!(dev.last_error(), Some(VirtioError::Dma(_))));
    assert_ne!(dev.status() & STATUS_DEVICE_NEEDS_RESET, 0);
    assert!(ctx.irq_level(IRQ));
}

#[test]
fn blk_chain_without_a_status_byte_sets_needs_reset() {
    let (mut ctx, mut dev, mut queue) = blk_up();
    header(&mut ctx, VIRTIO_BLK_T_FLUSH, 0);
    let head = queue.submit(&mut ctx, &[(HEADER_AT, 16, false)]);
    queue.notify(&mut ctx, &mut dev);
    assert_eq!(dev.last_error(), Some(VirtioError::MissingStatus { head }));
}

#[test]
fn blk_no_interrupt_flag_suppresses_the_interrupt() {
    let (mut ctx, mut dev, mut queue) = blk_up();
    queue.set_avail_flags(&mut ctx, AVAIL_F_NO_INTERRUPT);
    header(&mut ctx, VIRTIO_BLK_T_FLUSH, 0);
    queue.submit(&mut ctx, &[(HEADER_AT, 16, false), (STATUS_AT, 1, true)]);
    queue.notify(&mut ctx, &mut dev);
    assert_eq!(queue.take_used(&ctx).len(), 1);
    assert_eq!(dev.isr(), 0);
    assert!(!ctx.irq_level(IRQ));
}

#[test]
fn blk_without_bus_mastering_ignores_notifications() {
    let (mut ctx, mut dev, mut queue) = blk_up();
    dev.pci_config_write(
        &mut ctx,
        0x04,
        &crate::pci::regs::COMMAND_IO_SPACE.to_le_bytes(),
    );
    header(&mut ctx, VIRTIO_BLK_T_FLUSH, 0);
    queue.submit(&mut ctx, &[(HEADER_AT, 16, false), (STATUS_AT, 1, true)]);
    queue.notify(&mut ctx, &mut dev);
    assert!(queue.take_used(&ctx).is_empty());
    assert_eq!(dev.notifications(), 1);
}

#[test]
fn blk_requests_made_before_driver_ok_run_when_it_is_set() {
    let mut ctx = context();
    let disk = MemoryDisk::new(disk_image()).unwrap();
    let mut dev = VirtioPci::new(bdf(), IRQ, VirtioBlk::new(disk)).unwrap();
    let mut queue = bring_up(&mut ctx, &mut dev, false).remove(0);
    header(&mut ctx, VIRTIO_BLK_T_FLUSH, 0);
    queue.submit(&mut ctx, &[(HEADER_AT, 16, false), (STATUS_AT, 1, true)]);
    queue.notify(&mut ctx, &mut dev);
    assert!(queue.take_used(&ctx).is_empty(), "no work before DRIVER_OK");
    let ok = STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK;
    write_reg(
        &mut ctx,
        &mut dev,
        REG_DEVICE_STATUS,
        WIDTH_8,
        u64::from(ok),
    );
    assert_eq!(queue.take_used(&ctx).len(), 1);
}

#[test]
fn memory_disk_refuses_bad_images_and_ranges() {
    assert_eq!(
        MemoryDisk::new(alloc::vec![0; 700]),
        Err(BlockError::Unaligned { len: 700 })
    );
    let mut disk = MemoryDisk::zeroed(2).unwrap();
    use crate::virtio::block_backend::BlockBackend;
    assert_eq!(disk.sectors(), 2);
    let mut buf = [0u8; SECTOR_BYTES];
    assert_eq!(
        disk.read(2, &mut buf),
        Err(BlockError::OutOfRange {
            sector: 2,
            len: SECTOR_BYTES
        })
    );
    assert_eq!(
        disk.write(0, &[1; 3]),
        Err(BlockError::Unaligned { len: 3 })
    );
    assert_eq!(disk.write(1, &[9; SECTOR_BYTES]), Ok(()));
    assert_eq!(disk.bytes()[SECTOR_BYTES], 9);
}
