//! Fuzz-style tests: pseudo-random descriptor tables, rings, request headers and register
//! writes thrown at virtio-blk and virtio-console. Nothing may panic, one notification may
//! complete at most one queue's worth of chains, and the device either serves the chains or
//! stops with DEVICE_NEEDS_RESET and an error value.

use crate::interface::{Device, Gpa};
use crate::testing::FakeContext;
use crate::virtio::VirtioBlk;
use crate::virtio::block_backend::{MemoryDisk, SECTOR_BYTES};
use crate::virtio::console::{BufferedSink, VirtioConsole};
use crate::virtio::device::VirtioDevice;
use crate::virtio::regs::*;
use crate::virtio::test_driver::*;
use crate::virtio::transport::VirtioPci;

/// Rounds per device type.
const ROUNDS: u32 = 300;
/// Sectors of the fuzzed disk.
const DISK_SECTORS: usize = 8;

/// xorshift64* (Vigna): a small deterministic generator, seeded per round.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A buffer address: mostly inside the buffer area, sometimes at the end of RAM or anywhere.
fn address(rng: &mut Rng) -> Gpa {
    match rng.below(64) {
        0 => rng.next(),
        1 => RAM_BYTES as Gpa - rng.below(64),
        _ => BUFFERS + rng.below(0x4000),
    }
}

/// A buffer length: small, sector-sized, header-sized, or anything.
fn length(rng: &mut Rng) -> u32 {
    match rng.below(12) {
        0 => rng.next() as u32,
        1 => 512 * (1 + rng.below(4) as u32),
        2 => 16,
        3 => 1,
        _ => rng.below(600) as u32,
    }
}

/// Scribbles random chains over `queue` and makes some of them available.
fn scramble(ctx: &mut FakeContext, rng: &mut Rng, queue: &mut DriverQueue) {
    for i in 0..queue.size {
        let mut flags = (rng.below(4) as u16) & (DESC_F_NEXT | DESC_F_WRITE);
        if rng.below(32) == 0 {
            flags |= DESC_F_INDIRECT;
        }
        let next = if rng.below(16) == 0 {
            rng.next() as u16
        } else {
            rng.below(u64::from(queue.size)) as u16
        };
        let (addr, len) = (address(rng), length(rng));
        queue.write_descriptor(ctx, i, addr, len, flags, next);
    }
    for _ in 0..rng.below(u64::from(queue.size) + 4) {
        let head = if rng.below(32) == 0 {
            rng.next() as u16
        } else {
            rng.below(u64::from(queue.size)) as u16
        };
        queue.publish(ctx, head);
    }
}

/// Random request headers (types biased to the real ones) and data in the buffer area.
fn scramble_buffers(ctx: &mut FakeContext, rng: &mut Rng) {
    for at in (BUFFERS..BUFFERS + 0x4000).step_by(8) {
        let word = match rng.below(4) {
            0 => [0u64, 1, 4, 8][rng.below(4) as usize],
            1 => rng.below(DISK_SECTORS as u64 + 2),
            _ => rng.next(),
        };
        put_ram(ctx, at, &word.to_le_bytes());
    }
}

/// Random register writes inside the BAR (any width, any offset), notifications included.
fn poke_registers(ctx: &mut FakeContext, rng: &mut Rng, dev: &mut dyn Device) {
    for _ in 0..rng.below(6) {
        let width = [1usize, 2, 4][rng.below(3) as usize];
        let offset = rng.below(MIN_BAR_SIZE);
        let value = match offset {
            REG_QUEUE_NOTIFY => rng.below(4),
            REG_DEVICE_STATUS => u64::from(STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK),
            _ => rng.next(),
        };
        write_reg(ctx, dev, offset, width, value);
        read_reg(ctx, dev, offset, width);
    }
}

/// Runs one round against `dev` and checks the invariants.
fn round<D: VirtioDevice>(seed: u64, mut dev: VirtioPci<D>) -> VirtioPci<D> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut ctx = context();
    let mut queues = bring_up(&mut ctx, &mut dev, true);
    scramble_buffers(&mut ctx, &mut rng);
    for queue in &mut queues {
        scramble(&mut ctx, &mut rng, queue);
    }
    for queue in &queues {
        queue.notify(&mut ctx, &mut dev);
        for (index, state) in dev.queues().iter().enumerate() {
            assert!(
                state.next_used() <= state.size(),
                "seed {seed}: queue {index} completed more than its size per notification"
            );
        }
    }
    let stopped = dev.status() & STATUS_DEVICE_NEEDS_RESET != 0;
    assert_eq!(stopped, dev.last_error().is_some(), "seed {seed}");
    if stopped {
        assert_ne!(dev.isr() & ISR_CONFIG, 0, "seed {seed}");
    }
    poke_registers(&mut ctx, &mut rng, &mut dev);
    dev.poll(&mut ctx);
    dev.power_off(&mut ctx).unwrap();
    assert_eq!(ctx.outstanding_allocations(), 0, "seed {seed}");
    dev
}

#[test]
fn fuzz_blk_random_rings_never_panic_and_stay_bounded() {
    let (mut stopped, mut served) = (0, 0);
    for seed in 0..u64::from(ROUNDS) {
        let disk = MemoryDisk::zeroed(DISK_SECTORS).unwrap();
        let dev = VirtioPci::new(bdf(), IRQ, VirtioBlk::new(disk)).unwrap();
        let dev = round(seed, dev);
        stopped += usize::from(dev.last_error().is_some());
        served += usize::from(dev.device().completed() + dev.device().failed() > 0);
        let image = dev.into_device().into_backend().into_bytes();
        assert_eq!(image.len(), DISK_SECTORS * SECTOR_BYTES, "seed {seed}");
    }
    // The generator makes both outcomes common; a run where every round stops (or none does)
    // would mean the fuzzer no longer reaches request handling (or the checks).
    assert!(
        stopped > 0 && stopped < ROUNDS as usize,
        "stopped {stopped}"
    );
    assert!(served > 0, "no round reached request handling");
    std::println!("fuzz: {ROUNDS} rounds, {stopped} stopped, {served} served requests");
}

#[test]
fn fuzz_console_random_rings_never_panic_and_stay_bounded() {
    for seed in 0..u64::from(ROUNDS) {
        let mut console = VirtioConsole::new(BufferedSink::new());
        console.push_input(&seed.to_le_bytes());
        let dev = VirtioPci::new(bdf(), IRQ, console).unwrap();
        round(seed, dev);
    }
}
