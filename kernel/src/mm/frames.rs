//! Physical frame allocator: bookkeeping of the machine's 4 KiB frames, one bit per frame.
//!
//! It is built from the usable regions of the bootloader's memory map (`bootloader_api`
//! `MemoryRegionKind::Usable`), trimmed inwards to 4 KiB boundaries, sorted and merged, and a
//! bitmap the caller provides (see [`words_needed`]). It never touches the frames themselves:
//! this is pure arithmetic over physical frame numbers, so it is unit-tested on the host.
//!
//! Frame sizes follow the Intel SDM Vol. 3A §4.5 (4-level paging): 4 KiB pages, and 2 MiB
//! pages for large mappings — [`BitmapFrameAllocator::allocate_contiguous`] hands out runs
//! aligned to any power of two so guest RAM can be mapped with 2 MiB EPT entries.
//!
//! Bitmap convention: bit set = frame free. Each region starts on a fresh word, and the bits
//! past a region's end in its last word stay clear (never free), so a word scan cannot stray
//! outside managed memory. Single-frame allocation scans words from a next-free hint, which is
//! amortized O(1); every failure is a [`FrameError`], never a panic.

use core::ops::Range;

use x86_64::structures::paging::frame::PhysFrameRange;
use x86_64::structures::paging::{PageSize, PhysFrame, Size4KiB};

/// Bytes in one frame (a 4 KiB page, SDM Vol. 3A §4.5).
pub const FRAME_SIZE: u64 = Size4KiB::SIZE;
/// How many disjoint (after merging) usable regions the allocator keeps track of.
pub const MAX_REGIONS: usize = 128;
/// Physical addresses are at most 52 bits wide on x86_64 (SDM Vol. 3A §4.1.4, MAXPHYADDR ≤ 52).
pub const PHYS_ADDR_LIMIT: u64 = 1 << 52;

/// Frame bits in one bitmap word.
const BITS_PER_WORD: u64 = u64::BITS as u64;
/// Physical frame number one past the highest frame a 52-bit address can name.
const PFN_LIMIT: u64 = PHYS_ADDR_LIMIT / FRAME_SIZE;
/// An unused region slot.
const EMPTY_REGION: Region = Region {
    first_frame: 0,
    frames: 0,
    first_word: 0,
};

/// Why a frame operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// No free frame (or no free run of the requested size and alignment) is left.
    OutOfFrames,
    /// The frame (by physical address) is not in any usable region this allocator manages.
    NotManaged { address: u64 },
    /// The frame is already free: freed twice, or never handed out.
    DoubleFree { address: u64 },
    /// [`BitmapFrameAllocator::reserve`] found the frame already in use.
    AlreadyUsed { address: u64 },
    /// A contiguous request for zero frames.
    ZeroCount,
    /// An alignment that is not a power of two of at least [`FRAME_SIZE`] bytes.
    BadAlignment { align: u64 },
    /// A region ends beyond [`PHYS_ADDR_LIMIT`] or before it starts.
    BadRegion { start: u64, end: u64 },
    /// Two usable regions overlap: the memory map is inconsistent.
    OverlappingRegions { start: u64, end: u64 },
    /// More than [`MAX_REGIONS`] disjoint regions.
    TooManyRegions,
    /// The bitmap storage has fewer words than [`words_needed`] computed.
    StorageTooSmall { needed: usize, given: usize },
}

/// One merged usable region, in frame numbers, and where its bits start in the bitmap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Region {
    /// Physical frame number of the region's first frame.
    first_frame: u64,
    /// Frames in the region (never zero once stored).
    frames: u64,
    /// Index of the bitmap word holding the first frame's bit.
    first_word: usize,
}

impl Region {
    /// One past the region's last frame number.
    fn end_frame(&self) -> u64 {
        self.first_frame + self.frames
    }

    /// Bitmap words the region occupies.
    fn words(&self) -> usize {
        words_for_frames(self.frames)
    }

    /// Absolute bit index of frame `pfn`, which must lie inside the region.
    fn bit_of(&self, pfn: u64) -> usize {
        self.first_word * BITS_PER_WORD as usize + (pfn - self.first_frame) as usize
    }

    /// Frame number of absolute bit index `bit`, which must lie inside the region.
    fn frame_of(&self, bit: usize) -> u64 {
        self.first_frame + (bit - self.first_word * BITS_PER_WORD as usize) as u64
    }
}

/// Bitmap words for a region of `frames` frames.
fn words_for_frames(frames: u64) -> usize {
    frames.div_ceil(BITS_PER_WORD) as usize
}

/// The usable regions, trimmed to whole frames, sorted by address, adjacent ones merged.
#[derive(Debug, Clone, Copy)]
struct RegionTable {
    regions: [Region; MAX_REGIONS],
    count: usize,
}

impl RegionTable {
    /// Trims, sorts and merges `ranges` (byte addresses, end exclusive) and lays out the bitmap.
    fn build(ranges: impl IntoIterator<Item = Range<u64>>) -> Result<Self, FrameError> {
        let mut table = RegionTable {
            regions: [EMPTY_REGION; MAX_REGIONS],
            count: 0,
        };
        for range in ranges {
            if range.end > PHYS_ADDR_LIMIT || range.start > range.end {
                return Err(FrameError::BadRegion {
                    start: range.start,
                    end: range.end,
                });
            }
            // Cannot overflow: both ends are below PHYS_ADDR_LIMIT.
            let first = range.start.div_ceil(FRAME_SIZE);
            let end = range.end / FRAME_SIZE;
            if first < end {
                table.insert(first, end)?;
            }
        }
        let mut word = 0;
        for region in &mut table.regions[..table.count] {
            region.first_word = word;
            word += region.words();
        }
        Ok(table)
    }

    /// Inserts frames `first..end` keeping the table sorted, merging touching neighbours.
    fn insert(&mut self, first: u64, end: u64) -> Result<(), FrameError> {
        let overlap = FrameError::OverlappingRegions {
            start: first * FRAME_SIZE,
            end: end * FRAME_SIZE,
        };
        let at = self.regions[..self.count].partition_point(|r| r.first_frame < first);
        if at > 0 && self.regions[at - 1].end_frame() > first {
            return Err(overlap);
        }
        if at < self.count && self.regions[at].first_frame < end {
            return Err(overlap);
        }
        let joins_left = at > 0 && self.regions[at - 1].end_frame() == first;
        let joins_right = at < self.count && self.regions[at].first_frame == end;
        match (joins_left, joins_right) {
            (true, true) => {
                self.regions[at - 1].frames += (end - first) + self.regions[at].frames;
                self.regions.copy_within(at + 1..self.count, at);
                self.count -= 1;
            }
            (true, false) => self.regions[at - 1].frames += end - first,
            (false, true) => {
                self.regions[at].frames += self.regions[at].first_frame - first;
                self.regions[at].first_frame = first;
            }
            (false, false) => {
                if self.count == MAX_REGIONS {
                    return Err(FrameError::TooManyRegions);
                }
                self.regions.copy_within(at..self.count, at + 1);
                self.regions[at] = Region {
                    first_frame: first,
                    frames: end - first,
                    first_word: 0,
                };
                self.count += 1;
            }
        }
        Ok(())
    }

    fn as_slice(&self) -> &[Region] {
        &self.regions[..self.count]
    }

    /// Bitmap words all regions need.
    fn words(&self) -> usize {
        self.as_slice().iter().map(Region::words).sum()
    }
}

/// Bitmap words (`u64`) the allocator needs for these usable regions (byte ranges, end
/// exclusive, any alignment): size the storage handed to [`BitmapFrameAllocator::new`] with it.
pub fn words_needed(regions: impl IntoIterator<Item = Range<u64>>) -> Result<usize, FrameError> {
    Ok(RegionTable::build(regions)?.words())
}

/// Bitmap allocator of 4 KiB physical frames over caller-provided storage `S`
/// (`&'static mut [u64]` in the kernel, a `Vec<u64>` in host tests).
#[derive(Debug)]
pub struct BitmapFrameAllocator<S> {
    regions: RegionTable,
    bitmap: S,
    /// Words of `bitmap` in use (storage may be longer).
    words: usize,
    total: u64,
    free: u64,
    /// Word where the next single-frame search starts (a hint: the scan wraps around).
    next_word: usize,
}

impl<S: AsRef<[u64]> + AsMut<[u64]>> BitmapFrameAllocator<S> {
    /// Builds the allocator over `regions` (usable byte ranges, end exclusive; edges are
    /// trimmed inwards to whole frames, touching regions merged), with every frame free.
    pub fn new(
        regions: impl IntoIterator<Item = Range<u64>>,
        mut bitmap: S,
    ) -> Result<Self, FrameError> {
        let regions = RegionTable::build(regions)?;
        let words = regions.words();
        let given = bitmap.as_ref().len();
        if given < words {
            return Err(FrameError::StorageTooSmall {
                needed: words,
                given,
            });
        }
        let storage = &mut bitmap.as_mut()[..words];
        storage.fill(0);
        let mut total = 0;
        for region in regions.as_slice() {
            let start = region.bit_of(region.first_frame);
            set_bits(storage, start..start + region.frames as usize, true);
            total += region.frames;
        }
        Ok(BitmapFrameAllocator {
            regions,
            bitmap,
            words,
            total,
            free: total,
            next_word: 0,
        })
    }

    /// Frames managed (free or used).
    pub fn total_frames(&self) -> u64 {
        self.total
    }

    /// Frames available for allocation.
    pub fn free_frames(&self) -> u64 {
        self.free
    }

    /// Frames handed out (or reserved) and not yet freed.
    pub fn used_frames(&self) -> u64 {
        self.total - self.free
    }

    /// Takes one free frame, lowest-addressed from the next-free hint on.
    pub fn allocate(&mut self) -> Result<PhysFrame, FrameError> {
        if self.free == 0 {
            return Err(FrameError::OutOfFrames);
        }
        let words = self.words;
        let bitmap = self.bitmap.as_mut();
        for step in 0..words {
            let word = (self.next_word + step) % words;
            let bits = bitmap[word];
            if bits != 0 {
                let bit = bits.trailing_zeros();
                bitmap[word] = bits & !(1 << bit);
                self.next_word = word;
                self.free -= 1;
                let index = word * BITS_PER_WORD as usize + bit as usize;
                return Ok(self.frame_at(index));
            }
        }
        // Unreachable while `free` counts the set bits; report exhaustion rather than panic.
        debug_assert_eq!(self.free, 0, "free-frame count disagrees with the bitmap");
        Err(FrameError::OutOfFrames)
    }

    /// Returns one frame. Freeing a frame twice, or one this allocator never managed, is an
    /// error and changes nothing.
    pub fn free(&mut self, frame: PhysFrame) -> Result<(), FrameError> {
        let region = self.locate(frame.pfn(), 1)?;
        let bit = region.bit_of(frame.pfn());
        let (word, mask) = word_and_mask(bit);
        let bitmap = self.bitmap.as_mut();
        if bitmap[word] & mask != 0 {
            return Err(FrameError::DoubleFree {
                address: frame.start_address().as_u64(),
            });
        }
        bitmap[word] |= mask;
        self.free += 1;
        self.next_word = self.next_word.min(word);
        Ok(())
    }

    /// Takes `count` physically contiguous free frames whose first frame's address is a
    /// multiple of `align` bytes (a power of two, at least [`FRAME_SIZE`]; 2 MiB for large
    /// pages). First fit from the lowest address.
    pub fn allocate_contiguous(
        &mut self,
        count: u64,
        align: u64,
    ) -> Result<PhysFrameRange, FrameError> {
        if count == 0 {
            return Err(FrameError::ZeroCount);
        }
        if !align.is_power_of_two() || align < FRAME_SIZE {
            return Err(FrameError::BadAlignment { align });
        }
        if count > self.free {
            return Err(FrameError::OutOfFrames);
        }
        let align_frames = align / FRAME_SIZE;
        for index in 0..self.regions.count {
            let region = self.regions.regions[index];
            let mut candidate = region.first_frame.next_multiple_of(align_frames);
            while let Some(end) = candidate
                .checked_add(count)
                .filter(|&end| end <= region.end_frame())
            {
                let bits = region.bit_of(candidate)..region.bit_of(candidate) + count as usize;
                match find_bit(self.bitmap.as_ref(), bits.clone(), false) {
                    None => {
                        set_bits(self.bitmap.as_mut(), bits, false);
                        self.free -= count;
                        return Ok(PhysFrame::range(
                            PhysFrame::from_pfn(candidate),
                            PhysFrame::from_pfn(end),
                        ));
                    }
                    Some(used) => {
                        candidate = (region.frame_of(used) + 1).next_multiple_of(align_frames);
                    }
                }
            }
        }
        Err(FrameError::OutOfFrames)
    }

    /// Returns a run of frames (as handed out by [`Self::allocate_contiguous`], or any run of
    /// used frames inside one region). If any frame in it is already free, nothing changes.
    pub fn free_contiguous(&mut self, frames: PhysFrameRange) -> Result<(), FrameError> {
        let bits = self.run_bits(frames)?;
        if let Some(free) = find_bit(self.bitmap.as_ref(), bits.clone(), true) {
            return Err(FrameError::DoubleFree {
                address: self.frame_at(free).start_address().as_u64(),
            });
        }
        let (first_word, _) = word_and_mask(bits.start);
        self.free += bits.len() as u64;
        set_bits(self.bitmap.as_mut(), bits, true);
        self.next_word = self.next_word.min(first_word);
        Ok(())
    }

    /// Marks free frames used without handing them out (firmware tables, the bitmap's own
    /// storage). If any frame in the run is already used, nothing changes.
    pub fn reserve(&mut self, frames: PhysFrameRange) -> Result<(), FrameError> {
        let bits = self.run_bits(frames)?;
        if let Some(used) = find_bit(self.bitmap.as_ref(), bits.clone(), false) {
            return Err(FrameError::AlreadyUsed {
                address: self.frame_at(used).start_address().as_u64(),
            });
        }
        self.free -= bits.len() as u64;
        set_bits(self.bitmap.as_mut(), bits, false);
        Ok(())
    }

    /// Whether `frame` is managed and currently free.
    pub fn is_free(&self, frame: PhysFrame) -> bool {
        self.locate(frame.pfn(), 1).is_ok_and(|region| {
            let (word, mask) = word_and_mask(region.bit_of(frame.pfn()));
            self.bitmap.as_ref()[word] & mask != 0
        })
    }

    /// The bit range of a non-empty run of frames that lies inside one region.
    fn run_bits(&self, frames: PhysFrameRange) -> Result<Range<usize>, FrameError> {
        if frames.is_empty() {
            return Err(FrameError::ZeroCount);
        }
        let first = frames.start.pfn();
        let region = self.locate(first, frames.len())?;
        let start = region.bit_of(first);
        Ok(start..start + frames.len() as usize)
    }

    /// The region holding all of frames `pfn..pfn + count`.
    fn locate(&self, pfn: u64, count: u64) -> Result<Region, FrameError> {
        let regions = self.regions.as_slice();
        let index = regions.partition_point(|r| r.first_frame <= pfn);
        let not_managed = FrameError::NotManaged {
            address: pfn * FRAME_SIZE,
        };
        let region = index
            .checked_sub(1)
            .and_then(|i| regions.get(i).copied())
            .ok_or(not_managed)?;
        match pfn.checked_add(count) {
            Some(end) if end <= region.end_frame() => Ok(region),
            _ => Err(not_managed),
        }
    }

    /// The frame whose bit is `bit` (a bit inside some region).
    fn frame_at(&self, bit: usize) -> PhysFrame {
        let regions = self.regions.as_slice();
        let word = bit / BITS_PER_WORD as usize;
        let index = regions.partition_point(|r| r.first_word <= word) - 1;
        let pfn = regions[index].frame_of(bit);
        debug_assert!(pfn < PFN_LIMIT);
        PhysFrame::from_pfn(pfn)
    }
}

// SAFETY: `allocate_frame` returns only frames that were free in the bitmap and marks them used
// in the same step, so a frame is never handed out twice while it is in use; the regions it
// draws from are the usable ones of the memory map the allocator was built with.
unsafe impl<S: AsRef<[u64]> + AsMut<[u64]>> x86_64::structures::paging::FrameAllocator<Size4KiB>
    for BitmapFrameAllocator<S>
{
    fn allocate_frame(&mut self) -> Option<PhysFrame> {
        self.allocate().ok()
    }
}

/// The word holding absolute bit `bit`, and the bit's mask in it.
fn word_and_mask(bit: usize) -> (usize, u64) {
    let per_word = BITS_PER_WORD as usize;
    (bit / per_word, 1 << (bit % per_word))
}

/// Mask of bits `from..to` within one word (`from < to <= 64`).
fn span_mask(from: usize, to: usize) -> u64 {
    let high = if to == BITS_PER_WORD as usize {
        u64::MAX
    } else {
        (1 << to) - 1
    };
    high & !((1u64 << from) - 1)
}

/// Calls `each(word, mask)` for every word the bit range `bits` touches.
fn for_each_word(bits: Range<usize>, mut each: impl FnMut(usize, u64) -> bool) {
    let per_word = BITS_PER_WORD as usize;
    let mut bit = bits.start;
    while bit < bits.end {
        let word = bit / per_word;
        let word_end = ((word + 1) * per_word).min(bits.end);
        let mask = span_mask(bit % per_word, word_end - word * per_word);
        if !each(word, mask) {
            return;
        }
        bit = word_end;
    }
}

/// Sets (`value` true) or clears every bit in `bits`.
fn set_bits(bitmap: &mut [u64], bits: Range<usize>, value: bool) {
    for_each_word(bits, |word, mask| {
        if value {
            bitmap[word] |= mask;
        } else {
            bitmap[word] &= !mask;
        }
        true
    });
}

/// The lowest bit in `bits` whose value is `value`.
fn find_bit(bitmap: &[u64], bits: Range<usize>, value: bool) -> Option<usize> {
    let mut found = None;
    for_each_word(bits, |word, mask| {
        let word_bits = if value { bitmap[word] } else { !bitmap[word] };
        let hits = word_bits & mask;
        if hits != 0 {
            found = Some(word * BITS_PER_WORD as usize + hits.trailing_zeros() as usize);
            return false;
        }
        true
    });
    found
}

#[cfg(test)]
mod tests;
