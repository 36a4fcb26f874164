//! The APIC test guests (`tests/guests/src/bin/{lapic_timer,ioapic_route}.rs`) under the
//! hypervisor in Bochs (emulated VT-x), booted with `vm_apic=on` so the VM gets a local APIC
//! and an I/O APIC: one test per guest, judged by the console lines the platform contract
//! defines (`VM <name>: exited with status <n>`, `[<name>] text`) and by the guest's own
//! `ok:`/`FAIL:` lines.
//!
//! What they exercise in the hypervisor: the xAPIC page (EPT-trapped MMIO to the local APIC
//! model), the x2APIC MSRs, IA32_APIC_BASE and IA32_TSC_DEADLINE through the MSR exits, the
//! APIC CPUID bits, the local APIC timer's context timers (periodic, one-shot, TSC deadline)
//! reaching a spinning or halted vCPU, injection of the local APIC's highest pending vector
//! under the task priority, EOI, self IPIs, and I/O APIC routing with EOI broadcasts for
//! level-triggered pins.

use std::path::Path;

use hv_tests::{Outcome, bochs, boot};

/// The guests, as the artifact dependency built them.
const LAPIC_TIMER: &str = env!("CARGO_BIN_FILE_GUESTS_lapic_timer");
const IOAPIC_ROUTE: &str = env!("CARGO_BIN_FILE_GUESTS_ioapic_route");

/// Boots one guest as `<name>.elf`, alone, with the APICs.
fn run_with_apic(name: &str, path: &str) -> Outcome {
    let file = format!("{name}.elf");
    boot(bochs(&format!("vms={file} vm_apic=on")).with_file(&file, Path::new(path)))
}

/// Copy the guest's console lines to stderr (shown with `--nocapture`: the measured rates).
fn echo_console(outcome: &Outcome, name: &str) {
    let prefix = format!("[{name}]");
    let end = format!("VM {name}");
    for line in outcome
        .outcome
        .serial
        .lines()
        .filter(|l| l.contains(&prefix) || l.contains(&end))
    {
        eprintln!("{line}");
    }
}

#[test]
fn lapic_timer_guest_runs_periodic_one_shot_and_tsc_deadline_timers_in_xapic_and_x2apic_mode() {
    let outcome = run_with_apic("lapic_timer", LAPIC_TIMER);
    echo_console(&outcome, "lapic_timer");
    outcome
        .expect_guest_checks_pass("lapic_timer")
        .expect_success();
    outcome
        .expect_line("[lapic_timer] ok: CPUID.1:EDX.APIC (bit 9) set")
        .expect_line("[lapic_timer] ok: CPUID.1:ECX.x2APIC (bit 21) set")
        .expect_line("[lapic_timer] ok: CPUID.1:ECX.TSC-deadline (bit 24) set")
        .expect_line("[lapic_timer] ok: IA32_APIC_BASE page: 0xfee00000")
        .expect_line("[lapic_timer] ok: IA32_APIC_BASE EN, BSP, EXTD (enabled BSP in xAPIC mode): 0x900")
        .expect_line("[lapic_timer] ok: SVR after software enable: 0x13f")
        .expect_line("[lapic_timer] ok: APIC timer clock over a 50 ms PIT window: ")
        .expect_line("[lapic_timer] ok: xAPIC periodic: the timer interrupt arrives while the guest spins")
        .expect_line("[lapic_timer] ok: xAPIC periodic 100 Hz over 2 RTC seconds: ")
        .expect_line("[lapic_timer] ok: xAPIC periodic: 0 interrupts in 3 delays after the timer stopped")
        .expect_line(
            "[lapic_timer] ok: xAPIC one-shot 10 ms: HLT woke on the timer interrupt before the 50 ms PIT safety net",
        )
        .expect_line("[lapic_timer] ok: xAPIC one-shot: current count after the expiry: 0x0")
        .expect_line("[lapic_timer] ok: xAPIC one-shot: interrupts in 4 delays: 0x1")
        .expect_line("[lapic_timer] ok: self IPI 0x31 through the ICR waits in IRR while IF = 0")
        .expect_line(
            "[lapic_timer] ok: self IPI 0x31 deliveries with TPR 0x30 (same class: held back): 0x0",
        )
        .expect_line("[lapic_timer] ok: self IPI 0x31 deliveries after TPR 0: 0x1")
        .expect_line("[lapic_timer] ok: IA32_APIC_BASE EN, EXTD after the switch: 0xc00")
        .expect_line("[lapic_timer] ok: x2APIC LDR (MSR 0x80D) for ID 0: cluster 0, bit 0: 0x1")
        .expect_line("[lapic_timer] ok: x2APIC periodic 200 Hz over 2 RTC seconds: ")
        .expect_line("[lapic_timer] ok: x2APIC SELF IPI 0x32 deliveries: 0x1")
        .expect_line("[lapic_timer] ok: x2APIC ICR (MSR 0x830) self IPI 0x31 deliveries: 0x1")
        .expect_line("[lapic_timer] ok: x2APIC: WRMSR EOI with a non-zero value raises #GP")
        .expect_line(
            "[lapic_timer] ok: TSC deadline 10 ms ahead: HLT woke on its interrupt before the 50 ms PIT safety net",
        )
        .expect_line("[lapic_timer] ok: IA32_TSC_DEADLINE after it fired: 0x0")
        .expect_line("[lapic_timer] ok: TSC deadline: interrupts in 4 delays: 0x1")
        .expect_line("[lapic_timer] ok: TSC deadline disarmed by writing 0: no interrupt in 3 delays")
        .expect_line("[lapic_timer] ok: a TSC deadline already passed fires at once: 1 interrupt(s)")
        .expect_line("[lapic_timer] ok: spurious interrupts: 0x0");
}

#[test]
fn ioapic_route_guest_gets_the_pit_on_pin_2_and_a_level_storm_ended_by_eoi_broadcasts() {
    let outcome = run_with_apic("ioapic_route", IOAPIC_ROUTE);
    echo_console(&outcome, "ioapic_route");
    outcome
        .expect_guest_checks_pass("ioapic_route")
        .expect_success();
    outcome
        .expect_line("[ioapic_route] ok: LVT LINT0 masked (no ExtINT from the 8259A)")
        .expect_line("[ioapic_route] ok: IOAPICVER ")
        .expect_line("[ioapic_route] ok: pin 2 (ISA IRQ 0) entry reads back as written")
        .expect_line("[ioapic_route] ok: IRQ 0 arrives through the I/O APIC while the guest spins")
        .expect_line("[ioapic_route] ok: IRQ 0 at 100 Hz through pin 2 over 1 RTC second: ")
        .expect_line("[ioapic_route] ok: masked pin 2: 0 interrupts while the PIT kept running")
        .expect_line(
            "[ioapic_route] ok: level-triggered pin 5 delivered 50 times while held, none after the release",
        )
        .expect_line("[ioapic_route] ok: TMR set for the level-triggered vector 0x35 in its handler")
        .expect_line("[ioapic_route] ok: pin 5 remote IRR set while its interrupt was in service")
        .expect_line("[ioapic_route] ok: pin 5 remote IRR clear after the last EOI")
        .expect_line("[ioapic_route] ok: deliveries through the 8259A path: 0x0");
}
