//! EPT tables in host frames: the kernel's [`TableMemory`] for [`crate::vmx::ept::Ept`].

use x86_64::PhysAddr;
use x86_64::structures::paging::PhysFrame;

use crate::mm::physical;
use crate::vmx::ept::{ENTRIES, TableMemory};

/// Tables come from the frame allocator and are reached through the physical window.
#[derive(Debug, Default)]
pub struct FrameTables;

impl TableMemory for FrameTables {
    fn allocate_table(&mut self) -> Option<u64> {
        physical::allocate_zeroed(1, physical::FRAME_BYTES)
            .ok()
            .map(|run| run.start.start_address().as_u64())
    }

    fn table(&mut self, physical: u64) -> &mut [u64; ENTRIES] {
        // SAFETY: `physical` is a frame this type allocated for one EPT table (the EPT code
        // only passes addresses it got from `allocate_table`); the window maps it.
        unsafe { &mut *(physical::to_virtual(physical) as *mut [u64; ENTRIES]) }
    }

    fn free_table(&mut self, physical: u64) {
        let frame = PhysFrame::containing_address(PhysAddr::new(physical));
        let _ = physical::with_frames(|frames| frames.free(frame));
    }
}
