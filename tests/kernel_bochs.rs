//! The hypervisor under Bochs, whose CPU emulates VT-x with EPT: VMXON and the capability
//! report.

use hv_tests::{bochs, boot};

#[test]
fn vmxon_succeeds_and_reports_ept_and_unrestricted_guest() {
    boot(bochs("test=vmx"))
        .expect_success()
        .expect_line("VMX basic: revision")
        .expect_line("VMX EPT: yes, unrestricted guest: yes")
        .expect_line("VMXON ok");
}

#[test]
fn apic_timer_rate_matches_pit_in_x2apic_mode() {
    boot(bochs("test=timer apic=x2apic"))
        .expect_success()
        .expect_line("in X2Apic mode")
        .expect_line("APIC timer periodic at 1000 Hz");
}

#[test]
fn apic_timer_rate_matches_pit_in_xapic_mode() {
    boot(bochs("test=timer apic=xapic timer_hz=100"))
        .expect_success()
        .expect_line("in XApic mode");
}

#[test]
fn heap_stress_passes_under_bochs() {
    boot(bochs("test=heap"))
        .expect_success()
        .expect_line("heap stress: ");
}
