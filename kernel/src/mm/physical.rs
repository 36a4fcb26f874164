//! Physical memory as the hypervisor sees it: the bootloader's window that maps all physical
//! memory at a fixed offset, and the one frame allocator built from its memory map.

use core::ops::Range;
use core::sync::atomic::{AtomicU64, Ordering};

use bootloader_api::info::{MemoryRegion, MemoryRegionKind};
use spin::Mutex;
use x86_64::PhysAddr;
use x86_64::structures::paging::frame::PhysFrameRange;
use x86_64::structures::paging::{PhysFrame, Size4KiB};

use super::frames::{BitmapFrameAllocator, FRAME_SIZE, FrameError, words_needed};

/// Bytes in one frame.
pub const FRAME_BYTES: u64 = FRAME_SIZE;

/// The frame allocator over the hypervisor's own `&'static mut` bitmap.
pub type Frames = BitmapFrameAllocator<&'static mut [u64]>;

static WINDOW_OFFSET: AtomicU64 = AtomicU64::new(0);
static FRAMES: Mutex<Option<Frames>> = Mutex::new(None);

/// The virtual address at which physical address `physical` is mapped.
pub fn to_virtual(physical: u64) -> u64 {
    WINDOW_OFFSET.load(Ordering::Relaxed) + physical
}

/// The physical-memory window's offset.
pub fn window_offset() -> u64 {
    WINDOW_OFFSET.load(Ordering::Relaxed)
}

fn usable(regions: &[MemoryRegion]) -> impl Iterator<Item = Range<u64>> + Clone + '_ {
    regions
        .iter()
        .filter(|r| r.kind == MemoryRegionKind::Usable)
        .map(|r| r.start..r.end)
}

/// Build the frame allocator from the bootloader's memory map. Its bitmap is carved from the
/// first usable region large enough and then reserved.
pub fn init(regions: &[MemoryRegion], window_offset: u64) -> Result<(), FrameError> {
    WINDOW_OFFSET.store(window_offset, Ordering::Relaxed);
    let words = words_needed(usable(regions))?;
    let bytes = (words as u64 * 8).div_ceil(FRAME_SIZE) * FRAME_SIZE;
    let home = usable(regions)
        .map(|r| r.start.next_multiple_of(FRAME_SIZE)..r.end)
        .find(|r| r.end.saturating_sub(r.start) >= bytes)
        .ok_or(FrameError::OutOfFrames)?;
    // SAFETY: `home` is usable RAM (bootloader memory map) that nothing else owns yet; it is
    // reserved in the allocator right below, so this is its only reference.
    let bitmap =
        unsafe { core::slice::from_raw_parts_mut(to_virtual(home.start) as *mut u64, words) };
    let mut frames = BitmapFrameAllocator::new(usable(regions), bitmap)?;
    let first = PhysFrame::<Size4KiB>::containing_address(PhysAddr::new(home.start));
    frames.reserve(PhysFrame::range(first, first + bytes / FRAME_SIZE))?;
    // Physical page 0 is never handed out: a zero address must never look like a valid frame.
    let zero = PhysFrame::containing_address(PhysAddr::new(0));
    if frames.is_free(zero) {
        frames.reserve(PhysFrame::range(zero, zero + 1))?;
    }
    *FRAMES.lock() = Some(frames);
    Ok(())
}

/// Run `f` with the frame allocator (interrupts held off).
pub fn with_frames<R>(f: impl FnOnce(&mut Frames) -> R) -> R {
    x86_64::instructions::interrupts::without_interrupts(|| {
        let mut guard = FRAMES.lock();
        let frames = guard
            .as_mut()
            .expect("frame allocator used before mm::physical::init");
        f(frames)
    })
}

/// Allocate `count` contiguous, zeroed frames aligned to `align` bytes.
pub fn allocate_zeroed(count: u64, align: u64) -> Result<PhysFrameRange, FrameError> {
    let run = with_frames(|frames| frames.allocate_contiguous(count, align))?;
    let start = to_virtual(run.start.start_address().as_u64());
    // SAFETY: the run was just allocated, so nothing else refers to it; the window maps it.
    unsafe { core::ptr::write_bytes(start as *mut u8, 0, (count * FRAME_SIZE) as usize) };
    Ok(run)
}
