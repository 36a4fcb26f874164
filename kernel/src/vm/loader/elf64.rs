//! 64-bit ELF executables (parsed with `xmas-elf`): PT_LOAD segments copied to their virtual
//! addresses, which are guest-physical under the loader's identity map. A static-PIE (ET_DYN)
//! image is placed at [`PIE_BASE`] with its R_X86_64_RELATIVE relocations applied.

use alloc::vec::Vec;

use xmas_elf::ElfFile;
use xmas_elf::header::{Class, Machine, Type};
use xmas_elf::program::Type as SegmentType;
use xmas_elf::sections::SectionData;

use super::LoadError;
use super::long_mode::RESERVED_END;
use crate::vm::memory::GuestMemory;

/// Where a position-independent image is placed.
pub const PIE_BASE: u64 = 0x20_0000;
/// R_X86_64_RELATIVE.
const R_X86_64_RELATIVE: u32 = 8;
/// The most segments accepted.
const MAX_SEGMENTS: usize = 32;

/// Load the segments; returns the entry point.
pub fn load(image: &[u8], memory: &GuestMemory) -> Result<u64, LoadError> {
    // `xmas-elf` reads headers in place and needs them aligned; archive members are only
    // 4-byte aligned, so parse an 8-byte-aligned copy.
    let mut aligned: Vec<u64> = Vec::new();
    aligned
        .try_reserve_exact(image.len().div_ceil(8))
        .map_err(|_| LoadError::BadElf("no memory to parse the image"))?;
    aligned.resize(image.len().div_ceil(8), 0);
    let bytes = &mut words_as_bytes(&mut aligned)[..image.len()];
    bytes.copy_from_slice(image);
    let bytes: &[u8] = bytes;
    let elf = ElfFile::new(bytes).map_err(LoadError::BadElf)?;
    if elf.header.pt1.class() != Class::SixtyFour {
        return Err(LoadError::BadElf("not a 64-bit ELF"));
    }
    if elf.header.pt2.machine().as_machine() != Machine::X86_64 {
        return Err(LoadError::BadElf("not an x86_64 ELF"));
    }
    let bias = match elf.header.pt2.type_().as_type() {
        Type::Executable => 0,
        Type::SharedObject => {
            let lowest = elf
                .program_iter()
                .filter(|p| p.get_type() == Ok(SegmentType::Load))
                .map(|p| p.virtual_addr())
                .min()
                .ok_or(LoadError::BadElf("no loadable segment"))?;
            PIE_BASE.wrapping_sub(lowest & !0xfff)
        }
        _ => return Err(LoadError::BadElf("not an executable")),
    };
    let mut segments = 0;
    for program in elf.program_iter() {
        if program.get_type() != Ok(SegmentType::Load) {
            continue;
        }
        segments += 1;
        if segments > MAX_SEGMENTS {
            return Err(LoadError::BadElf("too many segments"));
        }
        let gpa = program.virtual_addr().wrapping_add(bias);
        let (file_size, memory_size) = (program.file_size(), program.mem_size());
        let offset = program.offset() as usize;
        if file_size > memory_size {
            return Err(LoadError::BadElf("segment file size exceeds memory size"));
        }
        let end = gpa.checked_add(memory_size).ok_or(LoadError::OutOfRam {
            gpa,
            len: memory_size,
        })?;
        if gpa < RESERVED_END || !memory.contains(gpa, memory_size as usize) || end > memory.size()
        {
            return Err(LoadError::OutOfRam {
                gpa,
                len: memory_size,
            });
        }
        let data = offset
            .checked_add(file_size as usize)
            .and_then(|file_end| bytes.get(offset..file_end))
            .ok_or(LoadError::BadElf("segment past the end of the file"))?;
        memory.write(gpa, data)?;
        zero(memory, gpa + file_size, memory_size - file_size)?;
    }
    if segments == 0 {
        return Err(LoadError::BadElf("no loadable segment"));
    }
    if bias != 0 {
        relocate(&elf, memory, bias)?;
    }
    Ok(elf.header.pt2.entry_point().wrapping_add(bias))
}

/// The bytes of a `u64` buffer.
fn words_as_bytes(words: &mut [u64]) -> &mut [u8] {
    let length = core::mem::size_of_val(words);
    // SAFETY: any initialised `u64` storage is valid as bytes; the slice covers exactly the
    // buffer and borrows it mutably for its lifetime.
    unsafe { core::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), length) }
}

fn zero(memory: &GuestMemory, mut gpa: u64, mut len: u64) -> Result<(), LoadError> {
    const CHUNK: [u8; 256] = [0; 256];
    while len > 0 {
        let step = len.min(CHUNK.len() as u64);
        memory.write(gpa, &CHUNK[..step as usize])?;
        gpa += step;
        len -= step;
    }
    Ok(())
}

fn relocate(elf: &ElfFile<'_>, memory: &GuestMemory, bias: u64) -> Result<(), LoadError> {
    for section in elf.section_iter() {
        let Ok(SectionData::Rela64(relocations)) = section.get_data(elf) else {
            continue;
        };
        for relocation in relocations {
            if relocation.get_type() != R_X86_64_RELATIVE {
                return Err(LoadError::UnsupportedRelocation(relocation.get_type()));
            }
            let at = relocation.get_offset().wrapping_add(bias);
            memory
                .write_u64(at, relocation.get_addend().wrapping_add(bias))
                .map_err(|_| LoadError::OutOfRam { gpa: at, len: 8 })?;
        }
    }
    Ok(())
}
