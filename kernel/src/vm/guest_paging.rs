//! Walking the guest's own page tables: guest-linear → guest-physical, for fetching the
//! instruction at RIP and for string I/O and MOVS operands (Intel SDM Vol. 3A, 4.3 32-bit
//! paging, 4.4 PAE paging, 4.5 4-level paging). Pure: the caller supplies a reader of guest
//! physical memory, so the walk is unit-tested on the host.

/// Which paging mode the guest is in, from CR0.PG, CR4.PAE and EFER.LMA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagingMode {
    /// CR0.PG = 0: linear = physical.
    None,
    /// 32-bit paging (CR4.PAE = 0).
    Bits32,
    /// PAE paging (CR4.PAE = 1, not long mode).
    Pae,
    /// 4-level paging (long mode).
    Level4,
}

/// Page-table entry bit 0: present.
const PRESENT: u64 = 1 << 0;
/// Bit 7 in a PDE/PDPTE: the entry maps a large page.
const PAGE_SIZE: u64 = 1 << 7;
/// 32-bit paging: CR4.PSE enables 4 MiB pages.
const CR4_PSE: u64 = 1 << 4;
/// Address bits of a 64-bit entry.
const ADDRESS_64: u64 = 0x000f_ffff_ffff_f000;

/// Why a linear address has no translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkError {
    /// An entry on the way is not present (the guest would take #PF).
    NotPresent { linear: u64 },
    /// A page-table entry lies outside guest RAM.
    TableOutsideRam { gpa: u64 },
}

impl PagingMode {
    /// The mode from the control registers.
    pub fn from_registers(cr0: u64, cr4: u64, efer: u64) -> Self {
        const CR0_PG: u64 = 1 << 31;
        const CR4_PAE: u64 = 1 << 5;
        const EFER_LMA: u64 = 1 << 10;
        if cr0 & CR0_PG == 0 {
            PagingMode::None
        } else if efer & EFER_LMA != 0 {
            PagingMode::Level4
        } else if cr4 & CR4_PAE != 0 {
            PagingMode::Pae
        } else {
            PagingMode::Bits32
        }
    }
}

/// Translate `linear`. `read` returns the 8 bytes at a guest-physical address (for 32-bit
/// paging only the low 4 are used), or `None` when it is not RAM.
pub fn translate(
    mode: PagingMode,
    cr3: u64,
    cr4: u64,
    linear: u64,
    mut read: impl FnMut(u64) -> Option<u64>,
) -> Result<u64, WalkError> {
    let mut entry_at = |gpa: u64| read(gpa).ok_or(WalkError::TableOutsideRam { gpa });
    let missing = WalkError::NotPresent { linear };
    match mode {
        PagingMode::None => Ok(linear & 0xffff_ffff),
        PagingMode::Bits32 => {
            let linear = linear & 0xffff_ffff;
            let pde = entry_at((cr3 & 0xffff_f000) + ((linear >> 22) & 0x3ff) * 4)? & 0xffff_ffff;
            if pde & PRESENT == 0 {
                return Err(missing);
            }
            if pde & PAGE_SIZE != 0 && cr4 & CR4_PSE != 0 {
                return Ok((pde & 0xffc0_0000) | (linear & 0x3f_ffff));
            }
            let pte = entry_at((pde & 0xffff_f000) + ((linear >> 12) & 0x3ff) * 4)? & 0xffff_ffff;
            if pte & PRESENT == 0 {
                return Err(missing);
            }
            Ok((pte & 0xffff_f000) | (linear & 0xfff))
        }
        PagingMode::Pae => {
            let linear = linear & 0xffff_ffff;
            let pdpte = entry_at((cr3 & 0xffff_ffe0) + ((linear >> 30) & 3) * 8)?;
            if pdpte & PRESENT == 0 {
                return Err(missing);
            }
            walk_from(&mut entry_at, pdpte & ADDRESS_64, linear, 1, missing)
        }
        PagingMode::Level4 => {
            let pml4e = entry_at((cr3 & ADDRESS_64) + ((linear >> 39) & 0x1ff) * 8)?;
            if pml4e & PRESENT == 0 {
                return Err(missing);
            }
            let pdpte = entry_at((pml4e & ADDRESS_64) + ((linear >> 30) & 0x1ff) * 8)?;
            if pdpte & PRESENT == 0 {
                return Err(missing);
            }
            if pdpte & PAGE_SIZE != 0 {
                return Ok((pdpte & ADDRESS_64 & !0x3fff_ffff) | (linear & 0x3fff_ffff));
            }
            walk_from(&mut entry_at, pdpte & ADDRESS_64, linear, 1, missing)
        }
    }
}

/// The PD and PT levels, shared by PAE and 4-level paging.
fn walk_from(
    entry_at: &mut impl FnMut(u64) -> Result<u64, WalkError>,
    directory: u64,
    linear: u64,
    _level: u32,
    missing: WalkError,
) -> Result<u64, WalkError> {
    let pde = entry_at(directory + ((linear >> 21) & 0x1ff) * 8)?;
    if pde & PRESENT == 0 {
        return Err(missing);
    }
    if pde & PAGE_SIZE != 0 {
        return Ok((pde & ADDRESS_64 & !0x1f_ffff) | (linear & 0x1f_ffff));
    }
    let pte = entry_at((pde & ADDRESS_64) + ((linear >> 12) & 0x1ff) * 8)?;
    if pte & PRESENT == 0 {
        return Err(missing);
    }
    Ok((pte & ADDRESS_64) | (linear & 0xfff))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn memory(entries: &[(u64, u64)]) -> impl FnMut(u64) -> Option<u64> + '_ {
        let map: HashMap<u64, u64> = entries.iter().copied().collect();
        move |gpa| {
            if gpa < 0x100_0000 {
                Some(*map.get(&gpa).unwrap_or(&0))
            } else {
                None
            }
        }
    }

    #[test]
    fn mode_follows_control_registers() {
        assert_eq!(PagingMode::from_registers(0x11, 0, 0), PagingMode::None);
        assert_eq!(
            PagingMode::from_registers(0x8000_0011, 0, 0),
            PagingMode::Bits32
        );
        assert_eq!(
            PagingMode::from_registers(0x8000_0011, 0x20, 0),
            PagingMode::Pae
        );
        assert_eq!(
            PagingMode::from_registers(0x8000_0011, 0x20, 0x500),
            PagingMode::Level4
        );
    }

    #[test]
    fn four_level_walk_with_4k_2m_and_1g_pages() {
        let tables = [
            (0x1000, 0x2003),             // PML4[0] -> PDPT
            (0x2000, 0x3003),             // PDPT[0] -> PD
            (0x2008, 0x4000_0083),        // PDPT[1]: 1 GiB page at 1 GiB
            (0x3000, 0x4003),             // PD[0] -> PT
            (0x3008, 0x0060_0083),        // PD[1]: 2 MiB page at 6 MiB
            (0x4000 + 5 * 8, 0x9000 | 3), // PT[5]: 0x5000 -> 0x9000
        ];
        let mut read = memory(&tables);
        assert_eq!(
            translate(PagingMode::Level4, 0x1000, 0x20, 0x5123, &mut read),
            Ok(0x9123)
        );
        assert_eq!(
            translate(PagingMode::Level4, 0x1000, 0x20, 0x20_0042, &mut read),
            Ok(0x60_0042)
        );
        assert_eq!(
            translate(PagingMode::Level4, 0x1000, 0x20, 0x4123_4567, &mut read),
            Ok(0x4123_4567)
        );
        assert_eq!(
            translate(PagingMode::Level4, 0x1000, 0x20, 0x6000, &mut read),
            Err(WalkError::NotPresent { linear: 0x6000 })
        );
    }

    #[test]
    fn thirty_two_bit_walk_with_4m_pages() {
        let tables = [
            (0x1000, 0x2003),
            (0x1004, 0x0080_0083),
            (0x2000 + 3 * 4, 0x7003),
        ];
        let mut read = memory(&tables);
        assert_eq!(
            translate(PagingMode::Bits32, 0x1000, CR4_PSE, 0x3abc, &mut read),
            Ok(0x7abc)
        );
        assert_eq!(
            translate(PagingMode::Bits32, 0x1000, CR4_PSE, 0x40_1234, &mut read),
            Ok(0x80_1234)
        );
    }

    #[test]
    fn tables_outside_ram_are_reported() {
        let tables = [(0x1000, 0x0200_0003)];
        let mut read = memory(&tables);
        assert_eq!(
            translate(PagingMode::Level4, 0x1000, 0x20, 0x10, &mut read),
            Err(WalkError::TableOutsideRam { gpa: 0x0200_0000 })
        );
    }

    #[test]
    fn no_paging_is_identity_within_4g() {
        assert_eq!(
            translate(PagingMode::None, 0, 0, 0x1_2345_6789, |_| None),
            Ok(0x2345_6789)
        );
    }
}
