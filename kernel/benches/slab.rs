//! Slab heap vs `linked_list_allocator::Heap` alone, on a fragmented heap.
//!
//! Workload (the same for both): fill the heap with `PREFILL` live objects of random sizes
//! 8 B–2 KiB, free every other one (leaving that many holes), then time one allocation plus
//! its free, of a random size 8 B–2 KiB, per iteration.
//!
//! Run: `cargo bench -p kernel --bench slab`; criterion prints the mean, and
//! `target/criterion/fragmented_alloc_free_pair/{slab,linked_list}/new/estimates.json` holds
//! the median.

use core::alloc::Layout;
use core::hint::black_box;
use core::mem::MaybeUninit;
use core::ptr::NonNull;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use kernel::mm::slab::{MAX_CLASS_SIZE, SlabHeap};
use linked_list_allocator::Heap;

/// Bytes of each heap under test.
const HEAP_BYTES: usize = 64 * 1024 * 1024;
/// Live objects allocated before half of them are freed.
const PREFILL: usize = 20_000;
/// Random request sizes cycled through by the timed loop (a power of two, for masking).
const PAIR_LAYOUTS: usize = 4096;
/// Smallest request size.
const MIN_SIZE: usize = 8;
/// Alignment of every request (a typical kernel object's).
const ALIGN: usize = 8;
/// Seed of the workload's sizes, so both heaps see the same sequence.
const SEED: u64 = 0xF4A6_0001;

/// The two operations the workload needs, for both heaps.
trait BenchHeap {
    fn alloc(&mut self, layout: Layout) -> NonNull<u8>;
    /// # Safety
    ///
    /// `ptr` came from `alloc` with `layout` and is freed once.
    unsafe fn free(&mut self, ptr: NonNull<u8>, layout: Layout);
}

impl BenchHeap for SlabHeap {
    fn alloc(&mut self, layout: Layout) -> NonNull<u8> {
        self.allocate(layout).expect("the bench heap is large enough")
    }

    unsafe fn free(&mut self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { self.deallocate(ptr, layout) }
    }
}

impl BenchHeap for Heap {
    fn alloc(&mut self, layout: Layout) -> NonNull<u8> {
        self.allocate_first_fit(layout).expect("the bench heap is large enough")
    }

    unsafe fn free(&mut self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { self.deallocate(ptr, layout) }
    }
}

fn memory() -> &'static mut [MaybeUninit<u8>] {
    Vec::leak(vec![MaybeUninit::uninit(); HEAP_BYTES])
}

fn random_layouts(rng: &mut fastrand::Rng, count: usize) -> Vec<Layout> {
    (0..count)
        .map(|_| {
            Layout::from_size_align(rng.usize(MIN_SIZE..=MAX_CLASS_SIZE), ALIGN)
                .expect("valid layout")
        })
        .collect()
}

/// Fills `heap` with `PREFILL` objects and frees every other one; the rest stay live.
fn fragment(heap: &mut impl BenchHeap, rng: &mut fastrand::Rng) {
    let live: Vec<_> = random_layouts(rng, PREFILL)
        .into_iter()
        .map(|layout| (heap.alloc(layout), layout))
        .collect();
    for &(ptr, layout) in live.iter().step_by(2) {
        // SAFETY: allocated just above, freed once.
        unsafe { heap.free(ptr, layout) };
    }
}

fn bench_pair(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("fragmented_alloc_free_pair");
    group.measurement_time(Duration::from_secs(4));
    let pairs = random_layouts(&mut fastrand::Rng::with_seed(SEED ^ 1), PAIR_LAYOUTS);

    let mut slab = SlabHeap::from_slice(memory());
    fragment(&mut slab, &mut fastrand::Rng::with_seed(SEED));
    let mut list = Heap::from_slice(memory());
    fragment(&mut list, &mut fastrand::Rng::with_seed(SEED));

    group.bench_function("slab", |bencher| run_pairs(bencher, &mut slab, &pairs));
    group.bench_function("linked_list", |bencher| run_pairs(bencher, &mut list, &pairs));
    group.finish();
}

fn run_pairs(bencher: &mut criterion::Bencher<'_>, heap: &mut impl BenchHeap, pairs: &[Layout]) {
    let mut next = 0;
    bencher.iter(|| {
        let layout = pairs[next % PAIR_LAYOUTS];
        next += 1;
        let ptr = black_box(heap.alloc(layout));
        // SAFETY: allocated just above with this layout, freed once.
        unsafe { heap.free(ptr, layout) };
    });
}

criterion_group!(benches, bench_pair);
criterion_main!(benches);
