//! Platform self-tests: the MADT lists the CPUs we were given; VMXON works with EPT and
//! unrestricted guest.

use super::{Context, fail};
use crate::exit::ExitStatus;

pub fn madt_lists_cpus(context: &Context<'_>) -> ExitStatus {
    let Some(platform) = context.platform else {
        return fail(format_args!("no ACPI tables"));
    };
    let found = platform.local_apic_ids.len() as u32;
    match context.options.expect_cpus {
        Some(expected) if expected != found => {
            fail(format_args!("MADT lists {found} CPUs, expected {expected}"))
        }
        _ if platform.io_apics.is_empty() => fail(format_args!("MADT lists no I/O APIC")),
        _ => {
            log::info!("MADT lists {found} CPUs");
            ExitStatus::Success
        }
    }
}

pub fn vmxon_with_ept(context: &Context<'_>) -> ExitStatus {
    let Some(caps) = context.vmx.caps else {
        return fail(format_args!("no VT-x on this CPU"));
    };
    if let Err(error) = context.vmx.vmxon {
        return fail(format_args!("VMXON: {error}"));
    }
    if !caps.has_ept() || !caps.has_unrestricted_guest() {
        return fail(format_args!("EPT or unrestricted guest missing"));
    }
    log::info!("VMXON/VMXOFF ok with EPT and unrestricted guest");
    ExitStatus::Success
}
