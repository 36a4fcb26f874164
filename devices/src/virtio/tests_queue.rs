//! The split virtqueue walker on its own: legacy layout addresses, size validation, and each
//! malformed-ring error as a value.

use crate::interface::{DeviceContext, DmaError};
use crate::testing::FakeContext;
use crate::virtio::chain::Segment;
use crate::virtio::queue::{QueueError, Virtqueue};
use crate::virtio::regs::*;

const PAGE: u32 = 0x10;
const TABLE: u64 = 0x10_000;
const SIZE: u16 = 8;

fn descriptor(ctx: &mut FakeContext, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&addr.to_le_bytes());
    raw[8..12].copy_from_slice(&len.to_le_bytes());
    raw[12..14].copy_from_slice(&flags.to_le_bytes());
    raw[14..].copy_from_slice(&next.to_le_bytes());
    ctx.dma_write(TABLE + 16 * u64::from(i), &raw).unwrap();
}

/// Publishes `heads` in the available ring with index `idx`.
fn avail(ctx: &mut FakeContext, queue: &Virtqueue, heads: &[u16], idx: u16) {
    let ring = queue.avail_ring().unwrap();
    for (slot, head) in heads.iter().enumerate() {
        ctx.dma_write(ring + 4 + 2 * slot as u64, &head.to_le_bytes())
            .unwrap();
    }
    ctx.dma_write(ring + RING_IDX, &idx.to_le_bytes()).unwrap();
}

fn queue() -> (FakeContext, Virtqueue) {
    let mut queue = Virtqueue::new(SIZE).unwrap();
    queue.set_page(PAGE);
    (FakeContext::with_ram(0x20_000), queue)
}

#[test]
fn queue_sizes_must_be_powers_of_two_up_to_256() {
    assert_eq!(Virtqueue::new(0), Err(QueueError::BadSize(0)));
    assert_eq!(Virtqueue::new(3), Err(QueueError::BadSize(3)));
    assert_eq!(Virtqueue::new(512), Err(QueueError::BadSize(512)));
    assert_eq!(Virtqueue::new(256).map(|q| q.size()), Ok(256));
}

#[test]
fn queue_legacy_layout_aligns_the_used_ring_to_4k() {
    let mut queue = Virtqueue::new(128).unwrap();
    assert_eq!(queue.descriptor_table(), Err(QueueError::NotReady));
    queue.set_page(0x10);
    assert_eq!(queue.descriptor_table(), Ok(0x10_000));
    assert_eq!(queue.avail_ring(), Ok(0x10_800));
    assert_eq!(queue.used_ring(), Ok(0x11_000));
    // 256 entries: table 4 KiB, avail ring 518 bytes → used ring on the third page.
    assert_eq!(Virtqueue::legacy_bytes(256), 0x2000 + 4 + 8 * 256 + 2);
}

#[test]
fn queue_pop_walks_a_chain_and_push_used_publishes_it() {
    let (mut ctx, mut queue) = queue();
    descriptor(&mut ctx, 3, 0x1000, 16, DESC_F_NEXT, 5);
    descriptor(&mut ctx, 5, 0x2000, 512, DESC_F_WRITE, 0);
    avail(&mut ctx, &queue, &[3], 1);
    let chain = queue.pop(&mut ctx).unwrap().unwrap();
    assert_eq!(chain.head(), 3);
    assert_eq!(
        chain.segments(),
        [
            Segment {
                addr: 0x1000,
                len: 16,
                writable: false
            },
            Segment {
                addr: 0x2000,
                len: 512,
                writable: true
            }
        ]
    );
    assert_eq!((chain.readable_len(), chain.writable_len()), (16, 512));
    assert_eq!(queue.pop(&mut ctx), Ok(None));
    queue.push_used(&mut ctx, 3, 77).unwrap();
    let used = queue.used_ring().unwrap();
    let mut entry = [0u8; 12];
    ctx.dma_read(used, &mut entry).unwrap();
    assert_eq!(entry[2..4], [1, 0], "used idx");
    assert_eq!(entry[4..8], 3u32.to_le_bytes());
    assert_eq!(entry[8..12], 77u32.to_le_bytes());
}

#[test]
fn queue_chain_of_every_descriptor_is_allowed() {
    let (mut ctx, mut queue) = queue();
    for i in 0..SIZE {
        let last = i + 1 == SIZE;
        let flags = if last { 0 } else { DESC_F_NEXT };
        descriptor(&mut ctx, i, 0x1000, 1, flags, i + 1);
    }
    avail(&mut ctx, &queue, &[0], 1);
    let chain = queue.pop(&mut ctx).unwrap().unwrap();
    assert_eq!(chain.segments().len(), usize::from(SIZE));
}

#[test]
fn queue_loop_is_detected() {
    let (mut ctx, mut queue) = queue();
    descriptor(&mut ctx, 0, 0x1000, 1, DESC_F_NEXT, 1);
    descriptor(&mut ctx, 1, 0x1000, 1, DESC_F_NEXT, 2);
    descriptor(&mut ctx, 2, 0x1000, 1, DESC_F_NEXT, 1);
    avail(&mut ctx, &queue, &[0], 1);
    assert_eq!(queue.pop(&mut ctx), Err(QueueError::Loop { index: 1 }));
    // A descriptor pointing at itself.
    descriptor(&mut ctx, 4, 0x1000, 1, DESC_F_NEXT, 4);
    let (mut ctx2, mut queue2) = self::queue();
    ctx2.ram.copy_from_slice(&ctx.ram);
    avail(&mut ctx2, &queue2, &[4], 1);
    assert_eq!(queue2.pop(&mut ctx2), Err(QueueError::Loop { index: 4 }));
}

#[test]
fn queue_indices_past_the_size_are_refused() {
    let (mut ctx, mut queue) = queue();
    avail(&mut ctx, &queue, &[SIZE], 1);
    assert_eq!(
        queue.pop(&mut ctx),
        Err(QueueError::IndexOutOfRange {
            index: SIZE,
            size: SIZE
        })
    );
    let (mut ctx, mut queue) = self::queue();
    descriptor(&mut ctx, 0, 0x1000, 1, DESC_F_NEXT, 200);
    avail(&mut ctx, &queue, &[0], 1);
    assert_eq!(
        queue.pop(&mut ctx),
        Err(QueueError::IndexOutOfRange {
            index: 200,
            size: SIZE
        })
    );
}

#[test]
fn queue_available_index_jump_past_the_size_is_refused() {
    let (mut ctx, mut queue) = queue();
    avail(&mut ctx, &queue, &[], SIZE + 1);
    assert_eq!(
        queue.pop(&mut ctx),
        Err(QueueError::AvailIndexJump {
            avail: SIZE + 1,
            last: 0,
            size: SIZE
        })
    );
}

#[test]
fn queue_indirect_and_readable_after_writable_are_refused() {
    let (mut ctx, mut queue) = queue();
    descriptor(&mut ctx, 0, 0x1000, 16, DESC_F_INDIRECT, 0);
    descriptor(&mut ctx, 1, 0x1000, 16, DESC_F_WRITE | DESC_F_NEXT, 2);
    descriptor(&mut ctx, 2, 0x1000, 16, 0, 0);
    avail(&mut ctx, &queue, &[0, 1], 2);
    assert_eq!(queue.pop(&mut ctx), Err(QueueError::Indirect { index: 0 }));
    let (mut ctx2, mut queue2) = self::queue();
    ctx2.ram.copy_from_slice(&ctx.ram);
    avail(&mut ctx2, &queue2, &[1], 1);
    assert_eq!(
        queue2.pop(&mut ctx2),
        Err(QueueError::ReadableAfterWritable { index: 2 })
    );
}

#[test]
fn queue_rings_outside_ram_are_dma_errors() {
    let mut ctx = FakeContext::with_ram(0x1000);
    let mut queue = Virtqueue::new(SIZE).unwrap();
    queue.set_page(0xFFFF_FFFF);
    let avail = queue.avail_ring().unwrap();
    assert_eq!(
        queue.pop(&mut ctx),
        Err(QueueError::Dma(DmaError::OutOfRange {
            gpa: avail + RING_IDX,
            len: 2
        }))
    );
}
