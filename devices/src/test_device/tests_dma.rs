//! Unit tests of the test device's DMA engine, its registers and its interrupt line, against
//! the fake context (RAM, interrupt log, allocation ledger) and through the bus.

use alloc::boxed::Box;
use alloc::vec;

use super::dma::{PATTERN_INCREMENT, fill_pattern, next_state};
use super::registers::*;
use super::tests::{powered, read};
use super::*;
use crate::bus::Bus;
use crate::testing::{FakeContext, IrqEvent};

/// Where the tests point transfers: inside the fake's 64 KiB of RAM.
const TARGET: u64 = 0x1000;
const SEED: u32 = 0xDEAD_BEEF;

fn register(offset: usize) -> Gpa {
    DEFAULT_BASE + offset as u64
}

fn write32(device: &mut TestDevice, ctx: &mut FakeContext, offset: usize, value: u32) {
    device.mmio_write(ctx, register(offset), &value.to_le_bytes());
}

fn write64(device: &mut TestDevice, ctx: &mut FakeContext, offset: usize, value: u64) {
    device.mmio_write(ctx, register(offset), &value.to_le_bytes());
}

fn read32(device: &mut TestDevice, ctx: &mut FakeContext, offset: usize) -> u32 {
    u32::from_le_bytes(read::<4>(device, ctx, register(offset)))
}

fn read64(device: &mut TestDevice, ctx: &mut FakeContext, offset: usize) -> u64 {
    u64::from_le_bytes(read::<8>(device, ctx, register(offset)))
}

/// Programs a transfer and starts it.
fn start(device: &mut TestDevice, ctx: &mut FakeContext, gpa: u64, length: u32, seed: u32) {
    write64(device, ctx, DMA_ADDRESS, gpa);
    write32(device, ctx, DMA_LENGTH, length);
    write32(device, ctx, DMA_SEED, seed);
    write32(device, ctx, CONTROL, CONTROL_START as u32);
}

fn line(level: bool) -> IrqEvent {
    IrqEvent::Line {
        line: DEFAULT_IRQ_LINE,
        level,
    }
}

#[test]
fn pattern_is_the_documented_lcg_high_byte() {
    // state1 = 0 * 1664525 + 1013904223 = 0x3C6E_F35F → 0x3C, and so on.
    let mut bytes = [0u8; 8];
    fill_pattern(0, &mut bytes);
    assert_eq!(bytes, [0x3C, 0x47, 0xD1, 0xAA, 0x62, 0x9F, 0x57, 0xA3]);
    assert_eq!(next_state(0), PATTERN_INCREMENT);
    let mut seeded = [0u8; 4];
    fill_pattern(SEED, &mut seeded);
    assert_eq!(seeded, [0x6A, 0xF5, 0x09, 0x38]);
}

#[test]
fn registers_power_on_with_line_5_and_everything_else_zero() {
    let (mut device, mut ctx) = powered();
    assert_eq!(read32(&mut device, &mut ctx, IRQ_LINE), 5);
    for offset in [DMA_LENGTH, DMA_SEED, CONTROL, STATUS, LEVEL_IRQ, IRQ_COUNT] {
        assert_eq!(read32(&mut device, &mut ctx, offset), 0, "{offset:#x}");
    }
    assert_eq!(read64(&mut device, &mut ctx, DMA_ADDRESS), 0);
}

#[test]
fn start_writes_the_seed_pattern_to_guest_ram_and_reports_done() {
    let (mut device, mut ctx) = powered();
    start(&mut device, &mut ctx, TARGET, 256, SEED);
    let mut expected = [0u8; 256];
    fill_pattern(SEED, &mut expected);
    let target = TARGET as usize;
    assert_eq!(&ctx.ram[target..target + 256], &expected);
    assert_eq!(ctx.ram[target - 1], 0, "nothing before the target");
    assert_eq!(ctx.ram[target + 256], 0, "nothing after the target");
    assert_eq!(read32(&mut device, &mut ctx, STATUS), STATUS_DONE);
    assert_eq!(read32(&mut device, &mut ctx, DMA_DONE_COUNT), 1);
}

#[test]
fn maximum_length_transfer_of_64k_lands_whole() {
    let mut ctx = FakeContext::with_ram(2 * MAX_DMA_LENGTH as usize);
    let mut device = TestDevice::default();
    device.power_on(&mut ctx).unwrap();
    start(&mut device, &mut ctx, 0x100, MAX_DMA_LENGTH, 7);
    let mut expected = vec![0u8; MAX_DMA_LENGTH as usize];
    fill_pattern(7, &mut expected);
    assert_eq!(&ctx.ram[0x100..0x100 + expected.len()], &expected[..]);
    assert_eq!(device.status(), STATUS_DONE);
}

#[test]
fn transfer_outside_guest_ram_reports_status_2_and_writes_nothing() {
    let (mut device, mut ctx) = powered();
    let ram_end = ctx.ram.len() as u64;
    // Straddling the end of RAM, above RAM, in the device's own window, at the top of the
    // address space (the end would overflow).
    for gpa in [ram_end - 16, ram_end, DEFAULT_BASE, u64::MAX - 8] {
        start(&mut device, &mut ctx, gpa, 64, SEED);
        assert_eq!(device.status(), STATUS_DMA_ERROR, "{gpa:#x}");
        write32(&mut device, &mut ctx, STATUS, 0);
    }
    assert!(ctx.ram.iter().all(|&b| b == 0), "guest RAM unchanged");
    assert_eq!(device.dma_done_count(), 0);
    assert_eq!(ctx.outstanding_allocations(), 0);
}

#[test]
fn length_zero_or_above_64k_reports_bad_length_without_allocating() {
    let (mut device, mut ctx) = powered();
    ctx.alloc_quota = 0;
    for length in [0, MAX_DMA_LENGTH + 1, u32::MAX] {
        start(&mut device, &mut ctx, TARGET, length, SEED);
        assert_eq!(device.status(), STATUS_BAD_LENGTH, "{length}");
    }
    assert!(ctx.ram.iter().all(|&b| b == 0));
}

#[test]
fn bounce_buffer_comes_from_the_context_and_goes_back() {
    let (mut device, mut ctx) = powered();
    ctx.alloc_quota = 31;
    start(&mut device, &mut ctx, TARGET, 32, SEED);
    assert_eq!(
        device.status(),
        STATUS_NO_MEMORY,
        "32 bytes exceed the quota"
    );
    assert!(ctx.ram.iter().all(|&b| b == 0));
    ctx.alloc_quota = 32;
    start(&mut device, &mut ctx, TARGET, 32, SEED);
    assert_eq!(device.status(), STATUS_DONE);
    assert_eq!(ctx.outstanding_allocations(), 0);
    assert_eq!(ctx.outstanding_bytes(), 0);
}

#[test]
fn completion_raises_the_line_until_status_is_written() {
    let (mut device, mut ctx) = powered();
    start(&mut device, &mut ctx, TARGET, 16, SEED);
    assert!(ctx.irq_level(DEFAULT_IRQ_LINE));
    assert_eq!(ctx.irq_events(), [line(true)]);
    write32(&mut device, &mut ctx, STATUS, 0);
    assert!(!ctx.irq_level(DEFAULT_IRQ_LINE));
    assert_eq!(ctx.irq_events(), [line(true), line(false)]);
    assert_eq!(device.status(), STATUS_IDLE);
    assert_eq!(read32(&mut device, &mut ctx, IRQ_COUNT), 1);
}

#[test]
fn each_start_gives_a_fresh_rising_edge_even_unacknowledged() {
    let (mut device, mut ctx) = powered();
    let above_ram = ctx.ram.len() as u64;
    start(&mut device, &mut ctx, TARGET, 16, SEED);
    start(&mut device, &mut ctx, above_ram, 16, SEED);
    assert_eq!(ctx.irq_rising_edges(DEFAULT_IRQ_LINE), 2);
    assert_eq!(device.irq_count(), 2);
    assert_eq!(device.status(), STATUS_DMA_ERROR);
}

#[test]
fn failed_transfer_interrupts_too() {
    let (mut device, mut ctx) = powered();
    start(&mut device, &mut ctx, u64::MAX, 16, SEED);
    assert_eq!(ctx.irq_events(), [line(true)]);
}

#[test]
fn level_irq_holds_the_line_until_cleared() {
    let (mut device, mut ctx) = powered();
    write32(&mut device, &mut ctx, LEVEL_IRQ, 1);
    write32(&mut device, &mut ctx, LEVEL_IRQ, 1);
    assert!(ctx.irq_level(DEFAULT_IRQ_LINE));
    assert_eq!(read32(&mut device, &mut ctx, LEVEL_IRQ), 1);
    assert_eq!(ctx.irq_events(), [line(true)], "no second edge while held");
    write32(&mut device, &mut ctx, LEVEL_IRQ, 0);
    assert!(!ctx.irq_level(DEFAULT_IRQ_LINE));
    assert_eq!(ctx.irq_events(), [line(true), line(false)]);
    assert_eq!(device.irq_count(), 1);
}

#[test]
fn level_irq_and_completion_share_the_line() {
    let (mut device, mut ctx) = powered();
    write32(&mut device, &mut ctx, LEVEL_IRQ, 1);
    start(&mut device, &mut ctx, TARGET, 16, SEED);
    write32(&mut device, &mut ctx, STATUS, 0);
    assert!(ctx.irq_level(DEFAULT_IRQ_LINE), "LEVEL_IRQ still holds it");
    write32(&mut device, &mut ctx, LEVEL_IRQ, 0);
    assert!(!ctx.irq_level(DEFAULT_IRQ_LINE));
}

#[test]
fn irq_line_register_moves_an_asserted_line() {
    let (mut device, mut ctx) = powered();
    write32(&mut device, &mut ctx, LEVEL_IRQ, 1);
    write32(&mut device, &mut ctx, IRQ_LINE, 11);
    assert_eq!(read32(&mut device, &mut ctx, IRQ_LINE), 11);
    assert_eq!(
        ctx.irq_events(),
        [
            line(true),
            line(false),
            IrqEvent::Line {
                line: IrqLine(11),
                level: true
            }
        ]
    );
    assert_eq!(device.irq_line(), IrqLine(11));
}

#[test]
fn irq_line_register_ignores_the_cascade_and_non_isa_lines() {
    let (mut device, mut ctx) = powered();
    for value in [2, 16, 23, u32::MAX] {
        write32(&mut device, &mut ctx, IRQ_LINE, value);
        assert_eq!(read32(&mut device, &mut ctx, IRQ_LINE), 5, "{value}");
    }
}

#[test]
fn registers_take_narrow_and_register_spanning_writes() {
    let (mut device, mut ctx) = powered();
    write32(&mut device, &mut ctx, DMA_ADDRESS, 0x89AB_CDEF);
    write32(&mut device, &mut ctx, DMA_ADDRESS + 4, 0x0123_4567);
    assert_eq!(
        read64(&mut device, &mut ctx, DMA_ADDRESS),
        0x0123_4567_89AB_CDEF
    );
    // One 8-byte write sets DMA_LENGTH (low half) and DMA_SEED (high half).
    write64(&mut device, &mut ctx, DMA_LENGTH, 0x1234_5678_0000_0040);
    assert_eq!(read32(&mut device, &mut ctx, DMA_LENGTH), 0x40);
    assert_eq!(read32(&mut device, &mut ctx, DMA_SEED), 0x1234_5678);
    // A one-byte write changes one byte.
    device.mmio_write(&mut ctx, register(DMA_SEED + 3), &[0xAB]);
    assert_eq!(read32(&mut device, &mut ctx, DMA_SEED), 0xAB34_5678);
}

#[test]
fn control_reads_zero_and_counters_ignore_writes() {
    let (mut device, mut ctx) = powered();
    start(&mut device, &mut ctx, TARGET, 16, SEED);
    assert_eq!(read32(&mut device, &mut ctx, CONTROL), 0);
    write32(&mut device, &mut ctx, IRQ_COUNT, 0);
    write32(&mut device, &mut ctx, DMA_DONE_COUNT, 0);
    assert_eq!(read32(&mut device, &mut ctx, IRQ_COUNT), 1);
    assert_eq!(read32(&mut device, &mut ctx, DMA_DONE_COUNT), 1);
}

#[test]
fn control_without_the_start_bit_does_nothing() {
    let (mut device, mut ctx) = powered();
    write64(&mut device, &mut ctx, DMA_ADDRESS, TARGET);
    write32(&mut device, &mut ctx, DMA_LENGTH, 16);
    write32(&mut device, &mut ctx, CONTROL, 0xFFFF_FFFE);
    assert_eq!(device.status(), STATUS_IDLE);
    assert!(ctx.irq_events().is_empty());
    assert!(ctx.ram.iter().all(|&b| b == 0));
}

#[test]
fn power_off_lowers_the_line_and_power_on_resets_the_registers() {
    let (mut device, mut ctx) = powered();
    write32(&mut device, &mut ctx, IRQ_LINE, 9);
    write32(&mut device, &mut ctx, LEVEL_IRQ, 1);
    start(&mut device, &mut ctx, TARGET, 16, SEED);
    device.power_off(&mut ctx).unwrap();
    assert!(!ctx.irq_level(IrqLine(9)));
    device.power_on(&mut ctx).unwrap();
    assert_eq!(read32(&mut device, &mut ctx, IRQ_LINE), 5);
    assert_eq!(read32(&mut device, &mut ctx, STATUS), STATUS_IDLE);
    assert_eq!(read32(&mut device, &mut ctx, LEVEL_IRQ), 0);
    assert_eq!(read32(&mut device, &mut ctx, IRQ_COUNT), 0);
    assert!(!device.line_asserted());
}

#[test]
fn remove_lowers_a_held_line() {
    let (mut device, mut ctx) = powered();
    write32(&mut device, &mut ctx, LEVEL_IRQ, 1);
    device.remove(&mut ctx).unwrap();
    assert!(!ctx.irq_level(DEFAULT_IRQ_LINE));
}

#[test]
fn on_the_bus_the_transfer_is_accounted_and_the_irq_reaches_the_vm() {
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    let id = bus
        .register(&mut vm, Box::new(TestDevice::default()))
        .unwrap();
    bus.power_on(&mut vm, id).unwrap();
    let base = DEFAULT_BASE;
    bus.mmio_write(&mut vm, base + DMA_ADDRESS as u64, &TARGET.to_le_bytes());
    bus.mmio_write(&mut vm, base + DMA_LENGTH as u64, &64u32.to_le_bytes());
    bus.mmio_write(&mut vm, base + DMA_SEED as u64, &SEED.to_le_bytes());
    bus.mmio_write(&mut vm, base + CONTROL as u64, &1u32.to_le_bytes());
    let mut expected = [0u8; 64];
    fill_pattern(SEED, &mut expected);
    assert_eq!(&vm.ram[0x1000..0x1040], &expected);
    assert!(vm.irq_level(DEFAULT_IRQ_LINE));
    let holdings = bus.holdings(id).unwrap();
    assert_eq!((holdings.allocations, holdings.bytes), (0, 0));
}
