//! Host tests of the slab heap: class selection, alignment, chunk reuse and release, the
//! backing heap for large objects, and a randomized run checking every invariant.

use std::collections::BTreeMap;
use std::vec::Vec;

use super::*;

const MIB: usize = 1024 * 1024;

/// A heap over a leaked buffer of `bytes` (tests may leak: the process ends soon).
fn heap(bytes: usize) -> SlabHeap {
    SlabHeap::from_slice(Vec::leak(vec![MaybeUninit::uninit(); bytes]))
}

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).expect("valid test layout")
}

#[test]
fn class_serves_layouts_up_to_its_size_and_alignment() {
    assert_eq!(class_of(layout(0, 1)), Some(0));
    assert_eq!(class_of(layout(1, 1)), Some(0));
    assert_eq!(class_of(layout(8, 8)), Some(0));
    assert_eq!(class_of(layout(9, 1)), Some(1));
    assert_eq!(
        class_of(layout(4, 64)),
        Some(3),
        "alignment picks the class"
    );
    assert_eq!(class_of(layout(100, 4)), Some(4));
    assert_eq!(class_of(layout(2048, 8)), Some(8));
    assert_eq!(class_of(layout(2049, 8)), None, "too large: backing heap");
    assert_eq!(class_of(layout(16, 4096)), None, "aligned past every class");
    for (index, &size) in CLASS_SIZES.iter().enumerate() {
        assert_eq!(class_of(layout(size, 1)), Some(index));
    }
}

#[test]
fn chunk_geometry_keeps_objects_aligned_and_chunks_full() {
    for (class, &size) in CLASS_SIZES.iter().enumerate() {
        let bytes = chunk_bytes(class);
        assert!(bytes.is_power_of_two() && bytes >= PAGE_SIZE);
        assert_eq!(first_object_offset(class) % size, 0);
        assert!(first_object_offset(class) >= HEADER_SIZE);
        assert!(objects_per_chunk(class) >= MIN_OBJECTS_PER_CHUNK - 1);
    }
    assert_eq!(chunk_bytes(0), PAGE_SIZE);
    assert_eq!(chunk_bytes(8), 2048 * MIN_OBJECTS_PER_CHUNK);
    assert_eq!(
        objects_per_chunk(0),
        (PAGE_SIZE - HEADER_SIZE.next_multiple_of(8)) / 8
    );
}

#[test]
fn small_allocation_takes_one_chunk_from_the_backing_heap() {
    let mut heap = heap(MIB);
    let empty = heap.stats();
    assert_eq!(empty.backing_used, 0);
    let object = heap.allocate(layout(24, 8)).unwrap();
    let stats = heap.stats();
    let class = &stats.classes[2];
    assert_eq!(class.object_size, 32);
    assert_eq!((class.objects_in_use, class.chunks), (1, 1));
    assert_eq!(class.free_objects, objects_per_chunk(2) - 1);
    assert_eq!(stats.bytes_in_use, 24);
    assert_eq!(stats.backing_used, chunk_bytes(2));
    assert_eq!(object.addr().get() % 32, 0);
    // SAFETY: allocated above with this layout.
    unsafe { heap.deallocate(object, layout(24, 8)) };
}

#[test]
fn freed_object_is_the_next_one_handed_out() {
    let mut heap = heap(MIB);
    let a = heap.allocate(layout(64, 8)).unwrap();
    let b = heap.allocate(layout(64, 8)).unwrap();
    assert_eq!(
        b.addr().get() - a.addr().get(),
        64,
        "bump order within a chunk"
    );
    // SAFETY: allocated above with this layout.
    unsafe { heap.deallocate(a, layout(64, 8)) };
    assert_eq!(heap.allocate(layout(64, 8)), Ok(a));
}

#[test]
fn objects_of_every_class_are_aligned_to_their_class_size() {
    let mut heap = heap(4 * MIB);
    for (index, &size) in CLASS_SIZES.iter().enumerate() {
        let taken: Vec<_> = (0..3 * objects_per_chunk(index))
            .map(|_| heap.allocate(layout(size, 1)).unwrap())
            .collect();
        for object in &taken {
            assert_eq!(object.addr().get() % size, 0, "class {size}");
        }
        assert_eq!(heap.stats().classes[index].chunks, 3);
        for object in taken {
            // SAFETY: allocated above with this layout.
            unsafe { heap.deallocate(object, layout(size, 1)) };
        }
    }
}

#[test]
fn a_full_chunk_makes_the_class_grow_and_emptied_chunks_go_back() {
    let mut heap = heap(MIB);
    let per_chunk = objects_per_chunk(0);
    let taken: Vec<_> = (0..2 * per_chunk + 1)
        .map(|_| heap.allocate(layout(8, 8)).unwrap())
        .collect();
    assert_eq!(heap.stats().classes[0].chunks, 3);
    assert_eq!(heap.stats().backing_used, 3 * chunk_bytes(0));
    for object in taken {
        // SAFETY: allocated above with this layout.
        unsafe { heap.deallocate(object, layout(8, 8)) };
    }
    // One empty chunk stays cached; the others went back.
    let stats = heap.stats();
    assert_eq!(stats.classes[0].chunks, CACHED_EMPTY_CHUNKS);
    assert_eq!(stats.classes[0].objects_in_use, 0);
    assert_eq!(stats.backing_used, CACHED_EMPTY_CHUNKS * chunk_bytes(0));
    assert_eq!(heap.shrink(), CACHED_EMPTY_CHUNKS * chunk_bytes(0));
    assert_eq!(
        heap.stats(),
        SlabHeap::from_slice(Vec::leak(vec![MaybeUninit::uninit(); MIB])).stats()
    );
}

#[test]
fn alternating_at_a_chunk_boundary_does_not_thrash_the_backing_heap() {
    let mut heap = heap(MIB);
    let per_chunk = objects_per_chunk(4);
    let taken: Vec<_> = (0..per_chunk)
        .map(|_| heap.allocate(layout(128, 8)).unwrap())
        .collect();
    for _ in 0..100 {
        let extra = heap.allocate(layout(128, 8)).unwrap();
        // SAFETY: allocated just above with this layout.
        unsafe { heap.deallocate(extra, layout(128, 8)) };
        assert_eq!(
            heap.stats().classes[4].chunks,
            2,
            "the emptied chunk stays cached"
        );
    }
    for object in taken {
        // SAFETY: allocated above with this layout.
        unsafe { heap.deallocate(object, layout(128, 8)) };
    }
}

#[test]
fn large_and_overaligned_objects_come_from_the_backing_heap() {
    let mut heap = heap(MIB);
    let big = heap.allocate(layout(10_000, 8)).unwrap();
    let page = heap.allocate(layout(16, 4096)).unwrap();
    assert_eq!(page.addr().get() % 4096, 0);
    let stats = heap.stats();
    assert_eq!(stats.large_objects, 2);
    assert_eq!(stats.bytes_in_use, 10_016);
    assert!(stats.classes.iter().all(|class| class.chunks == 0));
    // SAFETY: allocated above with these layouts.
    unsafe {
        heap.deallocate(big, layout(10_000, 8));
        heap.deallocate(page, layout(16, 4096));
    }
    assert_eq!(heap.stats().backing_used, 0);
    assert_eq!(heap.stats().large_objects, 0);
}

#[test]
fn exhaustion_is_an_error_not_a_panic() {
    let mut heap = heap(64 * 1024);
    let too_big = layout(128 * 1024, 8);
    assert_eq!(heap.allocate(too_big), Err(AllocError { layout: too_big }));
    let mut taken = Vec::new();
    let small = layout(2048, 8);
    let error = loop {
        match heap.allocate(small) {
            Ok(object) => taken.push(object),
            Err(error) => break error,
        }
    };
    assert_eq!(error, AllocError { layout: small });
    assert!(!taken.is_empty());
    for object in taken {
        // SAFETY: allocated above with this layout.
        unsafe { heap.deallocate(object, small) };
    }
    assert_eq!(heap.stats().bytes_in_use, 0);
}

#[test]
fn empty_heap_refuses_every_allocation() {
    let mut heap = SlabHeap::empty();
    assert!(heap.allocate(layout(8, 8)).is_err());
    assert!(heap.allocate(layout(8192, 8)).is_err());
}

#[test]
fn locked_heap_serves_as_a_global_allocator() {
    let heap = LockedSlabHeap::from_slice(Vec::leak(vec![MaybeUninit::uninit(); MIB]));
    let request = layout(40, 8);
    // SAFETY: the layout has a non-zero size; the pointer is freed with the same layout.
    unsafe {
        let object = heap.alloc(request);
        assert!(!object.is_null());
        object.write_bytes(0xA5, 40);
        assert_eq!(heap.stats().bytes_in_use, 40);
        heap.dealloc(object, request);
    }
    assert_eq!(heap.stats().bytes_in_use, 0);
}

/// One live allocation in the randomized test.
struct Live {
    ptr: NonNull<u8>,
    layout: Layout,
    fill: u8,
}

fn random_layout(rng: &mut fastrand::Rng) -> Layout {
    let size = match rng.u8(0..10) {
        0 => rng.usize(2049..12_000),
        1 => rng.usize(0..=8),
        _ => rng.usize(1..=MAX_CLASS_SIZE),
    };
    let max_shift = if rng.u8(0..20) == 0 { 12 } else { 4 };
    let align = 1 << rng.u32(0..=max_shift);
    layout(size, align)
}

fn check_against_model(heap: &SlabHeap, live: &BTreeMap<usize, Live>) {
    let stats = heap.stats();
    let bytes: usize = live.values().map(|l| l.layout.size()).sum();
    let large = live
        .values()
        .filter(|l| class_of(l.layout).is_none())
        .count();
    let small: usize = stats.classes.iter().map(|c| c.objects_in_use).sum();
    assert_eq!(stats.bytes_in_use, bytes);
    assert_eq!(stats.large_objects, large);
    assert_eq!(small + large, live.len());
    for (index, class) in stats.classes.iter().enumerate() {
        assert_eq!(
            class.objects_in_use + class.free_objects,
            class.chunks * objects_per_chunk(index)
        );
    }
    assert_eq!(stats.backing_used + stats.backing_free, 16 * MIB);
}

#[test]
fn randomized_mixed_operations_keep_objects_disjoint_aligned_and_intact() {
    const OPERATIONS: usize = 120_000;
    const MAX_LIVE: usize = 3_000;
    let mut heap = heap(16 * MIB);
    let start = heap.stats();
    let mut rng = fastrand::Rng::with_seed(0x51AB_0001);
    let mut live: BTreeMap<usize, Live> = BTreeMap::new();
    let mut addresses: Vec<usize> = Vec::new();
    for step in 0..OPERATIONS {
        let allocate = live.is_empty() || (live.len() < MAX_LIVE && rng.u8(0..100) < 55);
        if allocate {
            let request = random_layout(&mut rng);
            let ptr = heap.allocate(request).expect("16 MiB holds the live set");
            let address = ptr.addr().get();
            assert_eq!(address % request.align(), 0, "misaligned {request:?}");
            // Disjoint from the neighbours on both sides (zero-size objects take one byte).
            let end = address + request.size().max(1);
            if let Some((&before, prior)) = live.range(..=address).next_back() {
                assert!(
                    before + prior.layout.size().max(1) <= address,
                    "overlaps {before:#x}"
                );
            }
            if let Some((&after, _)) = live.range(address..).next() {
                assert!(end <= after, "overlaps {after:#x}");
            }
            let fill = (step % 251) as u8;
            // SAFETY: `ptr` is a fresh allocation of `request.size()` bytes.
            unsafe { ptr.as_ptr().write_bytes(fill, request.size()) };
            live.insert(
                address,
                Live {
                    ptr,
                    layout: request,
                    fill,
                },
            );
            addresses.push(address);
        } else {
            let address = addresses.swap_remove(rng.usize(..addresses.len()));
            let entry = live.remove(&address).expect("tracked");
            // SAFETY: the allocation is live and `size` bytes long.
            let bytes =
                unsafe { core::slice::from_raw_parts(entry.ptr.as_ptr(), entry.layout.size()) };
            assert!(
                bytes.iter().all(|&b| b == entry.fill),
                "object at {address:#x} corrupted"
            );
            // SAFETY: allocated with this layout, freed once (removed from `live`).
            unsafe { heap.deallocate(entry.ptr, entry.layout) };
        }
        if step % 1_000 == 0 {
            check_against_model(&heap, &live);
        }
    }
    check_against_model(&heap, &live);
    for (_, entry) in core::mem::take(&mut live) {
        // SAFETY: every remaining allocation is live, freed once here.
        unsafe { heap.deallocate(entry.ptr, entry.layout) };
    }
    let drained = heap.stats();
    assert_eq!(drained.bytes_in_use, 0);
    assert_eq!(drained.large_objects, 0);
    assert!(
        drained
            .classes
            .iter()
            .all(|c| c.objects_in_use == 0 && c.chunks <= CACHED_EMPTY_CHUNKS)
    );
    heap.shrink();
    assert_eq!(heap.stats(), start, "every byte accounted back");
}
