//! Per-owner heap accounting for the device interface's memory operations 16 (alloc) and
//! 17 (free), as `docs/ARCHITECTURE.md` ("Memory") asks: every allocation a device makes is
//! charged to it, so removing the device (operation 14) can prove nothing leaked — or free what
//! did.
//!
//! An [`OwnerTable`] holds up to [`MAX_OWNERS`] registered owners, each with a byte quota and
//! its outstanding [`Usage`], and a ledger of up to [`MAX_ALLOCATIONS`] live allocations
//! (address, layout, owner). Because [`OwnerTable::free_for`] frees only what the ledger
//! recorded, it is a safe function: a foreign pointer, a second free, a wrong layout or a wrong
//! owner is a typed [`OwnerError`] and changes nothing. The ledger is a dense array searched
//! linearly — device allocations happen at install time and on rare paths, not per exit.
//!
//! Memory comes from a [`BackingAllocator`]; in the kernel that is the global
//! [`LockedSlabHeap`], so a `(ptr, size)` allocated with `Layout::array::<u8>(size)` may also be
//! wrapped in a `Box<[u8]>` and turned back into a pointer for [`OwnerTable::free_for`].

use core::alloc::Layout;
use core::ptr::NonNull;

use super::slab::{AllocError, LockedSlabHeap};

/// Owners an [`OwnerTable`] can register at once.
pub const MAX_OWNERS: usize = 64;
/// Live allocations an [`OwnerTable`] can account for, all owners together.
pub const MAX_ALLOCATIONS: usize = 1024;
/// A quota that never limits the owner.
pub const UNLIMITED: usize = usize::MAX;

/// Who an allocation is charged to (the VMM numbers its device instances).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OwnerId(pub u32);

/// What an owner holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Bytes requested by its live allocations (sum of `Layout::size`).
    pub bytes: usize,
    /// Its live allocations.
    pub allocations: usize,
}

/// Why an accounting operation failed; none of them changes anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerError {
    /// [`MAX_OWNERS`] owners are registered already.
    TableFull,
    /// The owner is registered already.
    AlreadyRegistered(OwnerId),
    /// The owner is not registered.
    UnknownOwner(OwnerId),
    /// The allocation would take the owner past its quota.
    QuotaExceeded {
        owner: OwnerId,
        requested: usize,
        available: usize,
    },
    /// [`MAX_ALLOCATIONS`] allocations are live already.
    LedgerFull,
    /// The backing allocator has no room for `requested` bytes.
    OutOfMemory { requested: usize },
    /// No live allocation starts at this address: a foreign pointer or a second free.
    NotAllocated { address: usize },
    /// The allocation belongs to another owner.
    WrongOwner { owner: OwnerId, holder: OwnerId },
    /// The allocation was made with another layout.
    LayoutMismatch { address: usize },
    /// The owner still holds memory and cannot be unregistered.
    StillHolding { owner: OwnerId, usage: Usage },
}

/// Where accounted memory comes from.
pub trait BackingAllocator {
    /// Memory for `layout`, unused by anything else until it is deallocated.
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError>;

    /// Gives memory back.
    ///
    /// # Safety
    ///
    /// `ptr` must have come from [`Self::allocate`] on this allocator with this `layout`, and
    /// must not have been deallocated since.
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout);
}

impl BackingAllocator for LockedSlabHeap {
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        LockedSlabHeap::allocate(self, layout)
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded contract, which is `LockedSlabHeap::deallocate`'s.
        unsafe { LockedSlabHeap::deallocate(self, ptr, layout) }
    }
}

/// One registered owner.
#[derive(Debug, Clone, Copy)]
struct OwnerSlot {
    owner: OwnerId,
    quota: usize,
    usage: Usage,
}

/// One live allocation.
#[derive(Debug, Clone, Copy)]
struct Record {
    ptr: NonNull<u8>,
    layout: Layout,
    owner: OwnerId,
}

impl Record {
    const UNUSED: Record = Record {
        ptr: NonNull::dangling(),
        layout: Layout::new::<u8>(),
        owner: OwnerId(0),
    };
}

/// Owners, their quotas and usage, and the ledger of their live allocations.
#[derive(Debug)]
pub struct OwnerTable<'h, A> {
    heap: &'h A,
    owners: [Option<OwnerSlot>; MAX_OWNERS],
    /// `records[..live]` are the live allocations, in no particular order.
    records: [Record; MAX_ALLOCATIONS],
    live: usize,
}

// SAFETY: the recorded pointers are allocations this table owns (nobody else frees them), and
// sending the table sends that ownership along; the heap reference is shared only if `A: Sync`.
unsafe impl<A: Sync> Send for OwnerTable<'_, A> {}

impl<'h, A: BackingAllocator> OwnerTable<'h, A> {
    /// An empty table drawing on `heap` (`const`, for a `static` beside the global heap).
    pub const fn new(heap: &'h A) -> Self {
        OwnerTable {
            heap,
            owners: [None; MAX_OWNERS],
            records: [Record::UNUSED; MAX_ALLOCATIONS],
            live: 0,
        }
    }

    /// Registers `owner` with a byte quota ([`UNLIMITED`] for none).
    pub fn register(&mut self, owner: OwnerId, quota: usize) -> Result<(), OwnerError> {
        if self.slot(owner).is_ok() {
            return Err(OwnerError::AlreadyRegistered(owner));
        }
        let free = self
            .owners
            .iter_mut()
            .find(|slot| slot.is_none())
            .ok_or(OwnerError::TableFull)?;
        *free = Some(OwnerSlot {
            owner,
            quota,
            usage: Usage::default(),
        });
        Ok(())
    }

    /// Unregisters an owner that holds nothing.
    pub fn unregister(&mut self, owner: OwnerId) -> Result<(), OwnerError> {
        let index = self.slot(owner)?;
        if let Some(slot) = self.owners[index]
            && slot.usage != Usage::default()
        {
            return Err(OwnerError::StillHolding {
                owner,
                usage: slot.usage,
            });
        }
        self.owners[index] = None;
        Ok(())
    }

    /// What `owner` holds now.
    pub fn usage(&self, owner: OwnerId) -> Result<Usage, OwnerError> {
        let index = self.slot(owner)?;
        Ok(self.owners[index]
            .map(|slot| slot.usage)
            .unwrap_or_default())
    }

    /// Owners registered now.
    pub fn owners(&self) -> usize {
        self.owners.iter().flatten().count()
    }

    /// Live allocations, all owners together.
    pub fn live_allocations(&self) -> usize {
        self.live
    }

    /// Allocates `layout` for `owner` and charges it (operation 16). The memory is
    /// uninitialized; see [`Self::alloc_zeroed_for`].
    pub fn alloc_for(&mut self, owner: OwnerId, layout: Layout) -> Result<NonNull<u8>, OwnerError> {
        let index = self.slot(owner)?;
        let slot = self.owners[index].ok_or(OwnerError::UnknownOwner(owner))?;
        let available = slot.quota.saturating_sub(slot.usage.bytes);
        if layout.size() > available {
            return Err(OwnerError::QuotaExceeded {
                owner,
                requested: layout.size(),
                available,
            });
        }
        if self.live == MAX_ALLOCATIONS {
            return Err(OwnerError::LedgerFull);
        }
        let ptr = self
            .heap
            .allocate(layout)
            .map_err(|_| OwnerError::OutOfMemory {
                requested: layout.size(),
            })?;
        self.records[self.live] = Record { ptr, layout, owner };
        self.live += 1;
        self.charge(index, layout.size());
        Ok(ptr)
    }

    /// As [`Self::alloc_for`], with the memory zero-filled (what operation 16 hands a device).
    pub fn alloc_zeroed_for(
        &mut self,
        owner: OwnerId,
        layout: Layout,
    ) -> Result<NonNull<u8>, OwnerError> {
        let ptr = self.alloc_for(owner, layout)?;
        // SAFETY: `ptr` was just allocated for `layout.size()` bytes and nothing else uses it.
        unsafe { ptr.as_ptr().write_bytes(0, layout.size()) };
        Ok(ptr)
    }

    /// Frees an allocation `owner` made with `layout` (operation 17) and credits the owner.
    pub fn free_for(
        &mut self,
        owner: OwnerId,
        ptr: NonNull<u8>,
        layout: Layout,
    ) -> Result<(), OwnerError> {
        let index = self.slot(owner)?;
        let address = ptr.addr().get();
        let position = self.records[..self.live]
            .iter()
            .position(|record| record.ptr == ptr)
            .ok_or(OwnerError::NotAllocated { address })?;
        let record = self.records[position];
        if record.owner != owner {
            return Err(OwnerError::WrongOwner {
                owner,
                holder: record.owner,
            });
        }
        if record.layout != layout {
            return Err(OwnerError::LayoutMismatch { address });
        }
        self.forget(position);
        self.credit(index, layout.size());
        // SAFETY: the record proves `ptr` came from `heap.allocate(layout)` and, having been
        // live in the ledger until now, was not deallocated since.
        unsafe { self.heap.deallocate(record.ptr, record.layout) };
        Ok(())
    }

    /// Frees everything `owner` still holds (device removal) and returns what that was:
    /// [`Usage::default`] when the owner had freed all of it itself.
    pub fn release_all(&mut self, owner: OwnerId) -> Result<Usage, OwnerError> {
        let index = self.slot(owner)?;
        let leaked = self.usage(owner)?;
        let mut position = 0;
        while position < self.live {
            let record = self.records[position];
            if record.owner == owner {
                self.forget(position);
                self.credit(index, record.layout.size());
                // SAFETY: as in `free_for`: the record proves the allocation is live.
                unsafe { self.heap.deallocate(record.ptr, record.layout) };
            } else {
                position += 1;
            }
        }
        Ok(leaked)
    }

    /// Index of `owner`'s slot.
    fn slot(&self, owner: OwnerId) -> Result<usize, OwnerError> {
        self.owners
            .iter()
            .position(|slot| slot.is_some_and(|slot| slot.owner == owner))
            .ok_or(OwnerError::UnknownOwner(owner))
    }

    /// Removes ledger entry `position` (swapping the last one into its place).
    fn forget(&mut self, position: usize) {
        self.live -= 1;
        self.records[position] = self.records[self.live];
        self.records[self.live] = Record::UNUSED;
    }

    fn charge(&mut self, index: usize, bytes: usize) {
        if let Some(slot) = &mut self.owners[index] {
            slot.usage.bytes += bytes;
            slot.usage.allocations += 1;
        }
    }

    fn credit(&mut self, index: usize, bytes: usize) {
        if let Some(slot) = &mut self.owners[index] {
            slot.usage.bytes -= bytes;
            slot.usage.allocations -= 1;
        }
    }
}

#[cfg(test)]
mod tests;
