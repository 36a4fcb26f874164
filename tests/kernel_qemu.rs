//! The hypervisor under QEMU TCG (no VT-x): everything before VMXON. Each test boots the
//! kernel with a `test=` self-test and judges the exit status and the console.

use boot::Verdict;
use hv_tests::{boot, qemu, qemu_uefi};

/// Status the kernel reports for a CPU exception (`kernel::exit::ExitStatus::CpuException`).
const STATUS_CPU_EXCEPTION: u32 = 3;
/// Status for a self-test that found a wrong value.
const STATUS_TEST_FAILED: u32 = 1;
/// Status for a bad boot command line.
const STATUS_BAD_COMMAND_LINE: u32 = 4;

#[test]
fn bios_boot_reports_and_exits_success() {
    boot(qemu(""))
        .expect_success()
        .expect_line("GDT, TSS (4 IST stacks) and IDT loaded")
        .expect_line("frames:")
        .expect_line("ACPI MADT:")
        .expect_line("APIC timer periodic at 1000 Hz")
        .expect_line("VT-x not available");
}

#[test]
fn uefi_boot_reports_and_exits_success() {
    boot(qemu_uefi(""))
        .expect_success()
        .expect_line("APIC timer periodic at 1000 Hz");
}

#[test]
fn int3_breakpoints_return() {
    boot(qemu("test=breakpoint"))
        .expect_success()
        .expect_line("int3 returned twice");
}

#[test]
fn page_fault_is_reported_as_failure_with_cr2() {
    let run = boot(qemu("test=page_fault"));
    run.expect_verdict(Verdict::Failure {
        status: STATUS_CPU_EXCEPTION,
    })
    .expect_line("CPU exception 14 (#PF page fault)")
    .expect_line("CR2: 0x00000000deadb000");
}

#[test]
fn triple_fault_is_a_failure_not_a_pass() {
    let run = boot(qemu("test=triple_fault"));
    assert!(
        matches!(run.outcome.verdict, Verdict::NoExitLine { .. }),
        "triple fault judged {}",
        run.outcome.verdict
    );
}

#[test]
fn hang_is_caught_by_the_timeout() {
    let run = boot(qemu("test=hang").with_timeout(std::time::Duration::from_secs(20)));
    run.expect_verdict(Verdict::Timeout)
        .expect_line("hanging on purpose");
}

#[test]
fn unknown_option_is_refused_by_name() {
    boot(qemu("colour=blue"))
        .expect_verdict(Verdict::Failure {
            status: STATUS_BAD_COMMAND_LINE,
        })
        .expect_line("unknown option `colour`");
}

#[test]
fn unknown_self_test_is_refused() {
    boot(qemu("test=nonsense"))
        .expect_verdict(Verdict::Failure {
            status: STATUS_BAD_COMMAND_LINE,
        })
        .expect_line("no self-test named `nonsense`");
}

#[test]
fn heap_and_slab_survive_100k_operations_with_exact_accounting() {
    boot(qemu("test=heap"))
        .expect_success()
        .expect_line("heap stress: ");
}

#[test]
fn frame_allocator_exhaustion_is_an_error_not_a_panic() {
    boot(qemu("test=frames"))
        .expect_success()
        .expect_line("frames exhausted after")
        .expect_line("double free reported as Err(DoubleFree");
}

#[test]
fn pages_map_translate_and_unmap() {
    boot(qemu("test=paging")).expect_success();
}

#[test]
fn apic_timer_rate_matches_pit_in_xapic_mode() {
    // QEMU 7.2's TCG has no x2APIC: the x2APIC mode is tested under Bochs (so is 1000 Hz).
    // 100 Hz: TCG drops a periodic tick only if its vCPU thread starves for a whole period,
    // which a busy 2-core CI machine can do at shorter periods.
    boot(qemu("test=timer apic=x2apic timer_hz=100"))
        .expect_success()
        .expect_line("in XApic mode");
}

#[test]
fn madt_lists_the_cpus_qemu_was_given() {
    let mut config = qemu("test=madt expect_cpus=2");
    config.cpus = 2;
    boot(config)
        .expect_success()
        .expect_line("MADT lists 2 CPUs");
}

#[test]
fn madt_check_fails_on_a_wrong_cpu_count() {
    let mut config = qemu("test=madt expect_cpus=3");
    config.cpus = 2;
    boot(config).expect_verdict(Verdict::Failure {
        status: STATUS_TEST_FAILED,
    });
}
