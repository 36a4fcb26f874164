//! Memory self-tests: heap and slab stress with exact accounting, frame-allocator
//! exhaustion, and page mapping.

use alloc::vec::Vec;
use core::alloc::Layout;

use x86_64::VirtAddr;
use x86_64::structures::paging::{Page, PageTableFlags, PhysFrame};

use super::{Context, fail};
use crate::exit::ExitStatus;
use crate::mm::{heap::HEAP, paging, physical};

const STRESS_OPERATIONS: usize = 100_000;
const LIVE_SLOTS: usize = 512;
const MAX_OBJECT: usize = 4096;

/// A small deterministic generator (xorshift64*).
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

pub fn heap_stress(_: &Context<'_>) -> ExitStatus {
    let before = HEAP.stats();
    let mut random = Xorshift(0x9e37_79b9_7f4a_7c15);
    let mut live: Vec<Option<(core::ptr::NonNull<u8>, Layout, u8)>> =
        Vec::with_capacity(LIVE_SLOTS);
    live.resize(LIVE_SLOTS, None);
    let baseline = HEAP.stats();
    let (mut allocations, mut frees) = (0usize, 0usize);
    for operation in 0..STRESS_OPERATIONS {
        let slot = (random.next() as usize) % LIVE_SLOTS;
        match live[slot].take() {
            Some((pointer, layout, fill)) => {
                // SAFETY: `pointer` was allocated with `layout` below and filled with `fill`.
                let bytes = unsafe { core::slice::from_raw_parts(pointer.as_ptr(), layout.size()) };
                if bytes.iter().any(|&b| b != fill) {
                    return fail(format_args!(
                        "object in slot {slot} corrupted (operation {operation})"
                    ));
                }
                // SAFETY: allocated from HEAP with this layout and not freed since.
                unsafe { HEAP.deallocate(pointer, layout) };
                frees += 1;
            }
            None => {
                let size = 1 + (random.next() as usize) % MAX_OBJECT;
                let align = 1 << ((random.next() as usize) % 7);
                let Ok(layout) = Layout::from_size_align(size, align) else {
                    return fail(format_args!("bad layout {size}/{align}"));
                };
                let pointer = match HEAP.allocate(layout) {
                    Ok(pointer) => pointer,
                    Err(error) => {
                        return fail(format_args!("allocation {operation} failed: {error:?}"));
                    }
                };
                if !(pointer.as_ptr() as usize).is_multiple_of(align) {
                    return fail(format_args!("misaligned allocation for align {align}"));
                }
                let fill = operation as u8;
                // SAFETY: fresh allocation of `size` bytes.
                unsafe { core::ptr::write_bytes(pointer.as_ptr(), fill, size) };
                live[slot] = Some((pointer, layout, fill));
                allocations += 1;
            }
        }
    }
    for (pointer, layout, _) in live.iter_mut().filter_map(Option::take) {
        // SAFETY: as above: still live, freed once.
        unsafe { HEAP.deallocate(pointer, layout) };
        frees += 1;
    }
    let after = HEAP.stats();
    log::info!(
        "heap stress: {allocations} allocations, {frees} frees; bytes in use {} -> {} (before the test {})",
        baseline.bytes_in_use,
        after.bytes_in_use,
        before.bytes_in_use
    );
    if after.bytes_in_use != baseline.bytes_in_use || after.large_objects != baseline.large_objects
    {
        return fail(format_args!("heap accounting did not return to its start"));
    }
    for (start, end) in baseline.classes.iter().zip(after.classes.iter()) {
        if start.objects_in_use != end.objects_in_use {
            return fail(format_args!(
                "class {} B: {} objects in use, started with {}",
                end.object_size, end.objects_in_use, start.objects_in_use
            ));
        }
    }
    drop(live);
    owner_accounting()
}

/// Two owners allocate through the per-owner table; one frees its memory, the other has its
/// holdings released for it; both accounts and the heap return to zero.
fn owner_accounting() -> ExitStatus {
    use crate::mm::heap::OWNERS;
    use crate::mm::owner::{OwnerId, UNLIMITED};
    let (tidy, leaky) = (OwnerId(7), OwnerId(8));
    let baseline = HEAP.stats().bytes_in_use;
    let mut owners = OWNERS.lock();
    if owners
        .register(tidy, UNLIMITED)
        .and(owners.register(leaky, 4096))
        .is_err()
    {
        return fail(format_args!("could not register owners"));
    }
    let mut held = Vec::new();
    for size in [8usize, 24, 100, 512, 2048, 3000] {
        let Ok(layout) = Layout::from_size_align(size, 8) else {
            continue;
        };
        match owners.alloc_for(tidy, layout) {
            Ok(pointer) => held.push((pointer, layout)),
            Err(error) => return fail(format_args!("alloc_for: {error:?}")),
        }
    }
    let small = Layout::from_size_align(1000, 8).unwrap_or(Layout::new::<u64>());
    for _ in 0..4 {
        if let Err(error) = owners.alloc_for(leaky, small) {
            return fail(format_args!("alloc_for within quota: {error:?}"));
        }
    }
    let over_quota = owners.alloc_for(leaky, small);
    let tidy_usage = owners.usage(tidy);
    log::info!(
        "owner accounts: tidy {tidy_usage:?}, leaky {:?}, fifth 1000 B for leaky: {over_quota:?}",
        owners.usage(leaky)
    );
    if over_quota.is_ok() {
        return fail(format_args!("quota of 4096 B not enforced"));
    }
    for (pointer, layout) in held {
        if let Err(error) = owners.free_for(tidy, pointer, layout) {
            return fail(format_args!("free_for: {error:?}"));
        }
    }
    let released = owners.release_all(leaky);
    log::info!("released for the leaky owner: {released:?}");
    let zero = owners.usage(tidy).map(|u| u.bytes) == Ok(0)
        && owners.usage(leaky).map(|u| u.bytes) == Ok(0);
    let unregistered = owners.unregister(tidy).and(owners.unregister(leaky));
    drop(owners);
    if !zero || unregistered.is_err() || HEAP.stats().bytes_in_use != baseline {
        return fail(format_args!("owner accounts did not return to zero"));
    }
    log::info!("owner accounting returned to zero");
    ExitStatus::Success
}

pub fn frame_exhaustion(_: &Context<'_>) -> ExitStatus {
    physical::with_frames(|frames| {
        let free_at_start = frames.free_frames();
        let mut taken: Vec<PhysFrame> = Vec::new();
        if taken.try_reserve_exact(free_at_start as usize).is_err() {
            return fail(format_args!("no heap for the frame list"));
        }
        let error = loop {
            match frames.allocate() {
                Ok(frame) => taken.push(frame),
                Err(error) => break error,
            }
        };
        log::info!(
            "frames exhausted after {} allocations: {error:?}",
            taken.len()
        );
        if taken.len() as u64 != free_at_start || frames.free_frames() != 0 {
            return fail(format_args!(
                "allocated {} of {free_at_start} free frames",
                taken.len()
            ));
        }
        for frame in taken.drain(..) {
            if let Err(error) = frames.free(frame) {
                return fail(format_args!("free failed: {error:?}"));
            }
        }
        if let Ok(frame) = frames.allocate() {
            let double = frames.free(frame).and_then(|()| frames.free(frame));
            log::info!("double free reported as {double:?}");
            if double.is_ok() {
                return fail(format_args!("double free accepted"));
            }
        }
        if frames.free_frames() != free_at_start {
            return fail(format_args!(
                "{} free after release, {free_at_start} before",
                frames.free_frames()
            ));
        }
        ExitStatus::Success
    })
}

/// A virtual page the tests map and unmap (outside anything the bootloader maps).
const TEST_PAGE: u64 = 0x0000_5555_0000_0000;

pub fn map_and_unmap(_: &Context<'_>) -> ExitStatus {
    let page = Page::containing_address(VirtAddr::new(TEST_PAGE));
    let frame = match physical::allocate_zeroed(1, physical::FRAME_BYTES) {
        Ok(run) => run.start,
        Err(error) => return fail(format_args!("no frame: {error:?}")),
    };
    // SAFETY: the page is unused (checked by `map`, which refuses mapped pages) and the frame
    // was just allocated for this test.
    if let Err(error) = unsafe { paging::map(page, frame, PageTableFlags::WRITABLE) } {
        return fail(format_args!("map failed: {error:?}"));
    }
    // SAFETY: mapped just above, writable, 4 KiB.
    unsafe { core::ptr::write_volatile(TEST_PAGE as *mut u64, 0x1234_5678_9abc_def0) };
    let through_window = physical::to_virtual(frame.start_address().as_u64());
    // SAFETY: the window maps the same frame.
    let seen = unsafe { core::ptr::read_volatile(through_window as *const u64) };
    let translated = paging::translate(VirtAddr::new(TEST_PAGE));
    let unmapped = paging::unmap(page);
    let _ = physical::with_frames(|frames| frames.free(frame));
    if seen != 0x1234_5678_9abc_def0
        || translated != Some(frame.start_address())
        || !matches!(unmapped, Ok(f) if f == frame)
    {
        return fail(format_args!(
            "mapping mismatch: {seen:#x} {translated:?} {unmapped:?}"
        ));
    }
    if paging::translate(VirtAddr::new(TEST_PAGE)).is_some() {
        return fail(format_args!("page still mapped after unmap"));
    }
    log::info!("mapped, wrote, translated and unmapped {TEST_PAGE:#x}");
    ExitStatus::Success
}
