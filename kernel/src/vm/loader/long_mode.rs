//! The long-mode environment the hypervisor builds for a 64-bit guest, in guest RAM below
//! [`RESERVED_END`]: an identity map of guest-physical 0–4 GiB with 2 MiB pages (so device
//! MMIO is reachable), a GDT with a 64-bit code segment, a data segment and a TSS.
//! Entered with paging, PAE and long mode on, CS = 0x08, data = 0x10, TR = 0x18.

use super::LoadError;
use crate::vm::memory::GuestMemory;
use crate::vm::vmcs_setup::{
    CR0_ET, CR0_MP, CR0_NE, CR0_PE, CR0_PG, CR0_WP, CR4_PAE, EFER_LMA, EFER_LME, GuestState,
    Segment, access,
};

/// The PML4.
pub const PML4: u64 = 0x1000;
/// The one PDPT.
const PDPT: u64 = 0x2000;
/// Four page directories (one per GiB) at 0x3000–0x6FFF.
const PAGE_DIRECTORIES: u64 = 0x3000;
/// The GDT.
const GDT: u64 = 0x7000;
/// The TSS the guest's TR points at.
const TSS: u64 = 0x7100;
/// Everything below this is the loader's.
pub const RESERVED_END: u64 = 0x8000;
/// GiB identity-mapped.
const MAPPED_GIB: u64 = 4;
/// Page-table entry: present, writable.
const PRESENT_WRITABLE: u64 = 0b11;
/// Page-directory entry: a 2 MiB page.
const HUGE_PAGE: u64 = 1 << 7;
const TWO_MIB: u64 = 1 << 21;
/// GDT descriptors: 64-bit code, flat data.
const GDT_CODE64: u64 = 0x00af_9b00_0000_ffff;
const GDT_DATA: u64 = 0x00cf_9300_0000_ffff;
const TSS_LIMIT: u64 = 0x67;
/// 64-bit TSS descriptor type 9 (available), present.
const TSS_DESCRIPTOR_TYPE: u64 = 0x89;
const DESCRIPTOR_BYTES: u16 = 8;

/// Which selectors the GDT gives the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GdtLayout {
    /// null, code 0x08, data 0x10, TSS 0x18 (this hypervisor's ELF guests).
    Flat,
    /// null, null, code 0x10 (`__BOOT_CS`), data 0x18 (`__BOOT_DS`), TSS 0x20: what the Linux
    /// 64-bit boot protocol asks for.
    LinuxBoot,
}

impl GdtLayout {
    /// Index of the code descriptor.
    fn code_index(self) -> u16 {
        match self {
            GdtLayout::Flat => 1,
            GdtLayout::LinuxBoot => 2,
        }
    }
}
/// Bytes left between the stack pointer and the end of RAM.
const STACK_RED_ZONE: u64 = 16;

/// Write the tables and give the entry state for `entry`.
pub fn build(memory: &GuestMemory, entry: u64, layout: GdtLayout) -> Result<GuestState, LoadError> {
    if memory.size() < RESERVED_END + TWO_MIB {
        return Err(LoadError::OutOfRam {
            gpa: 0,
            len: memory.size(),
        });
    }
    memory.write_u64(PML4, PDPT | PRESENT_WRITABLE)?;
    for gib in 0..MAPPED_GIB {
        let directory = PAGE_DIRECTORIES + gib * 0x1000;
        memory.write_u64(PDPT + gib * 8, directory | PRESENT_WRITABLE)?;
        for entry_index in 0..512 {
            let address = (gib * 512 + entry_index) * TWO_MIB;
            memory.write_u64(
                directory + entry_index * 8,
                address | PRESENT_WRITABLE | HUGE_PAGE,
            )?;
        }
    }
    let tss_low = TSS_LIMIT
        | ((TSS & 0xff_ffff) << 16)
        | (TSS_DESCRIPTOR_TYPE << 40)
        | (((TSS >> 24) & 0xff) << 56);
    let tss_high = TSS >> 32;
    let code = layout.code_index();
    memory.write(GDT, &[0; 8 * 8])?;
    for (index, descriptor) in [GDT_CODE64, GDT_DATA, tss_low, tss_high]
        .into_iter()
        .enumerate()
    {
        memory.write_u64(GDT + (u64::from(code) + index as u64) * 8, descriptor)?;
    }
    let code_selector = code * DESCRIPTOR_BYTES;
    let data_selector = code_selector + DESCRIPTOR_BYTES;
    let tss_selector = data_selector + DESCRIPTOR_BYTES;
    let gdt_bytes = u32::from(tss_selector + 2 * DESCRIPTOR_BYTES);
    memory.write(TSS, &[0; TSS_LIMIT as usize + 1])?;
    let flat = |selector, access| Segment {
        selector,
        base: 0,
        limit: u32::MAX,
        access,
    };
    Ok(GuestState {
        cr0: CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG,
        cr3: PML4,
        cr4: CR4_PAE,
        efer: EFER_LME | EFER_LMA,
        rip: entry,
        rsp: memory.size() - STACK_RED_ZONE,
        rflags: 0,
        cs: flat(code_selector, access::CODE64),
        data: flat(data_selector, access::DATA32),
        tr: Segment {
            selector: tss_selector,
            base: TSS,
            limit: TSS_LIMIT as u32,
            access: access::TSS_BUSY,
        },
        gdtr: (GDT, gdt_bytes - 1),
        idtr: (0, 0),
    })
}
