//! Intel VT-x: capability discovery and VMX operation (Intel SDM Vol. 3C, chapters 24–25 and
//! appendix A "VMX capability reporting facility").
pub mod caps;
pub mod entry;
pub mod ept;
pub mod exit_reason;
pub mod fields;
pub mod instruction_error;
pub mod invalidate;
pub mod msr;
pub mod vmcs;
pub mod vmxon;

use caps::VmxCapabilities;
use vmxon::{VmxError, VmxonRegion};

use crate::mm::physical;

/// What the boot-time VT-x check found.
#[derive(Debug, Clone, Copy)]
pub struct VmxStatus {
    /// The decoded capabilities, when the CPU has VT-x.
    pub caps: Option<VmxCapabilities>,
    /// The outcome of VMXON (followed by VMXOFF) on the boot CPU.
    pub vmxon: Result<(), VmxError>,
}

/// Probe VT-x, log the capability report, and enter and leave VMX operation once.
/// When VT-x is absent one line says so and the rest of the hypervisor still runs.
pub fn report_and_toggle() -> VmxStatus {
    let caps = match vmxon::probe() {
        Ok(caps) => caps,
        Err(error) => {
            log::warn!("{error}; VMX parts skipped");
            return VmxStatus {
                caps: None,
                vmxon: Err(error),
            };
        }
    };
    for line in alloc::format!("{caps}").lines() {
        log::info!("{line}");
    }
    let frame = match physical::allocate_zeroed(1, physical::FRAME_BYTES) {
        Ok(run) => run.start,
        Err(error) => {
            log::error!("VMXON region: {error:?}");
            return VmxStatus {
                caps: Some(caps),
                vmxon: Err(VmxError::RegionTooSmall {
                    needed: caps.region_size,
                }),
            };
        }
    };
    let physical_address = frame.start_address().as_u64();
    // SAFETY: the frame was just allocated for this region alone and is mapped by the window.
    let bytes = unsafe {
        core::slice::from_raw_parts_mut(
            physical::to_virtual(physical_address) as *mut u8,
            physical::FRAME_BYTES as usize,
        )
    };
    let mut region = VmxonRegion {
        physical: physical_address,
        bytes,
    };
    let result = vmxon::enable(&caps, &mut region);
    match result {
        Ok(()) => {
            log::info!("VMXON ok (region at {physical_address:#x}); VMXOFF");
            vmxon::disable();
        }
        Err(error) => log::error!("{error}"),
    }
    let _ = physical::with_frames(|frames| frames.free(frame));
    VmxStatus {
        caps: Some(caps),
        vmxon: result,
    }
}

/// VMX operation held on for running VMs; dropping it leaves VMX operation.
pub struct VmxOn {
    region: x86_64::structures::paging::PhysFrame,
}

impl Drop for VmxOn {
    fn drop(&mut self) {
        vmxon::disable();
        let _ = physical::with_frames(|frames| frames.free(self.region));
    }
}

/// Enter VMX operation for running VMs (after [`report_and_toggle`] showed it works), and
/// turn on CR4.OSXSAVE where the CPU has XSAVE so guests can use XSETBV.
pub fn enable_for_vms(caps: &VmxCapabilities) -> Result<VmxOn, VmxError> {
    use x86_64::registers::control::{Cr4, Cr4Flags};
    let has_xsave = raw_cpuid::CpuId::new()
        .get_feature_info()
        .is_some_and(|f| f.has_xsave());
    if has_xsave {
        // SAFETY: the CPU has XSAVE, so OSXSAVE may be set; the hypervisor uses no extended
        // state itself, this only lets XSETBV run on the guest's behalf.
        unsafe { Cr4::update(|flags| flags.insert(Cr4Flags::OSXSAVE)) };
    }
    let frame = physical::allocate_zeroed(1, physical::FRAME_BYTES)
        .map_err(|_| VmxError::RegionTooSmall {
            needed: caps.region_size,
        })?
        .start;
    let physical_address = frame.start_address().as_u64();
    // SAFETY: the frame was just allocated for this region alone and is mapped by the window.
    let bytes = unsafe {
        core::slice::from_raw_parts_mut(
            physical::to_virtual(physical_address) as *mut u8,
            physical::FRAME_BYTES as usize,
        )
    };
    let mut region = VmxonRegion {
        physical: physical_address,
        bytes,
    };
    if let Err(error) = vmxon::enable(caps, &mut region) {
        let _ = physical::with_frames(|frames| frames.free(frame));
        return Err(error);
    }
    Ok(VmxOn { region: frame })
}
