//! The hypervisor heap: the slab allocator (`slab`) over a contiguous run of frames reached
//! through the physical-memory window. It is the global allocator of the kernel binary.

use super::frames::{FRAME_SIZE, FrameError};
use super::owner::OwnerTable;
use super::physical;
use super::slab::LockedSlabHeap;

/// The global heap. (Host unit tests keep the host's allocator.)
#[cfg_attr(all(not(test), target_os = "none"), global_allocator)]
pub static HEAP: LockedSlabHeap = LockedSlabHeap::empty();

const MIB: u64 = 1024 * 1024;

/// Give the heap `mib` MiB of frames.
pub fn init(mib: u64) -> Result<(), FrameError> {
    let bytes = mib * MIB;
    let run = physical::allocate_zeroed(bytes / FRAME_SIZE, FRAME_SIZE)?;
    let start = physical::to_virtual(run.start.start_address().as_u64()) as *mut u8;
    // SAFETY: the run was just allocated for the heap alone and is mapped by the window for
    // `bytes` bytes; the heap owns it for the rest of the run.
    unsafe { HEAP.init(start, bytes as usize) };
    Ok(())
}

/// Per-owner accounts over the heap: explicit `alloc_for`/`free_for` for callers that must be
/// able to prove what they hold (the self-tests; device memory in the VMM).
pub static OWNERS: spin::Mutex<OwnerTable<'static, LockedSlabHeap>> =
    spin::Mutex::new(OwnerTable::new(&HEAP));
