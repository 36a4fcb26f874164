//! Slab allocator: the kernel heap behind `#[global_allocator]`.
//!
//! Small objects are served from nine power-of-two size classes (8 B … 2 KiB, [`CLASS_SIZES`])
//! in the manner of Bonwick's slab allocator (USENIX Summer 1994, "The Slab Allocator: An
//! Object-Caching Kernel Memory Allocator"): each class carves fixed-size objects out of
//! *chunks* obtained from a backing [`linked_list_allocator::Heap`], and keeps the chunks that
//! still have room on a doubly linked *partial* list. Allocation pops an object off the head
//! chunk's intrusive free list (or bumps its never-used cursor); freeing pushes it back. Both
//! are O(1): a chunk is aligned to its own (power-of-two) size, so the chunk of any object is
//! found by masking its address.
//!
//! Requests larger than [`MAX_CLASS_SIZE`], or aligned more strictly than that, go straight
//! to the backing heap. A class serves a layout when `size <= class` and `align <= class`:
//! objects sit at multiples of the class size from a chunk base aligned to at least a page,
//! so every object is aligned to its class size.
//!
//! A chunk whose last object is freed goes back to the backing heap, except that each class
//! keeps up to [`CACHED_EMPTY_CHUNKS`] empty chunks to avoid thrashing at a chunk boundary;
//! [`SlabHeap::shrink`] returns those too, after which the heap's statistics are exactly what
//! they were before the first allocation.
//!
//! Chunk layout (one chunk of class size `c`):
//!
//! ```text
//! base (aligned to chunk size) ─► ChunkHeader │ pad to c │ object 0 │ object 1 │ … │ tail
//! ```

use core::alloc::{GlobalAlloc, Layout};
use core::fmt;
use core::mem::{MaybeUninit, size_of};
use core::ptr::{self, NonNull};

use linked_list_allocator::Heap;
use spin::{Mutex, MutexGuard};

/// Number of size classes.
pub const CLASS_COUNT: usize = 9;
/// Object size of each class, in bytes: powers of two from 8 to 2048.
pub const CLASS_SIZES: [usize; CLASS_COUNT] = [8, 16, 32, 64, 128, 256, 512, 1024, 2048];
/// The largest size (and alignment) a class serves; anything larger uses the backing heap.
pub const MAX_CLASS_SIZE: usize = CLASS_SIZES[CLASS_COUNT - 1];
/// The smallest chunk: one 4 KiB page.
pub const PAGE_SIZE: usize = 4096;
/// Chunks are sized to hold at least this many objects (before the header), so the large
/// classes do not waste half a chunk on it.
pub const MIN_OBJECTS_PER_CHUNK: usize = 16;
/// Empty chunks a class keeps before it returns further empty ones to the backing heap.
pub const CACHED_EMPTY_CHUNKS: usize = 1;

/// log2 of the smallest class size.
const MIN_CLASS_SHIFT: u32 = CLASS_SIZES[0].trailing_zeros();
/// Bytes of the header at the start of every chunk.
const HEADER_SIZE: usize = size_of::<ChunkHeader>();

/// Bytes in a chunk of class `class` (a power of two, also its alignment).
const fn chunk_bytes(class: usize) -> usize {
    let wanted = CLASS_SIZES[class] * MIN_OBJECTS_PER_CHUNK;
    if wanted > PAGE_SIZE {
        wanted
    } else {
        PAGE_SIZE
    }
}

/// Offset of the first object in a chunk of class `class`: the header rounded up to the class
/// size, so objects stay aligned to it.
const fn first_object_offset(class: usize) -> usize {
    HEADER_SIZE.next_multiple_of(CLASS_SIZES[class])
}

/// Objects one chunk of class `class` holds.
const fn objects_per_chunk(class: usize) -> usize {
    (chunk_bytes(class) - first_object_offset(class)) / CLASS_SIZES[class]
}

/// The backing-heap layout of a chunk of each class (size = alignment = [`chunk_bytes`]).
const CHUNK_LAYOUTS: [Layout; CLASS_COUNT] = {
    let mut layouts = [Layout::new::<u8>(); CLASS_COUNT];
    let mut class = 0;
    while class < CLASS_COUNT {
        layouts[class] = match Layout::from_size_align(chunk_bytes(class), chunk_bytes(class)) {
            Ok(layout) => layout,
            Err(_) => panic!("chunk sizes are powers of two"),
        };
        class += 1;
    }
    layouts
};

/// The size class serving `layout`, or `None` for the backing heap.
fn class_of(layout: Layout) -> Option<usize> {
    let needed = layout.size().max(layout.align());
    if needed > MAX_CLASS_SIZE {
        return None;
    }
    let size = needed.max(CLASS_SIZES[0]).next_power_of_two();
    Some((size.trailing_zeros() - MIN_CLASS_SHIFT) as usize)
}

/// The heap cannot satisfy this layout: neither a size class nor the backing heap has room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocError {
    /// The layout that was asked for.
    pub layout: Layout,
}

/// A free object: the first word of its memory links to the next free object of its chunk.
struct FreeObject {
    next: Option<NonNull<FreeObject>>,
}

/// Bookkeeping at the start of every chunk.
struct ChunkHeader {
    /// Next chunk on the class's partial list.
    next: Option<NonNull<ChunkHeader>>,
    /// Previous chunk on the class's partial list.
    prev: Option<NonNull<ChunkHeader>>,
    /// Objects freed back into this chunk.
    free: Option<NonNull<FreeObject>>,
    /// Offset of the first never-used object; objects from here to the end are free.
    bump: usize,
    /// Objects handed out and not freed.
    in_use: usize,
    /// The class index, to catch a mismatched layout in debug builds.
    class: usize,
}

/// One size class.
#[derive(Debug, Clone, Copy)]
struct SizeClass {
    /// Chunks with at least one free object; a chunk is on it exactly while it is not full.
    partial: Option<NonNull<ChunkHeader>>,
    /// Chunks of this class taken from the backing heap.
    chunks: usize,
    /// Chunks with no object in use (all on the partial list).
    empty_chunks: usize,
    /// Objects handed out and not freed.
    in_use: usize,
}

impl SizeClass {
    const EMPTY: SizeClass = SizeClass {
        partial: None,
        chunks: 0,
        empty_chunks: 0,
        in_use: 0,
    };
}

/// Statistics of one size class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClassStats {
    /// The class's object size in bytes.
    pub object_size: usize,
    /// Objects handed out and not freed.
    pub objects_in_use: usize,
    /// Objects ready in this class's chunks.
    pub free_objects: usize,
    /// Chunks taken from the backing heap.
    pub chunks: usize,
}

/// Statistics of the whole heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeapStats {
    /// One entry per size class, smallest first.
    pub classes: [ClassStats; CLASS_COUNT],
    /// Objects served directly by the backing heap and not freed.
    pub large_objects: usize,
    /// Bytes requested (sum of `Layout::size`) by allocations not yet freed.
    pub bytes_in_use: usize,
    /// Bytes the backing heap has handed out (chunks and large objects, with its padding).
    pub backing_used: usize,
    /// Bytes the backing heap still has.
    pub backing_free: usize,
}

/// The slab allocator over one memory region. Not synchronized: see [`LockedSlabHeap`].
pub struct SlabHeap {
    classes: [SizeClass; CLASS_COUNT],
    backing: Heap,
    large_objects: usize,
    bytes_in_use: usize,
}

// SAFETY: every raw pointer a `SlabHeap` holds points into the memory region it was given,
// which it owns exclusively (the `init` contract); nothing in it is tied to a thread.
unsafe impl Send for SlabHeap {}

impl fmt::Debug for SlabHeap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlabHeap")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Default for SlabHeap {
    fn default() -> Self {
        Self::empty()
    }
}

impl SlabHeap {
    /// A heap with no memory: every allocation fails until [`Self::init`].
    pub const fn empty() -> Self {
        SlabHeap {
            classes: [SizeClass::EMPTY; CLASS_COUNT],
            backing: Heap::empty(),
            large_objects: 0,
            bytes_in_use: 0,
        }
    }

    /// A heap over `memory`.
    pub fn from_slice(memory: &'static mut [MaybeUninit<u8>]) -> Self {
        SlabHeap {
            backing: Heap::from_slice(memory),
            ..Self::empty()
        }
    }

    /// Gives an empty heap the region `start .. start + size`.
    ///
    /// # Safety
    ///
    /// The region must be valid for reads and writes, unused by anything else for the rest of
    /// the program (`'static`), and `size` must be non-zero; the heap must still be empty
    /// (call this once).
    pub unsafe fn init(&mut self, start: *mut u8, size: usize) {
        // SAFETY: the caller guarantees the region is valid, exclusive and 'static, and that
        // the backing heap has not been initialized yet.
        unsafe { self.backing.init(start, size) }
    }

    /// Allocates memory for `layout`: O(1) from a size class when one serves it.
    pub fn allocate(&mut self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        let ptr = match class_of(layout) {
            Some(class) => self.allocate_object(class, layout)?,
            None => {
                let ptr = self
                    .backing
                    .allocate_first_fit(layout)
                    .map_err(|()| AllocError { layout })?;
                self.large_objects += 1;
                ptr
            }
        };
        self.bytes_in_use += layout.size();
        Ok(ptr)
    }

    /// Frees memory from [`Self::allocate`].
    ///
    /// # Safety
    ///
    /// `ptr` must have come from [`Self::allocate`] on this heap with this same `layout`, and
    /// must not have been freed since.
    pub unsafe fn deallocate(&mut self, ptr: NonNull<u8>, layout: Layout) {
        self.bytes_in_use -= layout.size();
        match class_of(layout) {
            Some(class) => self.free_object(class, ptr),
            None => {
                self.large_objects -= 1;
                // SAFETY: large layouts were served by `backing.allocate_first_fit` with this
                // layout (the caller's contract), and the pointer is not freed yet.
                unsafe { self.backing.deallocate(ptr, layout) }
            }
        }
    }

    /// Returns every cached empty chunk to the backing heap; the bytes returned.
    pub fn shrink(&mut self) -> usize {
        let mut released = 0;
        for class in 0..CLASS_COUNT {
            let mut cursor = self.classes[class].partial;
            while let Some(chunk) = cursor {
                // SAFETY: chunks on a partial list are live chunks of this heap; `&mut self`
                // excludes any other reference to their headers.
                let header = unsafe { chunk.as_ref() };
                cursor = header.next;
                if header.in_use == 0 {
                    self.classes[class].empty_chunks -= 1;
                    self.release_chunk(class, chunk);
                    released += chunk_bytes(class);
                }
            }
        }
        released
    }

    /// The heap's statistics now.
    pub fn stats(&self) -> HeapStats {
        let mut classes = [ClassStats::default(); CLASS_COUNT];
        for (index, (stats, class)) in classes.iter_mut().zip(&self.classes).enumerate() {
            *stats = ClassStats {
                object_size: CLASS_SIZES[index],
                objects_in_use: class.in_use,
                free_objects: class.chunks * objects_per_chunk(index) - class.in_use,
                chunks: class.chunks,
            };
        }
        HeapStats {
            classes,
            large_objects: self.large_objects,
            bytes_in_use: self.bytes_in_use,
            backing_used: self.backing.used(),
            backing_free: self.backing.free(),
        }
    }

    /// Takes one object of `class`, growing the class by a chunk if it has none free.
    fn allocate_object(&mut self, class: usize, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        let chunk = match self.classes[class].partial {
            Some(chunk) => chunk,
            None => self.grow(class).ok_or(AllocError { layout })?,
        };
        let object_size = CLASS_SIZES[class];
        // SAFETY: `chunk` is a live chunk of this class (on its partial list); `&mut self`
        // excludes any other reference to its header.
        let header = unsafe { &mut *chunk.as_ptr() };
        let object = match header.free {
            Some(free) => {
                // SAFETY: objects on a chunk's free list are free memory of that chunk whose
                // first word was written as a `FreeObject` when they were freed.
                header.free = unsafe { free.as_ref().next };
                free.cast::<u8>()
            }
            None => {
                let offset = header.bump;
                debug_assert!(offset + object_size <= chunk_bytes(class));
                header.bump += object_size;
                // SAFETY: a chunk on the partial list with an empty free list has room past
                // `bump` (`in_use < objects_per_chunk`), so `offset` is inside the chunk.
                unsafe { chunk.cast::<u8>().add(offset) }
            }
        };
        if header.in_use == 0 {
            self.classes[class].empty_chunks -= 1;
        }
        header.in_use += 1;
        let full = header.in_use == objects_per_chunk(class);
        if full {
            self.unlink(class, chunk);
        }
        self.classes[class].in_use += 1;
        Ok(object)
    }

    /// Returns one object to its chunk.
    fn free_object(&mut self, class: usize, object: NonNull<u8>) {
        let chunk_mask = chunk_bytes(class) - 1;
        let Some(chunk) = NonNull::new(object.as_ptr().map_addr(|addr| addr & !chunk_mask)) else {
            debug_assert!(false, "slab object {object:p} has no chunk");
            return;
        };
        let chunk = chunk.cast::<ChunkHeader>();
        // SAFETY: the object came from this class (deallocate's contract), so the chunk-aligned
        // address below it is the live chunk that holds it; `&mut self` makes access exclusive.
        let header = unsafe { &mut *chunk.as_ptr() };
        debug_assert_eq!(
            header.class, class,
            "object {object:p} freed with another layout"
        );
        let was_full = header.in_use == objects_per_chunk(class);
        let free = object.cast::<FreeObject>();
        // SAFETY: the object is at least 8 bytes, aligned to its class size (≥ 8), and no
        // longer in use, so it can hold the free-list link.
        unsafe {
            free.as_ptr().write(FreeObject { next: header.free });
        }
        header.free = Some(free);
        header.in_use -= 1;
        let now_empty = header.in_use == 0;
        self.classes[class].in_use -= 1;
        if was_full {
            self.push_front(class, chunk);
        }
        if now_empty {
            if self.classes[class].empty_chunks >= CACHED_EMPTY_CHUNKS {
                self.release_chunk(class, chunk);
            } else {
                self.classes[class].empty_chunks += 1;
            }
        }
    }

    /// Takes a new empty chunk for `class` from the backing heap and puts it on the partial list.
    fn grow(&mut self, class: usize) -> Option<NonNull<ChunkHeader>> {
        let memory = self.backing.allocate_first_fit(CHUNK_LAYOUTS[class]).ok()?;
        let chunk = memory.cast::<ChunkHeader>();
        // SAFETY: the backing heap just handed out `chunk_bytes(class)` bytes aligned to the
        // chunk size (≥ a page), room for the header at their start.
        unsafe {
            chunk.as_ptr().write(ChunkHeader {
                next: None,
                prev: None,
                free: None,
                bump: first_object_offset(class),
                in_use: 0,
                class,
            });
        }
        self.push_front(class, chunk);
        self.classes[class].chunks += 1;
        self.classes[class].empty_chunks += 1;
        Some(chunk)
    }

    /// Unlinks an empty chunk and gives it back to the backing heap.
    fn release_chunk(&mut self, class: usize, chunk: NonNull<ChunkHeader>) {
        self.unlink(class, chunk);
        self.classes[class].chunks -= 1;
        // SAFETY: the chunk came from `backing.allocate_first_fit(CHUNK_LAYOUTS[class])` in
        // `grow`, holds no object in use, and is no longer on any list.
        unsafe { self.backing.deallocate(chunk.cast(), CHUNK_LAYOUTS[class]) }
    }

    /// Puts `chunk` (not on any list) at the head of its class's partial list.
    fn push_front(&mut self, class: usize, chunk: NonNull<ChunkHeader>) {
        let old_head = self.classes[class].partial;
        // SAFETY: `chunk` is a live chunk of this heap; `&mut self` makes access exclusive.
        unsafe {
            let header = &mut *chunk.as_ptr();
            header.prev = None;
            header.next = old_head;
        }
        if let Some(old_head) = old_head {
            // SAFETY: the list head is a live chunk of this heap, distinct from `chunk`.
            unsafe { (*old_head.as_ptr()).prev = Some(chunk) };
        }
        self.classes[class].partial = Some(chunk);
    }

    /// Takes `chunk` off its class's partial list.
    fn unlink(&mut self, class: usize, chunk: NonNull<ChunkHeader>) {
        // SAFETY: `chunk` is a live chunk on this class's partial list.
        let (prev, next) = unsafe {
            let header = &mut *chunk.as_ptr();
            (header.prev.take(), header.next.take())
        };
        match prev {
            // SAFETY: list neighbours are live chunks of this heap, distinct from `chunk`.
            Some(prev) => unsafe { (*prev.as_ptr()).next = next },
            None => self.classes[class].partial = next,
        }
        if let Some(next) = next {
            // SAFETY: as above.
            unsafe { (*next.as_ptr()).prev = prev };
        }
    }
}

/// A [`SlabHeap`] behind a spinlock: the kernel's `#[global_allocator]`.
///
/// The lock does not mask interrupts: an interrupt handler that allocates while the
/// interrupted code holds the lock would deadlock, so handlers must not allocate (or the
/// caller disables interrupts around heap use).
#[derive(Debug, Default)]
pub struct LockedSlabHeap(Mutex<SlabHeap>);

impl LockedSlabHeap {
    /// A heap with no memory, for a `static`.
    pub const fn empty() -> Self {
        LockedSlabHeap(Mutex::new(SlabHeap::empty()))
    }

    /// A heap over `memory`.
    pub fn from_slice(memory: &'static mut [MaybeUninit<u8>]) -> Self {
        LockedSlabHeap(Mutex::new(SlabHeap::from_slice(memory)))
    }

    /// Gives the heap the region `start .. start + size`.
    ///
    /// # Safety
    ///
    /// As [`SlabHeap::init`].
    pub unsafe fn init(&self, start: *mut u8, size: usize) {
        // SAFETY: forwarded contract.
        unsafe { self.0.lock().init(start, size) }
    }

    /// Locks the heap for several operations in a row.
    pub fn lock(&self) -> MutexGuard<'_, SlabHeap> {
        self.0.lock()
    }

    /// As [`SlabHeap::allocate`].
    pub fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        self.0.lock().allocate(layout)
    }

    /// As [`SlabHeap::deallocate`].
    ///
    /// # Safety
    ///
    /// As [`SlabHeap::deallocate`].
    pub unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { self.0.lock().deallocate(ptr, layout) }
    }

    /// As [`SlabHeap::stats`].
    pub fn stats(&self) -> HeapStats {
        self.0.lock().stats()
    }
}

// SAFETY: `allocate` returns memory of at least `layout.size()` bytes aligned to
// `layout.align()` that nothing else uses until it is freed, and `dealloc` hands it back only
// under `GlobalAlloc`'s contract (same pointer, same layout), which is `deallocate`'s.
unsafe impl GlobalAlloc for LockedSlabHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.allocate(layout)
            .map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(ptr) = NonNull::new(ptr) {
            // SAFETY: GlobalAlloc's contract: `ptr` came from `alloc` with `layout`.
            unsafe { self.deallocate(ptr, layout) }
        }
    }
}

#[cfg(test)]
mod tests;
