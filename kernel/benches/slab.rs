//! Slab heap vs `linked_list_allocator::Heap` alone, on a fragmented heap.
//!
//! Workload (the same for both): fill the heap with `PREFILL` live objects of random sizes
//! 8 B–2 KiB and free every other one, leaving `PREFILL / 2` holes between live objects. Then
//! each timed iteration is one allocation and one free, of random sizes 8 B–2 KiB:
//!
//! - `fragmented_immediate_pair`: the object just allocated is freed at once;
//! - `fragmented_churn_pair`: a random live object is freed instead (objects live a while).
//!
//! Run: `cargo bench -p kernel --bench slab`; criterion prints the mean, and
//! `target/criterion/<group>/{slab,linked_list}/new/estimates.json` holds the median.

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
/// Random steps cycled through by the timed loop.
const STEPS: usize = 4096;
/// Criterion's measurement time per benchmark.
const MEASUREMENT: Duration = Duration::from_secs(4);
/// Smallest request size.
const MIN_SIZE: usize = 8;
/// Alignment of every request (a typical kernel object's).
const ALIGN: usize = 8;
/// Seed of the workload's sizes, so both heaps see the same sequence.
const SEED: u64 = 0xF4A6_0001;

/// The two operations the workload needs, for both heaps.
trait BenchHeap {
    fn grab(&mut self, layout: Layout) -> NonNull<u8>;
    /// # Safety
    ///
    /// `ptr` came from `grab` with `layout` and is freed once.
    unsafe fn release(&mut self, ptr: NonNull<u8>, layout: Layout);
}

impl BenchHeap for SlabHeap {
    fn grab(&mut self, layout: Layout) -> NonNull<u8> {
        self.allocate(layout)
            .expect("the bench heap is large enough")
    }

    unsafe fn release(&mut self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { self.deallocate(ptr, layout) }
    }
}

impl BenchHeap for Heap {
    fn grab(&mut self, layout: Layout) -> NonNull<u8> {
        self.allocate_first_fit(layout)
            .expect("the bench heap is large enough")
    }

    unsafe fn release(&mut self, ptr: NonNull<u8>, layout: Layout) {
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

/// Fills `heap` with `PREFILL` objects and frees every other one (each a hole between two
/// live objects); returns the survivors.
fn fragment(heap: &mut impl BenchHeap, rng: &mut fastrand::Rng) -> Vec<(NonNull<u8>, Layout)> {
    let all: Vec<_> = random_layouts(rng, PREFILL)
        .into_iter()
        .map(|layout| (heap.grab(layout), layout))
        .collect();
    let mut survivors = Vec::with_capacity(PREFILL / 2);
    for (index, (ptr, layout)) in all.into_iter().enumerate() {
        if index % 2 == 0 {
            // SAFETY: allocated just above, freed once.
            unsafe { heap.release(ptr, layout) };
        } else {
            survivors.push((ptr, layout));
        }
    }
    survivors
}

/// One timed iteration's inputs, drawn in advance so both heaps see the same sequence.
#[derive(Clone, Copy)]
struct Step {
    layout: Layout,
    victim: usize,
}

fn steps(count: usize, live: usize) -> Vec<Step> {
    let mut rng = fastrand::Rng::with_seed(SEED ^ 1);
    random_layouts(&mut rng, count)
        .into_iter()
        .map(|layout| Step {
            layout,
            victim: rng.usize(..live),
        })
        .collect()
}

/// Allocates and at once frees the same object: first fit finds a hole near the head of the
/// free list and the free puts it back there.
fn immediate_pairs(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("fragmented_immediate_pair");
    group.measurement_time(MEASUREMENT);
    let steps = steps(STEPS, PREFILL / 2);

    let mut slab = SlabHeap::from_slice(memory());
    fragment(&mut slab, &mut fastrand::Rng::with_seed(SEED));
    let mut list = Heap::from_slice(memory());
    fragment(&mut list, &mut fastrand::Rng::with_seed(SEED));

    group.bench_function("slab", |bencher| {
        let mut next = 0;
        bencher.iter(|| {
            let step = steps[next % STEPS];
            next += 1;
            let ptr = black_box(slab.grab(step.layout));
            // SAFETY: allocated just above with this layout, freed once.
            unsafe { slab.release(ptr, step.layout) };
        });
    });
    group.bench_function("linked_list", |bencher| {
        let mut next = 0;
        bencher.iter(|| {
            let step = steps[next % STEPS];
            next += 1;
            let ptr = black_box(list.grab(step.layout));
            // SAFETY: allocated just above with this layout, freed once.
            unsafe { list.release(ptr, step.layout) };
        });
    });
    group.finish();
}

/// Allocates a new object and frees a random live one in its place (objects that live a
/// while, as a kernel's do): the free lands anywhere in the heap.
fn churn_pairs(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("fragmented_churn_pair");
    group.measurement_time(MEASUREMENT);
    let steps = steps(STEPS, PREFILL / 2);

    let mut slab = SlabHeap::from_slice(memory());
    let mut slab_live = fragment(&mut slab, &mut fastrand::Rng::with_seed(SEED));
    let mut list = Heap::from_slice(memory());
    let mut list_live = fragment(&mut list, &mut fastrand::Rng::with_seed(SEED));

    group.bench_function("slab", |bencher| {
        churn(bencher, &mut slab, &mut slab_live, &steps);
    });
    group.bench_function("linked_list", |bencher| {
        churn(bencher, &mut list, &mut list_live, &steps);
    });
    group.finish();
}

fn churn(
    bencher: &mut criterion::Bencher<'_>,
    heap: &mut impl BenchHeap,
    live: &mut [(NonNull<u8>, Layout)],
    steps: &[Step],
) {
    let mut next = 0;
    bencher.iter(|| {
        let step = steps[next % STEPS];
        next += 1;
        let ptr = black_box(heap.grab(step.layout));
        let (old, old_layout) = core::mem::replace(&mut live[step.victim], (ptr, step.layout));
        // SAFETY: `old` is live (it was in `live`, which now holds the new object instead).
        unsafe { heap.release(old, old_layout) };
    });
}

criterion_group!(benches, immediate_pairs, churn_pairs);
criterion_main!(benches);
