//! Page-mapping helpers over the active page tables (reached through the physical-memory
//! window): translate, map and unmap single 4 KiB pages.

use x86_64::structures::paging::mapper::{MapToError, TranslateResult, UnmapError};
use x86_64::structures::paging::{
    Mapper, OffsetPageTable, Page, PageTable, PageTableFlags, PhysFrame, Size4KiB, Translate,
};
use x86_64::{PhysAddr, VirtAddr};

use super::physical;

fn active_table() -> OffsetPageTable<'static> {
    let (level4, _) = x86_64::registers::control::Cr3::read();
    let offset = VirtAddr::new(physical::window_offset());
    let table = physical::to_virtual(level4.start_address().as_u64()) as *mut PageTable;
    // SAFETY: CR3 names the live level-4 table and the window maps all physical memory at
    // `offset`; the hypervisor runs on one CPU with the tables changed only through here.
    unsafe { OffsetPageTable::new(&mut *table, offset) }
}

/// The physical address `virt` maps to, if any.
pub fn translate(virt: VirtAddr) -> Option<PhysAddr> {
    match active_table().translate(virt) {
        TranslateResult::Mapped { frame, offset, .. } => Some(frame.start_address() + offset),
        _ => None,
    }
}

/// Map `page` to `frame` with `flags` (PRESENT is added), taking table frames from the frame
/// allocator.
///
/// # Safety
/// The caller guarantees `frame` is memory (or a device) that may be accessed through `page`
/// without breaking Rust's aliasing rules, and that `page` is not in use.
pub unsafe fn map(
    page: Page<Size4KiB>,
    frame: PhysFrame<Size4KiB>,
    flags: PageTableFlags,
) -> Result<(), MapToError<Size4KiB>> {
    let mut table = active_table();
    physical::with_frames(|frames| {
        // SAFETY: forwarded from the caller.
        let flush = unsafe { table.map_to(page, frame, flags | PageTableFlags::PRESENT, frames) }?;
        flush.flush();
        Ok(())
    })
}

/// Remove the mapping of `page`, returning the frame it mapped.
pub fn unmap(page: Page<Size4KiB>) -> Result<PhysFrame<Size4KiB>, UnmapError> {
    let (frame, flush) = active_table().unmap(page)?;
    flush.flush();
    Ok(frame)
}
