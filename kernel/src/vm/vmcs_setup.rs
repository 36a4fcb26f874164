//! Programming a VMCS: controls computed from the capability MSRs (never fixed masks), the
//! host state this hypervisor returns to, and the guest's initial state for each entry mode
//! (Intel SDM Vol. 3C, 25.4–25.8 and 27.2–27.3 for what VM entry checks).

use x86_64::instructions::tables::sidt;
use x86_64::registers::control::{Cr0, Cr3, Cr4};
use x86_64::registers::model_specific::Msr;

use crate::arch::x86_64::gdt;
use crate::vmx::caps::{
    EntryControls, ExitControls, PinControls, PrimaryControls, SecondaryControls,
    UnsupportedControls, VmxCapabilities,
};
use crate::vmx::entry;
use crate::vmx::fields::VmcsField as F;
use crate::vmx::vmcs::{self, VmFail};

/// IA32_EFER.
pub const IA32_EFER: u32 = 0xc000_0080;
/// IA32_PAT.
pub const IA32_PAT: u32 = 0x277;
/// EFER.LME: long mode enable.
pub const EFER_LME: u64 = 1 << 8;
/// EFER.LMA: long mode active.
pub const EFER_LMA: u64 = 1 << 10;
/// CR0.PE.
pub const CR0_PE: u64 = 1 << 0;
/// CR0.MP.
pub const CR0_MP: u64 = 1 << 1;
/// CR0.ET.
pub const CR0_ET: u64 = 1 << 4;
/// CR0.NE: must stay 1 in VMX operation, so the hypervisor owns it and shows the guest its own.
pub const CR0_NE: u64 = 1 << 5;
/// CR0.WP.
pub const CR0_WP: u64 = 1 << 16;
/// CR0.PG.
pub const CR0_PG: u64 = 1 << 31;
/// CR4.PAE.
pub const CR4_PAE: u64 = 1 << 5;
/// CR4.VMXE: must stay 1 in VMX operation; hidden from the guest.
pub const CR4_VMXE: u64 = 1 << 13;
/// RFLAGS bit 1, always set.
pub const RFLAGS_FIXED: u64 = 1 << 1;
/// The power-on PAT value.
pub const PAT_DEFAULT: u64 = 0x0007_0406_0007_0406;
/// VMCS link pointer value meaning "no shadow VMCS".
const NO_LINK: u64 = u64::MAX;
/// DR7 after reset.
const DR7_RESET: u64 = 0x400;

/// Segment access rights (SDM Vol. 3C, table 25-2): present, descriptor type, type.
pub mod access {
    /// Present, code/data, 64-bit code (L), 4 KiB granularity, type 11 (execute/read, accessed).
    pub const CODE64: u32 = 0xa09b;
    /// Present, code/data, 32-bit, 4 KiB granularity, type 3 (read/write, accessed).
    pub const DATA32: u32 = 0xc093;
    /// Present, code/data, 16-bit, type 11: a real-mode code segment.
    pub const CODE16: u32 = 0x009b;
    /// Present, code/data, 16-bit, type 3: a real-mode data segment.
    pub const DATA16: u32 = 0x0093;
    /// Present, system, type 11: a busy 64-bit (or 32-bit) TSS.
    pub const TSS_BUSY: u32 = 0x008b;
    /// Bit 16: the segment is unusable.
    pub const UNUSABLE: u32 = 1 << 16;
}

/// Why the VMCS could not be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupError {
    /// The CPU lacks a control the hypervisor needs (which field, which bits).
    Unsupported { field: &'static str, missing: u32 },
    /// A VMWRITE failed.
    Vmwrite(F, VmFail),
}

impl core::fmt::Display for SetupError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SetupError::Unsupported { field, missing } => {
                write!(f, "the CPU does not offer {field} controls {missing:#x}")
            }
            SetupError::Vmwrite(field, fail) => write!(f, "VMWRITE {field:?}: {fail}"),
        }
    }
}

/// VMWRITE, naming the field on failure.
pub fn write(field: F, value: u64) -> Result<(), SetupError> {
    vmcs::write(field, value).map_err(|fail| SetupError::Vmwrite(field, fail))
}

fn adjust(
    field: &'static str,
    caps: crate::vmx::caps::ControlCaps,
    wanted: u32,
) -> Result<u32, SetupError> {
    caps.adjust(wanted)
        .map_err(|UnsupportedControls { missing }| SetupError::Unsupported { field, missing })
}

/// Physical addresses of the structures the controls point to.
#[derive(Debug, Clone, Copy)]
pub struct ControlStructures {
    pub io_bitmap_a: u64,
    pub io_bitmap_b: u64,
    pub msr_bitmap: u64,
    pub eptp: u64,
    pub vpid: u16,
}

/// Program the execution, exit and entry controls. `long_mode` sets "IA-32e mode guest".
pub fn controls(
    caps: &VmxCapabilities,
    structures: &ControlStructures,
    long_mode: bool,
) -> Result<(), SetupError> {
    // Virtual NMIs make the CPU track the guest's NMI blocking, which NMI-window exiting needs.
    let mut wanted_pin = PinControls::EXTERNAL_INTERRUPT_EXITING
        | PinControls::NMI_EXITING
        | PinControls::VIRTUAL_NMIS;
    if caps.has_preemption_timer() {
        wanted_pin |= PinControls::PREEMPTION_TIMER;
    }
    let pin = adjust("pin-based", caps.pin, wanted_pin.bits())?;
    let primary = adjust(
        "primary",
        caps.primary,
        (PrimaryControls::HLT_EXITING
            | PrimaryControls::USE_IO_BITMAPS
            | PrimaryControls::USE_MSR_BITMAPS
            | PrimaryControls::ACTIVATE_SECONDARY_CONTROLS)
            .bits(),
    )?;
    let mut wanted_secondary =
        SecondaryControls::ENABLE_EPT | SecondaryControls::UNRESTRICTED_GUEST;
    // Optional: offered to the guest when the CPU has them (else these instructions #UD there).
    for optional in [
        SecondaryControls::ENABLE_RDTSCP,
        SecondaryControls::ENABLE_INVPCID,
        SecondaryControls::ENABLE_XSAVES,
    ] {
        if caps.secondary.supports(optional.bits()) {
            wanted_secondary |= optional;
        }
    }
    if structures.vpid != 0 && caps.has_vpid() {
        wanted_secondary |= SecondaryControls::ENABLE_VPID;
    }
    let secondary = adjust("secondary", caps.secondary, wanted_secondary.bits())?;
    let exit = adjust(
        "VM-exit",
        caps.exit,
        (ExitControls::HOST_ADDRESS_SPACE_SIZE
            | ExitControls::SAVE_IA32_EFER
            | ExitControls::LOAD_IA32_EFER
            | ExitControls::SAVE_IA32_PAT
            | ExitControls::LOAD_IA32_PAT)
            .bits(),
    )?;
    let mut wanted_entry = EntryControls::LOAD_IA32_EFER | EntryControls::LOAD_IA32_PAT;
    if long_mode {
        wanted_entry |= EntryControls::IA32E_MODE_GUEST;
    }
    let entry = adjust("VM-entry", caps.entry, wanted_entry.bits())?;

    write(F::PinBasedControls, u64::from(pin))?;
    write(F::PrimaryProcessorControls, u64::from(primary))?;
    write(F::SecondaryProcessorControls, u64::from(secondary))?;
    write(F::ExitControls, u64::from(exit))?;
    write(F::EntryControls, u64::from(entry))?;
    write(F::ExceptionBitmap, 0)?;
    write(F::PageFaultErrorCodeMask, 0)?;
    write(F::PageFaultErrorCodeMatch, 0)?;
    write(F::Cr3TargetCount, 0)?;
    write(F::ExitMsrStoreCount, 0)?;
    write(F::ExitMsrLoadCount, 0)?;
    write(F::EntryMsrLoadCount, 0)?;
    write(F::EntryInterruptionInfo, 0)?;
    write(F::IoBitmapA, structures.io_bitmap_a)?;
    write(F::IoBitmapB, structures.io_bitmap_b)?;
    write(F::MsrBitmap, structures.msr_bitmap)?;
    write(F::EptPointer, structures.eptp)?;
    if secondary & SecondaryControls::ENABLE_VPID.bits() != 0 {
        write(F::VirtualProcessorId, u64::from(structures.vpid))?;
    }
    write(F::VmcsLinkPointer, NO_LINK)?;
    // CR0.NE and CR4.VMXE belong to the hypervisor; the guest sees its own values in the
    // read shadows and a write that changes them exits.
    write(F::Cr0GuestHostMask, CR0_NE)?;
    write(F::Cr4GuestHostMask, CR4_VMXE)?;
    Ok(())
}

/// Program the host-state area: where a VM exit lands (this CPU's current state).
pub fn host_state() -> Result<(), SetupError> {
    write(F::HostCr0, Cr0::read_raw())?;
    write(F::HostCr3, Cr3::read().0.start_address().as_u64())?;
    write(F::HostCr4, Cr4::read_raw())?;
    let code = u64::from(gdt::code_selector().0);
    let data = u64::from(gdt::data_selector().0);
    write(F::HostCsSelector, code)?;
    for field in [F::HostSsSelector, F::HostDsSelector, F::HostEsSelector] {
        write(field, data)?;
    }
    write(F::HostFsSelector, 0)?;
    write(F::HostGsSelector, 0)?;
    write(F::HostTrSelector, u64::from(gdt::tss_selector().0))?;
    write(F::HostFsBase, 0)?;
    write(F::HostGsBase, 0)?;
    write(F::HostTrBase, gdt::tss_base())?;
    write(F::HostGdtrBase, gdt::gdt_base())?;
    write(F::HostIdtrBase, sidt().base.as_u64())?;
    write(F::HostIa32SysenterCs, 0)?;
    write(F::HostSysenterEsp, 0)?;
    write(F::HostSysenterEip, 0)?;
    // SAFETY: EFER and PAT exist on every x86_64 CPU; reading them has no side effects.
    let (efer, pat) = unsafe { (Msr::new(IA32_EFER).read(), Msr::new(IA32_PAT).read()) };
    write(F::HostIa32Efer, efer)?;
    write(F::HostIa32Pat, pat)?;
    write(F::HostRip, entry::exit_stub_address())?;
    Ok(())
}

/// A segment register's guest state.
#[derive(Debug, Clone, Copy)]
pub struct Segment {
    pub selector: u16,
    pub base: u64,
    pub limit: u32,
    pub access: u32,
}

/// The guest's initial architectural state.
#[derive(Debug, Clone, Copy)]
pub struct GuestState {
    pub cr0: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub efer: u64,
    pub rip: u64,
    pub rsp: u64,
    pub rflags: u64,
    pub cs: Segment,
    pub data: Segment,
    pub tr: Segment,
    pub gdtr: (u64, u32),
    pub idtr: (u64, u32),
}

/// Program the guest-state area. CR0/CR4 get the VMX-required bits; the read shadows hold
/// what the guest asked for.
pub fn guest_state(caps: &VmxCapabilities, state: &GuestState) -> Result<(), SetupError> {
    // With unrestricted guest, PE and PG may be 0 even though CR0_FIXED0 has them.
    let unrestricted_fixed0 = caps.cr0_fixed0 & !(CR0_PE | CR0_PG);
    write(
        F::GuestCr0,
        (state.cr0 | unrestricted_fixed0) & caps.cr0_fixed1,
    )?;
    write(F::Cr0ReadShadow, state.cr0)?;
    write(F::GuestCr3, state.cr3)?;
    write(F::GuestCr4, caps.fix_cr4(state.cr4))?;
    write(F::Cr4ReadShadow, state.cr4)?;
    write(F::GuestIa32Efer, state.efer)?;
    write(F::GuestIa32Pat, PAT_DEFAULT)?;
    write(F::GuestIa32Debugctl, 0)?;
    write(F::GuestDr7, DR7_RESET)?;
    write(F::GuestRip, state.rip)?;
    write(F::GuestRsp, state.rsp)?;
    write(F::GuestRflags, state.rflags | RFLAGS_FIXED)?;
    let segment =
        |selector: F, base: F, limit: F, access: F, s: &Segment| -> Result<(), SetupError> {
            write(selector, u64::from(s.selector))?;
            write(base, s.base)?;
            write(limit, u64::from(s.limit))?;
            write(access, u64::from(s.access))
        };
    segment(
        F::GuestCsSelector,
        F::GuestCsBase,
        F::GuestCsLimit,
        F::GuestCsAccessRights,
        &state.cs,
    )?;
    for (selector, base, limit, access) in [
        (
            F::GuestDsSelector,
            F::GuestDsBase,
            F::GuestDsLimit,
            F::GuestDsAccessRights,
        ),
        (
            F::GuestEsSelector,
            F::GuestEsBase,
            F::GuestEsLimit,
            F::GuestEsAccessRights,
        ),
        (
            F::GuestFsSelector,
            F::GuestFsBase,
            F::GuestFsLimit,
            F::GuestFsAccessRights,
        ),
        (
            F::GuestGsSelector,
            F::GuestGsBase,
            F::GuestGsLimit,
            F::GuestGsAccessRights,
        ),
        (
            F::GuestSsSelector,
            F::GuestSsBase,
            F::GuestSsLimit,
            F::GuestSsAccessRights,
        ),
    ] {
        segment(selector, base, limit, access, &state.data)?;
    }
    segment(
        F::GuestTrSelector,
        F::GuestTrBase,
        F::GuestTrLimit,
        F::GuestTrAccessRights,
        &state.tr,
    )?;
    let ldtr = Segment {
        selector: 0,
        base: 0,
        limit: 0,
        access: access::UNUSABLE,
    };
    segment(
        F::GuestLdtrSelector,
        F::GuestLdtrBase,
        F::GuestLdtrLimit,
        F::GuestLdtrAccessRights,
        &ldtr,
    )?;
    write(F::GuestGdtrBase, state.gdtr.0)?;
    write(F::GuestGdtrLimit, u64::from(state.gdtr.1))?;
    write(F::GuestIdtrBase, state.idtr.0)?;
    write(F::GuestIdtrLimit, u64::from(state.idtr.1))?;
    write(F::GuestSysenterCs, 0)?;
    write(F::GuestSysenterEsp, 0)?;
    write(F::GuestSysenterEip, 0)?;
    write(F::GuestInterruptibility, 0)?;
    write(F::GuestActivityState, 0)?;
    write(F::GuestPendingDebugExceptions, 0)?;
    Ok(())
}
