//! Host tests of per-owner accounting: charging, crediting, quotas, bounds, and every misuse
//! of free being a typed error that leaves the books unchanged.

use std::boxed::Box;
use std::vec::Vec;

use core::mem::MaybeUninit;

use super::*;

const DISK: OwnerId = OwnerId(1);
const NIC: OwnerId = OwnerId(2);

fn heap() -> &'static LockedSlabHeap {
    Box::leak(Box::new(LockedSlabHeap::from_slice(Vec::leak(vec![
        MaybeUninit::uninit();
        1024 * 1024
    ]))))
}

fn table(heap: &'static LockedSlabHeap) -> Box<OwnerTable<'static, LockedSlabHeap>> {
    Box::new(OwnerTable::new(heap))
}

fn bytes(size: usize) -> Layout {
    Layout::array::<u8>(size).expect("small test size")
}

#[test]
fn allocation_is_charged_to_its_owner_only() {
    let heap = heap();
    let mut owners = table(heap);
    owners.register(DISK, UNLIMITED).unwrap();
    owners.register(NIC, UNLIMITED).unwrap();
    owners.alloc_for(DISK, bytes(100)).unwrap();
    owners.alloc_for(DISK, bytes(3000)).unwrap();
    owners.alloc_for(NIC, bytes(7)).unwrap();
    assert_eq!(
        owners.usage(DISK),
        Ok(Usage {
            bytes: 3100,
            allocations: 2
        })
    );
    assert_eq!(
        owners.usage(NIC),
        Ok(Usage {
            bytes: 7,
            allocations: 1
        })
    );
    assert_eq!(owners.live_allocations(), 3);
    assert_eq!(heap.stats().bytes_in_use, 3107);
}

#[test]
fn free_credits_the_owner_and_returns_the_memory() {
    let heap = heap();
    let mut owners = table(heap);
    owners.register(DISK, UNLIMITED).unwrap();
    let a = owners.alloc_for(DISK, bytes(64)).unwrap();
    let b = owners.alloc_for(DISK, bytes(5000)).unwrap();
    owners.free_for(DISK, a, bytes(64)).unwrap();
    assert_eq!(
        owners.usage(DISK),
        Ok(Usage {
            bytes: 5000,
            allocations: 1
        })
    );
    owners.free_for(DISK, b, bytes(5000)).unwrap();
    assert_eq!(owners.usage(DISK), Ok(Usage::default()));
    assert_eq!(heap.stats().bytes_in_use, 0);
}

#[test]
fn zeroed_allocation_is_all_zero_bytes() {
    let heap = heap();
    let mut owners = table(heap);
    owners.register(DISK, UNLIMITED).unwrap();
    // Dirty a block first so the zeroed one reuses it.
    let dirty = owners.alloc_for(DISK, bytes(256)).unwrap();
    // SAFETY: 256 bytes just allocated.
    unsafe { dirty.as_ptr().write_bytes(0xFF, 256) };
    owners.free_for(DISK, dirty, bytes(256)).unwrap();
    let clean = owners.alloc_zeroed_for(DISK, bytes(256)).unwrap();
    assert_eq!(clean, dirty, "the slab hands the freed object out again");
    // SAFETY: 256 bytes allocated and zeroed above.
    let contents = unsafe { core::slice::from_raw_parts(clean.as_ptr(), 256) };
    assert!(contents.iter().all(|&b| b == 0));
}

#[test]
fn freeing_with_the_wrong_owner_is_an_error_and_changes_nothing() {
    let heap = heap();
    let mut owners = table(heap);
    owners.register(DISK, UNLIMITED).unwrap();
    owners.register(NIC, UNLIMITED).unwrap();
    let block = owners.alloc_for(DISK, bytes(32)).unwrap();
    assert_eq!(
        owners.free_for(NIC, block, bytes(32)),
        Err(OwnerError::WrongOwner {
            owner: NIC,
            holder: DISK
        })
    );
    assert_eq!(
        owners.usage(DISK),
        Ok(Usage {
            bytes: 32,
            allocations: 1
        })
    );
    assert_eq!(heap.stats().bytes_in_use, 32);
    owners.free_for(DISK, block, bytes(32)).unwrap();
}

#[test]
fn double_free_and_foreign_pointers_are_not_allocated() {
    let heap = heap();
    let mut owners = table(heap);
    owners.register(DISK, UNLIMITED).unwrap();
    let block = owners.alloc_for(DISK, bytes(32)).unwrap();
    owners.free_for(DISK, block, bytes(32)).unwrap();
    let address = block.addr().get();
    assert_eq!(
        owners.free_for(DISK, block, bytes(32)),
        Err(OwnerError::NotAllocated { address })
    );
    let mut local = 0u64;
    let foreign = NonNull::from(&mut local).cast::<u8>();
    assert_eq!(
        owners.free_for(DISK, foreign, bytes(8)),
        Err(OwnerError::NotAllocated {
            address: foreign.addr().get()
        })
    );
    assert_eq!(owners.usage(DISK), Ok(Usage::default()));
}

#[test]
fn freeing_with_another_layout_is_an_error() {
    let heap = heap();
    let mut owners = table(heap);
    owners.register(DISK, UNLIMITED).unwrap();
    let block = owners.alloc_for(DISK, bytes(48)).unwrap();
    assert_eq!(
        owners.free_for(DISK, block, bytes(40)),
        Err(OwnerError::LayoutMismatch {
            address: block.addr().get()
        })
    );
    owners.free_for(DISK, block, bytes(48)).unwrap();
}

#[test]
fn quota_bounds_what_an_owner_may_hold() {
    let heap = heap();
    let mut owners = table(heap);
    owners.register(NIC, 1000).unwrap();
    let first = owners.alloc_for(NIC, bytes(600)).unwrap();
    assert_eq!(
        owners.alloc_for(NIC, bytes(401)),
        Err(OwnerError::QuotaExceeded {
            owner: NIC,
            requested: 401,
            available: 400
        })
    );
    owners.alloc_for(NIC, bytes(400)).unwrap();
    owners.free_for(NIC, first, bytes(600)).unwrap();
    owners.alloc_for(NIC, bytes(600)).unwrap();
    assert_eq!(
        owners.usage(NIC),
        Ok(Usage {
            bytes: 1000,
            allocations: 2
        })
    );
}

#[test]
fn owner_table_is_bounded() {
    let heap = heap();
    let mut owners = table(heap);
    for id in 0..MAX_OWNERS as u32 {
        owners.register(OwnerId(id), UNLIMITED).unwrap();
    }
    assert_eq!(
        owners.register(OwnerId(999), UNLIMITED),
        Err(OwnerError::TableFull)
    );
    assert_eq!(
        owners.register(OwnerId(0), UNLIMITED),
        Err(OwnerError::AlreadyRegistered(OwnerId(0)))
    );
    owners.unregister(OwnerId(5)).unwrap();
    owners.register(OwnerId(999), UNLIMITED).unwrap();
    assert_eq!(owners.owners(), MAX_OWNERS);
}

#[test]
fn ledger_is_bounded() {
    let heap = heap();
    let mut owners = table(heap);
    owners.register(DISK, UNLIMITED).unwrap();
    let blocks: Vec<_> = (0..MAX_ALLOCATIONS)
        .map(|_| owners.alloc_for(DISK, bytes(8)).unwrap())
        .collect();
    assert_eq!(
        owners.alloc_for(DISK, bytes(8)),
        Err(OwnerError::LedgerFull)
    );
    assert_eq!(heap.stats().bytes_in_use, 8 * MAX_ALLOCATIONS);
    for block in blocks {
        owners.free_for(DISK, block, bytes(8)).unwrap();
    }
    assert_eq!(owners.live_allocations(), 0);
}

#[test]
fn unknown_owner_cannot_allocate_or_free() {
    let heap = heap();
    let mut owners = table(heap);
    assert_eq!(
        owners.alloc_for(DISK, bytes(8)),
        Err(OwnerError::UnknownOwner(DISK))
    );
    assert_eq!(owners.usage(DISK), Err(OwnerError::UnknownOwner(DISK)));
    assert_eq!(
        owners.free_for(DISK, NonNull::dangling(), bytes(8)),
        Err(OwnerError::UnknownOwner(DISK))
    );
}

#[test]
fn owner_holding_memory_cannot_be_unregistered() {
    let heap = heap();
    let mut owners = table(heap);
    owners.register(DISK, UNLIMITED).unwrap();
    let block = owners.alloc_for(DISK, bytes(10)).unwrap();
    assert_eq!(
        owners.unregister(DISK),
        Err(OwnerError::StillHolding {
            owner: DISK,
            usage: Usage {
                bytes: 10,
                allocations: 1
            }
        })
    );
    owners.free_for(DISK, block, bytes(10)).unwrap();
    owners.unregister(DISK).unwrap();
    assert_eq!(owners.owners(), 0);
}

#[test]
fn release_all_frees_what_a_removed_owner_leaked() {
    let heap = heap();
    let mut owners = table(heap);
    owners.register(DISK, UNLIMITED).unwrap();
    owners.register(NIC, UNLIMITED).unwrap();
    for size in [10, 20, 4000] {
        owners.alloc_for(DISK, bytes(size)).unwrap();
        owners.alloc_for(NIC, bytes(size)).unwrap();
    }
    assert_eq!(
        owners.release_all(DISK),
        Ok(Usage {
            bytes: 4030,
            allocations: 3
        })
    );
    assert_eq!(owners.usage(DISK), Ok(Usage::default()));
    assert_eq!(
        owners.usage(NIC),
        Ok(Usage {
            bytes: 4030,
            allocations: 3
        })
    );
    assert_eq!(heap.stats().bytes_in_use, 4030);
    assert_eq!(
        owners.release_all(DISK),
        Ok(Usage::default()),
        "nothing left the second time"
    );
    owners.unregister(DISK).unwrap();
}

/// A backing allocator that is always out of memory.
struct Exhausted;

impl BackingAllocator for Exhausted {
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        Err(AllocError { layout })
    }

    unsafe fn deallocate(&self, _: NonNull<u8>, _: Layout) {
        unreachable!("nothing was allocated");
    }
}

#[test]
fn backing_exhaustion_is_out_of_memory_and_charges_nothing() {
    let mut owners = Box::new(OwnerTable::new(&Exhausted));
    owners.register(DISK, UNLIMITED).unwrap();
    assert_eq!(
        owners.alloc_for(DISK, bytes(64)),
        Err(OwnerError::OutOfMemory { requested: 64 })
    );
    assert_eq!(owners.usage(DISK), Ok(Usage::default()));
    assert_eq!(owners.live_allocations(), 0);
}
