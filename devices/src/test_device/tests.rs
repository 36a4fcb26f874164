//! Unit tests of the test device's window: the RAM-like scratch, the reserved bytes of the
//! register block, the window's edges and the bus routing. The DMA engine and the interrupt
//! line are tested in `tests_dma`.

use alloc::boxed::Box;

use super::*;
use crate::bus::{Access, Bus};
use crate::interface::ClaimError;
use crate::testing::FakeContext;

/// The last quadword of the window (reserved register bytes).
const LAST_QWORD: Gpa = DEFAULT_BASE + SIZE as u64 - 8;
/// The last quadword of the scratch.
const LAST_SCRATCH_QWORD: Gpa = DEFAULT_BASE + SCRATCH_SIZE as u64 - 8;

pub(super) fn powered() -> (TestDevice, FakeContext) {
    let mut ctx = FakeContext::new();
    let mut device = TestDevice::default();
    device.install(&mut ctx).unwrap();
    device.power_on(&mut ctx).unwrap();
    (device, ctx)
}

pub(super) fn read<const N: usize>(
    device: &mut TestDevice,
    ctx: &mut FakeContext,
    addr: Gpa,
) -> [u8; N] {
    let mut data = [0u8; N];
    device.mmio_read(ctx, addr, &mut data);
    data
}

#[test]
fn install_claims_4k_at_0xfeb00000_and_remove_releases_it() {
    let (mut device, mut ctx) = powered();
    let range = MmioRange::new(0xFEB0_0000, 0x1000).unwrap();
    assert_eq!(ctx.claims(), [Region::Mmio(range)]);
    assert_eq!(device.range(), range);
    device.remove(&mut ctx).unwrap();
    assert!(ctx.claims().is_empty());
}

#[test]
fn install_fails_when_the_window_is_taken() {
    let mut ctx = FakeContext::new();
    TestDevice::default().install(&mut ctx).unwrap();
    let overlapping = TestDevice::new(DEFAULT_BASE + 0x800)
        .unwrap()
        .install(&mut ctx);
    assert!(matches!(
        overlapping,
        Err(DeviceError::Claim(ClaimError::Overlap(_)))
    ));
}

#[test]
fn window_past_the_address_space_is_refused() {
    assert_eq!(TestDevice::new(u64::MAX - 0xFFE), Err(RangeError::Overflow));
    assert!(TestDevice::new(u64::MAX - 0xFFF).is_ok());
}

#[test]
fn registers_read_zero_after_power_on() {
    let (mut device, mut ctx) = powered();
    assert_eq!(read::<8>(&mut device, &mut ctx, DEFAULT_BASE), [0; 8]);
    assert_eq!(read::<8>(&mut device, &mut ctx, LAST_QWORD), [0; 8]);
    assert!(device.bytes().iter().all(|&b| b == 0));
}

#[test]
fn every_width_reads_back_what_was_written_little_endian() {
    let (mut device, mut ctx) = powered();
    device.mmio_write(&mut ctx, DEFAULT_BASE + 0x10, &[0xA5]);
    device.mmio_write(&mut ctx, DEFAULT_BASE + 0x12, &0xBEEFu16.to_le_bytes());
    device.mmio_write(&mut ctx, DEFAULT_BASE + 0x14, &0xDEAD_BEEFu32.to_le_bytes());
    device.mmio_write(
        &mut ctx,
        DEFAULT_BASE + 0x18,
        &0x0123_4567_89AB_CDEFu64.to_le_bytes(),
    );
    assert_eq!(
        read::<1>(&mut device, &mut ctx, DEFAULT_BASE + 0x10),
        [0xA5]
    );
    assert_eq!(
        read::<2>(&mut device, &mut ctx, DEFAULT_BASE + 0x12),
        0xBEEFu16.to_le_bytes()
    );
    assert_eq!(
        read::<4>(&mut device, &mut ctx, DEFAULT_BASE + 0x14),
        0xDEAD_BEEFu32.to_le_bytes()
    );
    assert_eq!(
        u64::from_le_bytes(read::<8>(&mut device, &mut ctx, DEFAULT_BASE + 0x18)),
        0x0123_4567_89AB_CDEF
    );
    // A wide read sees the narrow writes as RAM would.
    assert_eq!(
        u64::from_le_bytes(read::<8>(&mut device, &mut ctx, DEFAULT_BASE + 0x10)),
        0xDEAD_BEEF_BEEF_00A5
    );
}

#[test]
fn unaligned_accesses_behave_like_ram() {
    let (mut device, mut ctx) = powered();
    device.mmio_write(
        &mut ctx,
        DEFAULT_BASE + 0x103,
        &0x1122_3344_5566_7788u64.to_le_bytes(),
    );
    assert_eq!(
        read::<2>(&mut device, &mut ctx, DEFAULT_BASE + 0x105),
        [0x66, 0x55]
    );
    assert_eq!(
        read::<4>(&mut device, &mut ctx, DEFAULT_BASE + 0x107),
        [0x44, 0x33, 0x22, 0x11]
    );
    assert_eq!(
        &device.bytes()[0x103..0x10B],
        &0x1122_3344_5566_7788u64.to_le_bytes()
    );
}

#[test]
fn last_qword_of_the_scratch_is_usable() {
    let (mut device, mut ctx) = powered();
    device.mmio_write(&mut ctx, LAST_SCRATCH_QWORD, &u64::MAX.to_le_bytes());
    assert_eq!(
        read::<8>(&mut device, &mut ctx, LAST_SCRATCH_QWORD),
        [0xFF; 8]
    );
    assert_eq!(device.bytes()[SCRATCH_SIZE - 1], 0xFF);
}

#[test]
fn reserved_bytes_at_the_top_of_the_window_read_zero_and_ignore_writes() {
    let (mut device, mut ctx) = powered();
    device.mmio_write(&mut ctx, LAST_QWORD, &u64::MAX.to_le_bytes());
    assert_eq!(read::<8>(&mut device, &mut ctx, LAST_QWORD), [0; 8]);
    assert!(!device.line_asserted());
    assert!(ctx.irq_events().is_empty());
}

#[test]
fn write_straddling_scratch_and_registers_splits_bytewise() {
    let (mut device, mut ctx) = powered();
    let straddling = DEFAULT_BASE + SCRATCH_SIZE as u64 - 4;
    device.mmio_write(
        &mut ctx,
        straddling,
        &0x1122_3344_5566_7788u64.to_le_bytes(),
    );
    assert_eq!(
        &device.bytes()[SCRATCH_SIZE - 4..],
        &[0x88, 0x77, 0x66, 0x55]
    );
    // The high half landed in the low half of DMA_ADDRESS (offset 0xF00).
    assert_eq!(
        u64::from_le_bytes(read::<8>(
            &mut device,
            &mut ctx,
            DEFAULT_BASE + registers::DMA_ADDRESS as u64
        )),
        0x1122_3344
    );
}

#[test]
fn bytes_outside_the_window_read_all_ones_and_drop_writes() {
    let (mut device, mut ctx) = powered();
    // The last four bytes of the window are reserved (read 0); the four past it are open bus.
    let straddling = DEFAULT_BASE + SIZE as u64 - 4;
    device.mmio_write(&mut ctx, straddling, &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(
        read::<8>(&mut device, &mut ctx, straddling),
        [0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]
    );
    assert_eq!(
        read::<4>(&mut device, &mut ctx, DEFAULT_BASE - 2),
        [0xFF, 0xFF, 0, 0]
    );
    assert_eq!(read::<1>(&mut device, &mut ctx, u64::MAX), [0xFF]);
    assert_eq!(read::<8>(&mut device, &mut ctx, 0), [0xFF; 8]);
}

#[test]
fn reads_and_writes_are_counted_per_access() {
    let (mut device, mut ctx) = powered();
    device.mmio_write(&mut ctx, DEFAULT_BASE, &[0; 8]);
    device.mmio_write(&mut ctx, DEFAULT_BASE + 8, &[0]);
    read::<4>(&mut device, &mut ctx, DEFAULT_BASE);
    assert_eq!((device.reads(), device.writes()), (1, 2));
}

#[test]
fn power_on_resets_contents_and_counters() {
    let (mut device, mut ctx) = powered();
    device.mmio_write(&mut ctx, DEFAULT_BASE + 0x40, &[0x5A; 8]);
    read::<8>(&mut device, &mut ctx, DEFAULT_BASE + 0x40);
    device.power_off(&mut ctx).unwrap();
    device.power_on(&mut ctx).unwrap();
    assert_eq!((device.reads(), device.writes()), (0, 0));
    assert_eq!(
        read::<8>(&mut device, &mut ctx, DEFAULT_BASE + 0x40),
        [0; 8]
    );
}

#[test]
fn on_the_bus_accesses_route_to_it_and_the_end_is_split() {
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    let id = bus
        .register(&mut vm, Box::new(TestDevice::default()))
        .unwrap();
    bus.power_on(&mut vm, id).unwrap();
    let value = 0x0102_0304_0506_0708u64.to_le_bytes();
    assert_eq!(
        bus.mmio_write(&mut vm, DEFAULT_BASE + 0x20, &value),
        Access::Device(id)
    );
    let mut data = [0u8; 8];
    assert_eq!(
        bus.mmio_read(&mut vm, DEFAULT_BASE + 0x20, &mut data),
        Access::Device(id)
    );
    assert_eq!(data, value);
    // Crossing the end: the four bytes inside reach the device (reserved: they read 0), the
    // rest are unclaimed.
    let straddling = DEFAULT_BASE + SIZE as u64 - 4;
    assert_eq!(bus.mmio_write(&mut vm, straddling, &[9; 8]), Access::Split);
    assert_eq!(bus.mmio_read(&mut vm, straddling, &mut data), Access::Split);
    assert_eq!(data, [0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
    let mut after = [0u8; 1];
    assert_eq!(
        bus.mmio_read(&mut vm, DEFAULT_BASE + SIZE as u64, &mut after),
        Access::Unclaimed
    );
}

#[test]
fn removal_from_the_bus_leaves_nothing_held() {
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    let id = bus
        .register(&mut vm, Box::new(TestDevice::default()))
        .unwrap();
    assert_eq!(bus.holdings(id).unwrap().claims, 1);
    let removed = bus.remove(&mut vm, id).unwrap();
    assert!(removed.leaked.is_empty());
    assert!(removed.device_error.is_none());
    assert!(bus.total_holdings().is_empty());
}
