//! Self-tests the host test-suite selects with `test=<name>` on the boot command line. Each
//! returns the run's exit status; the integration tests in `tests/` judge it and the log.

mod exceptions;
mod memory;
mod platform;
mod timer;

use crate::acpi_tables::PlatformSummary;
use crate::cmdline::Options;
use crate::exit::ExitStatus;
use crate::vmx::VmxStatus;

/// The PIT window the APIC timer is calibrated over.
pub const CALIBRATION_WINDOW_MICROS: u64 = 50_000;

/// What a self-test may look at.
pub struct Context<'a> {
    pub options: &'a Options<'a>,
    pub platform: Option<&'a PlatformSummary>,
    pub vmx: VmxStatus,
}

/// A self-test: looks at the context, returns the run's status.
pub type SelfTest = fn(&Context<'_>) -> ExitStatus;

/// The self-tests by name.
pub const TESTS: &[(&str, SelfTest)] = &[
    ("breakpoint", exceptions::breakpoint_returns),
    ("page_fault", exceptions::page_fault_is_reported),
    ("triple_fault", exceptions::triple_fault),
    ("hang", exceptions::hang),
    ("heap", memory::heap_stress),
    ("frames", memory::frame_exhaustion),
    ("paging", memory::map_and_unmap),
    ("timer", timer::rate_matches_pit),
    ("madt", platform::madt_lists_cpus),
    ("vmx", platform::vmxon_with_ept),
];

/// Run the named self-test.
pub fn run(name: &str, context: &Context<'_>) -> ExitStatus {
    let Some((_, test)) = TESTS.iter().find(|(test, _)| *test == name) else {
        log::error!("no self-test named `{name}`");
        return ExitStatus::BadCommandLine;
    };
    log::info!("self-test `{name}` starting");
    let status = test(context);
    match status {
        ExitStatus::Success => log::info!("self-test `{name}` passed"),
        other => log::error!("self-test `{name}` failed: {other:?}"),
    }
    status
}

/// Log a failed check and give the failure status.
fn fail(why: core::fmt::Arguments<'_>) -> ExitStatus {
    log::error!("check failed: {why}");
    ExitStatus::TestFailed
}
