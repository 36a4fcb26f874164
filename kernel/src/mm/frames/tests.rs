//! Host tests of the frame allocator: region normalization, single frames, aligned runs,
//! errors, and a randomized comparison against a set-based model.

use std::collections::BTreeSet;
use std::iter::once;

use x86_64::PhysAddr;
use x86_64::structures::paging::frame::PhysFrameRange;
use x86_64::structures::paging::{FrameAllocator, PhysFrame};

use super::*;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const LARGE_PAGE: u64 = 2 * MIB;
const FRAMES_PER_LARGE_PAGE: u64 = LARGE_PAGE / FRAME_SIZE;

fn frame(address: u64) -> PhysFrame {
    PhysFrame::from_start_address(PhysAddr::new(address)).expect("test addresses are aligned")
}

fn run(start: u64, frames: u64) -> PhysFrameRange {
    PhysFrame::range(frame(start), frame(start + frames * FRAME_SIZE))
}

/// An allocator over one region.
fn allocator_over(region: Range<u64>) -> BitmapFrameAllocator<Vec<u64>> {
    allocator(core::slice::from_ref(&region))
}

fn allocator(regions: &[Range<u64>]) -> BitmapFrameAllocator<Vec<u64>> {
    let words = words_needed(regions.iter().cloned()).expect("valid test regions");
    BitmapFrameAllocator::new(regions.iter().cloned(), vec![0; words]).expect("valid test regions")
}

#[test]
fn regions_are_trimmed_inwards_to_whole_frames() {
    let frames = allocator_over(0x1001..0x5fff);
    assert_eq!(frames.total_frames(), 3, "0x2000, 0x3000, 0x4000");
    assert!(!frames.is_free(frame(0x1000)));
    assert!(frames.is_free(frame(0x2000)));
    assert!(frames.is_free(frame(0x4000)));
    assert!(!frames.is_free(frame(0x5000)));
}

#[test]
fn region_smaller_than_a_frame_is_dropped() {
    let frames = allocator(&[0x1001..0x1fff, 0x10_0000..0x10_2000]);
    assert_eq!(frames.total_frames(), 2);
    assert_eq!(words_needed(once(0x1001..0x1fff)), Ok(0));
}

#[test]
fn touching_regions_merge_into_one() {
    // Given out of order; the middle one joins both neighbours.
    let regions = [0x3000..0x5000, 0x0..0x1000, 0x1000..0x3000];
    let mut frames = allocator(&regions);
    assert_eq!(frames.total_frames(), 5);
    assert_eq!(words_needed(regions), Ok(1));
    // A run across the former boundaries is one region now.
    assert_eq!(frames.allocate_contiguous(5, FRAME_SIZE), Ok(run(0, 5)));
}

#[test]
fn words_needed_gives_each_region_its_own_words() {
    // 65 frames need two words; a separate 1-frame region needs a third.
    let regions = [0..65 * FRAME_SIZE, 0x100_0000..0x100_1000];
    assert_eq!(words_needed(regions), Ok(3));
}

#[test]
fn overlapping_regions_are_rejected() {
    let result = words_needed([0x0..0x3000, 0x2000..0x5000]);
    assert_eq!(
        result,
        Err(FrameError::OverlappingRegions {
            start: 0x2000,
            end: 0x5000
        })
    );
}

#[test]
fn region_beyond_the_physical_address_limit_is_rejected() {
    let result = words_needed(once(
        PHYS_ADDR_LIMIT - FRAME_SIZE..PHYS_ADDR_LIMIT + FRAME_SIZE,
    ));
    assert!(matches!(result, Err(FrameError::BadRegion { .. })));
}

#[test]
fn more_disjoint_regions_than_the_table_holds_is_an_error() {
    let regions = (0..=MAX_REGIONS as u64).map(|i| i * 2 * FRAME_SIZE..(i * 2 + 1) * FRAME_SIZE);
    assert_eq!(words_needed(regions), Err(FrameError::TooManyRegions));
}

#[test]
fn storage_smaller_than_words_needed_is_an_error() {
    let result = BitmapFrameAllocator::new(once(0..65 * FRAME_SIZE), vec![0u64; 1]);
    assert_eq!(
        result.map(|_| ()),
        Err(FrameError::StorageTooSmall {
            needed: 2,
            given: 1
        })
    );
}

#[test]
fn allocate_hands_out_the_lowest_free_frame_and_counts_it() {
    let mut frames = allocator_over(0x10_0000..0x10_4000);
    assert_eq!(
        (
            frames.total_frames(),
            frames.free_frames(),
            frames.used_frames()
        ),
        (4, 4, 0)
    );
    assert_eq!(frames.allocate(), Ok(frame(0x10_0000)));
    assert_eq!(frames.allocate(), Ok(frame(0x10_1000)));
    assert_eq!(
        (
            frames.total_frames(),
            frames.free_frames(),
            frames.used_frames()
        ),
        (4, 2, 2)
    );
}

#[test]
fn freed_frame_is_reused_first() {
    let mut frames = allocator_over(0..0x10_0000);
    let first = frames.allocate().unwrap();
    let second = frames.allocate().unwrap();
    let _third = frames.allocate().unwrap();
    frames.free(second).unwrap();
    assert_eq!(frames.allocate(), Ok(second));
    frames.free(first).unwrap();
    assert_eq!(frames.allocate(), Ok(first));
    assert_eq!(frames.used_frames(), 3);
}

#[test]
fn double_free_is_an_error_and_changes_nothing() {
    let mut frames = allocator_over(0..0x4000);
    let taken = frames.allocate().unwrap();
    frames.free(taken).unwrap();
    assert_eq!(
        frames.free(taken),
        Err(FrameError::DoubleFree { address: 0 })
    );
    assert_eq!(frames.free_frames(), 4);
    // A frame never handed out is "already free" too.
    assert_eq!(
        frames.free(frame(0x3000)),
        Err(FrameError::DoubleFree { address: 0x3000 })
    );
}

#[test]
fn freeing_a_frame_outside_every_region_is_an_error() {
    let mut frames = allocator(&[0x1000..0x3000, 0x8000..0x9000]);
    for address in [0x0, 0x3000, 0x7000, 0x9000, 0x1_0000_0000] {
        assert_eq!(
            frames.free(frame(address)),
            Err(FrameError::NotManaged { address })
        );
    }
    assert_eq!(frames.free_frames(), 3);
}

#[test]
fn exhaustion_returns_out_of_frames_until_one_is_freed() {
    let mut frames = allocator(&[0x1000..0x3000, 0x8000..0x9000]);
    let taken: Vec<_> = (0..3).map(|_| frames.allocate().unwrap()).collect();
    assert_eq!(taken, [frame(0x1000), frame(0x2000), frame(0x8000)]);
    assert_eq!(frames.allocate(), Err(FrameError::OutOfFrames));
    assert_eq!(frames.free_frames(), 0);
    frames.free(taken[1]).unwrap();
    assert_eq!(frames.allocate(), Ok(taken[1]));
    assert_eq!(frames.allocate(), Err(FrameError::OutOfFrames));
}

#[test]
fn every_frame_of_every_region_is_handed_out_exactly_once() {
    // Region sizes that are not multiples of 64 leave padding bits that must never be used.
    let regions = [
        0x1000..0x4_2000,
        0x100_0000..0x100_5000,
        0x200_0000..0x204_1000,
    ];
    let mut frames = allocator(&regions);
    let mut seen = BTreeSet::new();
    while let Ok(taken) = frames.allocate() {
        let address = taken.start_address().as_u64();
        assert!(
            regions.iter().any(|r| r.contains(&address)),
            "{address:#x} outside"
        );
        assert!(seen.insert(address), "{address:#x} handed out twice");
    }
    assert_eq!(seen.len() as u64, frames.total_frames());
    assert_eq!(frames.total_frames(), 0x41 + 5 + 0x41);
}

#[test]
fn contiguous_run_starts_on_a_2mib_boundary() {
    let mut frames = allocator_over(0x1000..0x80_0000);
    let taken = frames
        .allocate_contiguous(FRAMES_PER_LARGE_PAGE, LARGE_PAGE)
        .unwrap();
    assert_eq!(taken, run(LARGE_PAGE, FRAMES_PER_LARGE_PAGE));
    assert_eq!(frames.used_frames(), FRAMES_PER_LARGE_PAGE);
    // The frames below the boundary are still there for single allocations.
    assert_eq!(frames.allocate(), Ok(frame(0x1000)));
}

#[test]
fn contiguous_run_skips_a_used_frame_to_the_next_boundary() {
    let mut frames = allocator_over(LARGE_PAGE..4 * LARGE_PAGE);
    let blocker = frames.allocate().unwrap();
    assert_eq!(blocker, frame(LARGE_PAGE));
    let taken = frames
        .allocate_contiguous(FRAMES_PER_LARGE_PAGE, LARGE_PAGE)
        .unwrap();
    assert_eq!(taken, run(2 * LARGE_PAGE, FRAMES_PER_LARGE_PAGE));
    let next = frames
        .allocate_contiguous(FRAMES_PER_LARGE_PAGE, LARGE_PAGE)
        .unwrap();
    assert_eq!(next, run(3 * LARGE_PAGE, FRAMES_PER_LARGE_PAGE));
    assert_eq!(
        frames.allocate_contiguous(FRAMES_PER_LARGE_PAGE, LARGE_PAGE),
        Err(FrameError::OutOfFrames)
    );
    // Unaligned runs still fit in what is left of the first large page.
    assert_eq!(
        frames.allocate_contiguous(FRAMES_PER_LARGE_PAGE - 1, FRAME_SIZE),
        Ok(run(LARGE_PAGE + FRAME_SIZE, FRAMES_PER_LARGE_PAGE - 1))
    );
}

#[test]
fn contiguous_run_never_spans_a_gap_between_regions() {
    let mut frames = allocator(&[0..256 * FRAME_SIZE, 257 * FRAME_SIZE..513 * FRAME_SIZE]);
    assert_eq!(
        frames.allocate_contiguous(300, FRAME_SIZE),
        Err(FrameError::OutOfFrames)
    );
    assert_eq!(frames.allocate_contiguous(256, FRAME_SIZE), Ok(run(0, 256)));
    assert_eq!(
        frames.allocate_contiguous(256, FRAME_SIZE),
        Ok(run(257 * FRAME_SIZE, 256))
    );
    assert_eq!(frames.free_frames(), 0);
}

#[test]
fn contiguous_request_errors_are_typed() {
    let mut frames = allocator_over(0..0x10_0000);
    assert_eq!(
        frames.allocate_contiguous(0, FRAME_SIZE),
        Err(FrameError::ZeroCount)
    );
    assert_eq!(
        frames.allocate_contiguous(1, 3 * FRAME_SIZE),
        Err(FrameError::BadAlignment {
            align: 3 * FRAME_SIZE
        })
    );
    assert_eq!(
        frames.allocate_contiguous(1, 512),
        Err(FrameError::BadAlignment { align: 512 })
    );
    assert_eq!(
        frames.allocate_contiguous(u64::MAX, FRAME_SIZE),
        Err(FrameError::OutOfFrames)
    );
    assert_eq!(frames.free_frames(), 256);
}

#[test]
fn freed_run_is_whole_again_and_a_second_free_is_an_error() {
    let mut frames = allocator_over(0..4 * LARGE_PAGE);
    let taken = frames
        .allocate_contiguous(FRAMES_PER_LARGE_PAGE, LARGE_PAGE)
        .unwrap();
    assert_eq!(taken, run(0, FRAMES_PER_LARGE_PAGE));
    frames.free_contiguous(taken).unwrap();
    assert_eq!(frames.free_frames(), frames.total_frames());
    assert_eq!(
        frames.free_contiguous(taken),
        Err(FrameError::DoubleFree { address: 0 })
    );
    assert_eq!(
        frames.allocate_contiguous(FRAMES_PER_LARGE_PAGE, LARGE_PAGE),
        Ok(taken)
    );
}

#[test]
fn freeing_a_run_with_one_free_frame_inside_changes_nothing() {
    let mut frames = allocator_over(0..0x10_0000);
    let taken = frames.allocate_contiguous(8, FRAME_SIZE).unwrap();
    frames.free(frame(5 * FRAME_SIZE)).unwrap();
    assert_eq!(
        frames.free_contiguous(taken),
        Err(FrameError::DoubleFree {
            address: 5 * FRAME_SIZE
        })
    );
    assert_eq!(frames.used_frames(), 7);
    assert!(!frames.is_free(frame(0)));
}

#[test]
fn freeing_a_run_that_leaves_its_region_is_an_error() {
    let mut frames = allocator(&[0..0x4000, 0x5000..0x8000]);
    frames.allocate_contiguous(4, FRAME_SIZE).unwrap();
    assert_eq!(
        frames.free_contiguous(run(0x2000, 4)),
        Err(FrameError::NotManaged { address: 0x2000 })
    );
    assert_eq!(frames.used_frames(), 4);
}

#[test]
fn reserve_takes_free_frames_out_of_circulation() {
    let mut frames = allocator_over(0..0x8000);
    frames.reserve(run(0, 2)).unwrap();
    assert_eq!(frames.used_frames(), 2);
    assert_eq!(frames.allocate(), Ok(frame(0x2000)));
    assert_eq!(
        frames.reserve(run(0x1000, 3)),
        Err(FrameError::AlreadyUsed { address: 0x1000 })
    );
    assert_eq!(frames.used_frames(), 3);
}

#[test]
fn paging_frame_allocator_trait_draws_from_the_bitmap() {
    let mut frames = allocator_over(0x1000..0x3000);
    assert_eq!(frames.allocate_frame(), Some(frame(0x1000)));
    assert_eq!(frames.allocate_frame(), Some(frame(0x2000)));
    assert_eq!(frames.allocate_frame(), None);
}

#[test]
fn randomized_operations_agree_with_a_set_model() {
    let regions = [
        0x1000..0x30_0000,
        0x40_0000..0xA0_0000,
        0x100_0000..0x100_3000,
    ];
    let mut frames = allocator(&regions);
    let mut model: BTreeSet<u64> = BTreeSet::new(); // used frame addresses
    let mut singles: Vec<PhysFrame> = Vec::new();
    let mut runs: Vec<PhysFrameRange> = Vec::new();
    let mut rng = fastrand::Rng::with_seed(0x5EED_F4A3);
    for _ in 0..20_000 {
        match rng.u8(0..4) {
            0 => match frames.allocate() {
                Ok(taken) => {
                    assert!(model.insert(taken.start_address().as_u64()));
                    singles.push(taken);
                }
                Err(error) => {
                    assert_eq!(error, FrameError::OutOfFrames);
                    assert_eq!(model.len() as u64, frames.total_frames());
                }
            },
            1 if !singles.is_empty() => {
                let taken = singles.swap_remove(rng.usize(..singles.len()));
                frames.free(taken).unwrap();
                assert!(model.remove(&taken.start_address().as_u64()));
            }
            2 => {
                let count = rng.u64(1..40);
                let align = FRAME_SIZE << rng.u32(0..6);
                if let Ok(taken) = frames.allocate_contiguous(count, align) {
                    assert_eq!(taken.len(), count);
                    assert_eq!(taken.start.start_address().as_u64() % align, 0);
                    for f in taken {
                        assert!(model.insert(f.start_address().as_u64()), "{f:?} reused");
                    }
                    runs.push(taken);
                }
            }
            _ if !runs.is_empty() => {
                let taken = runs.swap_remove(rng.usize(..runs.len()));
                frames.free_contiguous(taken).unwrap();
                for f in taken {
                    assert!(model.remove(&f.start_address().as_u64()));
                }
            }
            _ => {}
        }
        assert_eq!(frames.used_frames(), model.len() as u64);
    }
    for taken in singles {
        frames.free(taken).unwrap();
    }
    for taken in runs {
        frames.free_contiguous(taken).unwrap();
    }
    assert_eq!(frames.free_frames(), frames.total_frames());
}
