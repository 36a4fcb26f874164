//! Memory: physical frames from the bootloader's map, page-mapping helpers, and the heap (a
//! slab allocator over `linked_list_allocator`, with per-owner accounting).
pub mod frames;
pub mod heap;
pub mod owner;
pub mod paging;
pub mod physical;
pub mod slab;
