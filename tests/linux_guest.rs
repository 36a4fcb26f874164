//! An unmodified Debian Linux kernel (linux-image-*-cloud-amd64, fetched with `apt-get
//! download` into a cache by the host tool) boots under the hypervisor to a busybox init that
//! prints a marker, shows the timer ticking in /proc/interrupts, prints the date from the RTC
//! and ends the VM with `reboot -f`. Under Bochs always; under QEMU+KVM where /dev/kvm offers
//! nested VT-x (skipped with a message otherwise). A second Bochs run gives the VM APICs and ACPI
//! tables.

use std::time::Duration;

use boot::linux::{self, InitramfsSpec, MarkerReport};
use boot::{Emulator, HostProbe, RunConfig};
use hv_tests::boot as run;

/// Bochs boots this kernel to the marker in ~15 s bare; under the hypervisor (every port
/// access and timer interrupt an exit) it takes a few minutes on a loaded 2-core machine.
const LINUX_TIMEOUT: Duration = Duration::from_secs(900);
/// Machine memory for the run (the VM gets 256 MiB of it).
const MACHINE_MIB: u32 = 1024;

/// The guest's console lines (tagged `[debian]` on the hypervisor console), untagged.
fn guest_log(serial: &str) -> String {
    serial
        .lines()
        .filter_map(|line| line.strip_prefix("[debian] "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn linux_run(
    emulator: Emulator,
    options: &str,
) -> (hv_tests::Outcome, Result<MarkerReport, String>) {
    let assets = linux::assets(&linux::default_cache_dir()).expect("Debian kernel and busybox");
    let dir = tempfile::tempdir().expect("temporary directory");
    let initrd = dir.path().join("debian.initrd");
    linux::initramfs(&assets, &InitramfsSpec::default(), &initrd).expect("initramfs");
    let cmdline = dir.path().join("debian.cmdline");
    std::fs::write(&cmdline, linux::DEFAULT_CMDLINE).expect("command line file");
    let mut config = RunConfig::new(emulator)
        .with_cmdline(format!("vms=debian.bzimage vm_ram_mib=256 {options}"))
        .with_file("debian.bzimage", &assets.bzimage)
        .with_file("debian.initrd", &initrd)
        .with_file("debian.cmdline", &cmdline)
        .with_timeout(LINUX_TIMEOUT);
    config.memory_mib = MACHINE_MIB;
    let outcome = run(config);
    let report = linux::judge_marker_test(&guest_log(&outcome.outcome.serial));
    (outcome, report)
}

fn check(outcome: &hv_tests::Outcome, report: Result<MarkerReport, String>) {
    let report =
        report.unwrap_or_else(|missing| panic!("Linux did not finish its init script: {missing}"));
    assert!(report.userspace_up && report.rebooting);
    assert!(
        report.timer_ticked(),
        "timer interrupts did not advance: {:?}",
        report.timer_ticks
    );
    assert!(
        report.date.is_some_and(|date| date.starts_with("20")),
        "no date from the RTC"
    );
    outcome
        .expect_line("VM debian: reset by the guest")
        .expect_success();
}

#[test]
fn debian_linux_boots_to_userspace_under_bochs() {
    let (outcome, report) = linux_run(Emulator::Bochs, "");
    check(&outcome, report);
}

/// With a local APIC, an I/O APIC and the hypervisor's ACPI tables (MADT), Linux routes its
/// interrupts through the I/O APIC and ticks on the local APIC timer.
#[test]
fn debian_linux_uses_the_madt_ioapic_and_lapic_timer_under_bochs() {
    let (outcome, report) = linux_run(Emulator::Bochs, "vm_apic=on vm_acpi=on");
    check(&outcome, report);
    outcome.expect_line("IO-APIC").expect_line("LOC:");
    let local_timer = outcome.line_with("LOC:");
    let ticks: u64 = local_timer
        .split_whitespace()
        .nth(2)
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no count in `{local_timer}`"));
    assert!(
        ticks > 0,
        "the local APIC timer did not tick: {local_timer}"
    );
}

#[test]
fn debian_linux_boots_to_userspace_under_qemu_kvm() {
    if !HostProbe::detect().nested_vmx() {
        eprintln!("skipped: /dev/kvm does not offer nested VT-x on this machine");
        return;
    }
    let (outcome, report) = linux_run(Emulator::QemuKvm, "");
    check(&outcome, report);
}
