//! A virtual CPU: its VMCS, the general-purpose registers the VMCS does not hold, the I/O and
//! MSR bitmaps, and the helpers exit handlers use (RIP, mode, exception injection).

use devices::insn::{self, Mode};
use x86_64::PhysAddr;
use x86_64::registers::model_specific::Msr;
use x86_64::registers::xcontrol::XCr0;
use x86_64::structures::paging::PhysFrame;

use super::loader::Loaded;
use super::vmcs_setup::{self, ControlStructures, SetupError};
use crate::mm::frames::FrameError;
use crate::mm::physical;
use crate::vmx::caps::VmxCapabilities;
use crate::vmx::entry::{self, GuestRegisters, gpr};
use crate::vmx::fields::VmcsField as F;
use crate::vmx::vmcs::{self, VmFail, Vmcs};

/// MSRs the guest reads and writes directly (the CPU switches them through the VMCS, or the
/// hypervisor never uses them and clears them before each VM starts).
pub const PASSTHROUGH_MSRS: [u32; 12] = [
    0x174,       // IA32_SYSENTER_CS
    0x175,       // IA32_SYSENTER_ESP
    0x176,       // IA32_SYSENTER_EIP
    0x277,       // IA32_PAT
    0xc000_0081, // IA32_STAR
    0xc000_0082, // IA32_LSTAR
    0xc000_0083, // IA32_CSTAR
    0xc000_0084, // IA32_FMASK
    0xc000_0100, // IA32_FS_BASE
    0xc000_0101, // IA32_GS_BASE
    0xc000_0102, // IA32_KERNEL_GS_BASE
    0xc000_0103, // IA32_TSC_AUX
];
/// MSRs the guest may read directly but whose writes exit.
pub const READ_ONLY_PASSTHROUGH_MSRS: [u32; 1] = [0x10]; // IA32_TSC
/// MSRs VMX does not switch: each vCPU keeps its own values, swapped in and out with it (and
/// zero for a new vCPU, so no VM inherits another's).
pub const SWITCHED_MSRS: [u32; 6] = [
    0xc000_0081,
    0xc000_0082,
    0xc000_0083,
    0xc000_0084,
    0xc000_0102,
    0xc000_0103,
];

/// MSR bitmap: byte offsets of the four 1 KiB quarters (SDM Vol. 3C, 25.6.9).
const MSR_BITMAP_READ_LOW: usize = 0;
const MSR_BITMAP_READ_HIGH: usize = 1024;
const MSR_BITMAP_WRITE_LOW: usize = 2048;
const MSR_BITMAP_WRITE_HIGH: usize = 3072;
/// First MSR of the high range.
const MSR_HIGH_BASE: u32 = 0xc000_0000;
/// MSRs per range the bitmap covers.
const MSR_RANGE: u32 = 0x2000;

/// VM-entry interruption information: valid (bit 31).
const INTERRUPTION_VALID: u32 = 1 << 31;
/// Bits 10:8 = 3: hardware exception.
const INTERRUPTION_TYPE_HARDWARE_EXCEPTION: u32 = 3 << 8;
/// Bit 11: deliver an error code.
const INTERRUPTION_DELIVER_ERROR_CODE: u32 = 1 << 11;
/// Guest interruptibility bits 0 and 1: blocking by STI, blocking by MOV SS.
const BLOCKING_BY_STI_OR_MOV_SS: u64 = 0b11;
/// CS access rights bit 13: 64-bit code segment (L).
const CS_LONG: u64 = 1 << 13;
/// CS access rights bit 14: default operation size 32 (D/B).
const CS_DEFAULT_32: u64 = 1 << 14;

/// Architectural exception vectors the hypervisor injects.
pub mod vector {
    pub const INVALID_OPCODE: u8 = 6;
    pub const GENERAL_PROTECTION: u8 = 13;
}

/// Why a vCPU could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VcpuError {
    Frames(FrameError),
    Vmx(VmFail),
    Setup(SetupError),
}

impl core::fmt::Display for VcpuError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            VcpuError::Frames(error) => write!(f, "no memory for the VMCS or bitmaps: {error:?}"),
            VcpuError::Vmx(fail) => write!(f, "VMCS instruction failed: {fail}"),
            VcpuError::Setup(error) => write!(f, "VMCS setup: {error}"),
        }
    }
}

struct Frame(u64);

impl Frame {
    fn allocate() -> Result<Self, VcpuError> {
        physical::allocate_zeroed(1, physical::FRAME_BYTES)
            .map(|run| Frame(run.start.start_address().as_u64()))
            .map_err(VcpuError::Frames)
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: the frame was allocated for this object alone and the window maps it.
        unsafe { core::slice::from_raw_parts_mut(physical::to_virtual(self.0) as *mut u8, 4096) }
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        let frame = PhysFrame::containing_address(PhysAddr::new(self.0));
        let _ = physical::with_frames(|frames| frames.free(frame));
    }
}

/// One virtual CPU.
pub struct Vcpu {
    vmcs: Vmcs,
    /// The values of [`SWITCHED_MSRS`] while this vCPU is not on the CPU.
    saved_msrs: [u64; SWITCHED_MSRS.len()],
    /// The guest's XCR0 while this vCPU is not on the CPU (x87 only at reset).
    saved_xcr0: u64,
    pub registers: GuestRegisters,
    launched: bool,
    io_bitmap_a: Frame,
    io_bitmap_b: Frame,
    msr_bitmap: Frame,
}

impl Vcpu {
    /// A vCPU entering `loaded`'s state on the EPT at `eptp`. The VMCS is left current.
    pub fn new(
        caps: &VmxCapabilities,
        eptp: u64,
        vpid: u16,
        loaded: &Loaded,
    ) -> Result<Self, VcpuError> {
        let vmcs = Vmcs::allocate(caps.revision_id).map_err(VcpuError::Frames)?;
        let (mut io_bitmap_a, mut io_bitmap_b, mut msr_bitmap) =
            (Frame::allocate()?, Frame::allocate()?, Frame::allocate()?);
        // Every port exits until a device method says otherwise (passthrough clears bits).
        io_bitmap_a.bytes().fill(0xff);
        io_bitmap_b.bytes().fill(0xff);
        msr_bitmap.bytes().fill(0xff);
        vmcs.clear().map_err(VcpuError::Vmx)?;
        vmcs.load().map_err(VcpuError::Vmx)?;
        let structures = ControlStructures {
            io_bitmap_a: io_bitmap_a.0,
            io_bitmap_b: io_bitmap_b.0,
            msr_bitmap: msr_bitmap.0,
            eptp,
            vpid,
        };
        vmcs_setup::controls(caps, &structures, loaded.long_mode).map_err(VcpuError::Setup)?;
        vmcs_setup::host_state().map_err(VcpuError::Setup)?;
        vmcs_setup::guest_state(caps, &loaded.state).map_err(VcpuError::Setup)?;
        let mut registers = GuestRegisters::default();
        registers.gprs[gpr::RDI] = loaded.rdi;
        registers.gprs[gpr::RSI] = loaded.rsi;
        registers.gprs[gpr::RSP] = loaded.state.rsp;
        let mut vcpu = Vcpu {
            vmcs,
            saved_msrs: [0; SWITCHED_MSRS.len()],
            saved_xcr0: XCR0_X87,
            registers,
            launched: false,
            io_bitmap_a,
            io_bitmap_b,
            msr_bitmap,
        };
        for msr in PASSTHROUGH_MSRS {
            vcpu.set_msr_exits(msr, false, false);
        }
        for msr in READ_ONLY_PASSTHROUGH_MSRS {
            vcpu.set_msr_exits(msr, false, true);
        }
        Ok(vcpu)
    }

    /// Choose whether RDMSR and WRMSR of `msr` exit.
    pub fn set_msr_exits(&mut self, msr: u32, read_exits: bool, write_exits: bool) {
        set_msr_intercept(self.msr_bitmap.bytes(), msr, read_exits, write_exits);
    }

    /// Put this vCPU on the CPU: make its VMCS current and load the guest state VMX does not
    /// switch (the syscall MSRs, KERNEL_GS_BASE, TSC_AUX, XCR0).
    pub fn switch_in(&mut self) -> Result<(), VmFail> {
        self.vmcs.load()?;
        for (msr, value) in SWITCHED_MSRS.iter().zip(self.saved_msrs) {
            // SAFETY: these MSRs exist on every x86_64 CPU with long mode and the hypervisor
            // does not use them (no SYSCALL, no SWAPGS): they only hold guest state.
            unsafe { Msr::new(*msr).write(value) };
        }
        if host_has_xsave_enabled() {
            // SAFETY: CR4.OSXSAVE is set; the value was accepted by the XSETBV checks (or is
            // the reset value), and the hypervisor itself keeps no extended state.
            unsafe { XCr0::write_raw(self.saved_xcr0) };
        }
        Ok(())
    }

    /// Take this vCPU off the CPU, saving what [`switch_in`](Self::switch_in) restores.
    pub fn switch_out(&mut self) {
        for (slot, msr) in self.saved_msrs.iter_mut().zip(SWITCHED_MSRS) {
            // SAFETY: as in `switch_in`: reading these MSRs has no side effects.
            *slot = unsafe { Msr::new(msr).read() };
        }
        if host_has_xsave_enabled() {
            self.saved_xcr0 = XCr0::read_raw();
        }
    }

    /// Enter the guest until its next exit. Interrupts must be off.
    pub fn enter(&mut self) -> Result<(), VmFail> {
        // SAFETY: `new` made this VMCS current and programmed every area; HOST_RIP is the
        // exit stub; the caller disabled interrupts; `launched` tracks the launch state.
        let result = unsafe { entry::enter(&mut self.registers, self.launched) };
        if result.is_ok() {
            self.launched = true;
        }
        result
    }

    /// Let port `port` reach the hardware without an exit (passthrough), or trap it again.
    pub fn set_port_passthrough(&mut self, port: u16, passthrough: bool) {
        let (bitmap, index) = if port < 0x8000 {
            (&mut self.io_bitmap_a, port)
        } else {
            (&mut self.io_bitmap_b, port - 0x8000)
        };
        let byte = &mut bitmap.bytes()[usize::from(index / 8)];
        let bit = 1 << (index % 8);
        if passthrough {
            *byte &= !bit
        } else {
            *byte |= bit
        }
    }

    /// The VMCS region's physical address (diagnostics).
    pub fn vmcs_physical(&self) -> u64 {
        self.vmcs.physical()
    }

    /// Guest RIP.
    pub fn rip(&self) -> u64 {
        read(F::GuestRip)
    }

    /// Move RIP past the exiting instruction (VM-exit instruction length), within the mode's
    /// instruction-pointer width.
    pub fn skip_instruction(&mut self) {
        let length = read(F::ExitInstructionLength);
        let mask = self.mode().instruction_pointer_mask();
        let _ = vmcs::write(F::GuestRip, self.rip().wrapping_add(length) & mask);
        end_instruction_shadow();
    }

    /// The guest's execution mode, from CR0.PE, EFER.LMA and CS.L/CS.D.
    pub fn mode(&self) -> Mode {
        const CR0_PE: u64 = 1;
        if read(F::GuestCr0) & CR0_PE == 0 {
            return Mode::Real16;
        }
        let cs = read(F::GuestCsAccessRights);
        if read(F::GuestIa32Efer) & vmcs_setup::EFER_LMA != 0 && cs & CS_LONG != 0 {
            Mode::Long64
        } else if cs & CS_DEFAULT_32 != 0 {
            Mode::Protected32
        } else {
            Mode::Protected16
        }
    }

    /// Make the next entry deliver hardware exception `vector` (RIP is left on the faulting
    /// instruction). Real-mode guests get no error code, as the architecture says.
    pub fn inject_exception(&mut self, vector: u8, error_code: Option<u32>) {
        let mut info =
            INTERRUPTION_VALID | INTERRUPTION_TYPE_HARDWARE_EXCEPTION | u32::from(vector);
        if let Some(code) = error_code.filter(|_| self.mode() != Mode::Real16) {
            info |= INTERRUPTION_DELIVER_ERROR_CODE;
            let _ = vmcs::write(F::EntryExceptionErrorCode, u64::from(code));
        }
        let _ = vmcs::write(F::EntryInterruptionInfo, u64::from(info));
    }

    /// The registers as the instruction emulator sees them (RSP, RIP and RFLAGS from the VMCS).
    pub fn emulator_registers(&self) -> insn::Registers {
        let mut gprs = self.registers.gprs;
        gprs[gpr::RSP] = read(F::GuestRsp);
        insn::Registers {
            gprs,
            rip: self.rip(),
            rflags: read(F::GuestRflags),
        }
    }

    /// Take the emulator's results back.
    pub fn apply_emulator_registers(&mut self, registers: &insn::Registers) {
        self.registers.gprs = registers.gprs;
        let _ = vmcs::write(F::GuestRsp, registers.gprs[gpr::RSP]);
        let _ = vmcs::write(F::GuestRip, registers.rip);
        let _ = vmcs::write(F::GuestRflags, registers.rflags);
        end_instruction_shadow();
    }
}

/// XCR0 bit 0: x87 state.
const XCR0_X87: u64 = 1;

fn host_has_xsave_enabled() -> bool {
    x86_64::registers::control::Cr4::read().contains(x86_64::registers::control::Cr4Flags::OSXSAVE)
}

/// An emulated instruction completed: the one-instruction STI / MOV SS shadow it sat in is
/// over (an interrupt pending after `sti; hlt` is taken right after the HLT, as on hardware).
fn end_instruction_shadow() {
    let interruptibility = read(F::GuestInterruptibility);
    if interruptibility & BLOCKING_BY_STI_OR_MOV_SS != 0 {
        let _ = vmcs::write(
            F::GuestInterruptibility,
            interruptibility & !BLOCKING_BY_STI_OR_MOV_SS,
        );
    }
}

/// VMREAD of a field the VMCS always has (a failure reads as 0 and is a hypervisor bug that
/// the next VM entry reports).
pub fn read(field: F) -> u64 {
    vmcs::read(field).unwrap_or(0)
}

/// Set or clear the read and write exit bits of `msr` in a 4 KiB MSR bitmap.
pub fn set_msr_intercept(bitmap: &mut [u8], msr: u32, read_exits: bool, write_exits: bool) {
    let (read_base, write_base, index) = if msr < MSR_RANGE {
        (MSR_BITMAP_READ_LOW, MSR_BITMAP_WRITE_LOW, msr)
    } else if (MSR_HIGH_BASE..MSR_HIGH_BASE + MSR_RANGE).contains(&msr) {
        (
            MSR_BITMAP_READ_HIGH,
            MSR_BITMAP_WRITE_HIGH,
            msr - MSR_HIGH_BASE,
        )
    } else {
        return; // Outside both ranges every access exits anyway.
    };
    let (byte, bit) = ((index / 8) as usize, 1u8 << (index % 8));
    for (base, exits) in [(read_base, read_exits), (write_base, write_exits)] {
        if let Some(slot) = bitmap.get_mut(base + byte) {
            if exits { *slot |= bit } else { *slot &= !bit }
        }
    }
}
