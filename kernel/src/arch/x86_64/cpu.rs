//! What CPUID says about the processor, decoded by `raw-cpuid`: vendor, model, and the
//! features the hypervisor depends on.

use raw_cpuid::CpuId;

/// Log one line of identity and one of the features that matter here.
pub fn log_identity() {
    let cpuid = CpuId::new();
    let vendor = cpuid.get_vendor_info();
    let brand = cpuid.get_processor_brand_string();
    let features = cpuid.get_feature_info();
    log::info!(
        "CPU: {} {}, family {:#x} model {:#x} stepping {}",
        vendor.as_ref().map_or("unknown vendor", |v| v.as_str()),
        brand.as_ref().map_or("", |b| b.as_str().trim()),
        features.as_ref().map_or(0, |f| f.family_id()),
        features.as_ref().map_or(0, |f| f.model_id()),
        features.as_ref().map_or(0, |f| f.stepping_id()),
    );
    let flag = |present: bool| if present { "yes" } else { "no" };
    if let Some(f) = features {
        log::info!(
            "CPUID: VMX {}, x2APIC {}, TSC-deadline {}, XSAVE {}, hypervisor bit {}",
            flag(f.has_vmx()),
            flag(f.has_x2apic()),
            flag(f.has_tsc_deadline()),
            flag(f.has_xsave()),
            flag(f.has_hypervisor())
        );
    }
    if let Some(tsc) = cpuid.get_tsc_info() {
        log::info!(
            "CPUID 0x15: TSC/crystal {}/{}, crystal {} Hz{}",
            tsc.numerator(),
            tsc.denominator(),
            tsc.nominal_frequency(),
            if tsc.nominal_frequency() == 0 {
                " (not enumerated: calibrating against the PIT)"
            } else {
                ""
            }
        );
    }
}
