//! The interrupt and DMA test guests (`tests/guests/src/bin/{pit_irq,hlt_wake,irq_masked_long,
//! level_irq,dma,sti_shadow}.rs`) under the hypervisor in Bochs (emulated VT-x): one test per guest,
//! judged by the console lines the platform contract defines (`VM <name>: exited with status
//! <n>`, `[<name>] text`) and by the guest's own `ok:`/`FAIL:` lines.
//!
//! What they exercise in the hypervisor: external-interrupt injection from the 8259A pair
//! (IRQ 0 PIT, IRQ 5/11 MMIO test device, IRQ 8 RTC), interrupt-window exiting while the guest
//! has IF = 0, HLT idling until an interrupt, the VMX-preemption timer aimed at device
//! deadlines, level-triggered re-requests, the end of the STI shadow at an emulated
//! instruction, and device DMA into guest RAM with its bounds checks.

use std::path::Path;

use hv_tests::{Outcome, bochs, boot};

/// The guests, as the artifact dependency built them.
const PIT_IRQ: &str = env!("CARGO_BIN_FILE_GUESTS_pit_irq");
const HLT_WAKE: &str = env!("CARGO_BIN_FILE_GUESTS_hlt_wake");
const IRQ_MASKED_LONG: &str = env!("CARGO_BIN_FILE_GUESTS_irq_masked_long");
const LEVEL_IRQ: &str = env!("CARGO_BIN_FILE_GUESTS_level_irq");
const DMA: &str = env!("CARGO_BIN_FILE_GUESTS_dma");
const STI_SHADOW: &str = env!("CARGO_BIN_FILE_GUESTS_sti_shadow");

/// Boots one guest as `<name>.elf`, alone.
fn run_elf(name: &str, path: &str) -> Outcome {
    let file = format!("{name}.elf");
    boot(bochs(&format!("vms={file}")).with_file(&file, Path::new(path)))
}

#[test]
fn pit_irq_guest_counts_100_hz_within_10_percent_over_2_rtc_seconds() {
    let outcome = run_elf("pit_irq", PIT_IRQ);
    outcome.expect_guest_checks_pass("pit_irq").expect_success();
    outcome
        .expect_line("[pit_irq] ok: PIT count for 100 Hz: 0x2e9c")
        .expect_line("[pit_irq] ok: IRQ 0 arrives while the guest spins without I/O")
        .expect_line("[pit_irq] ok: IRQ 0 at 100 Hz over 2 RTC seconds: ")
        .expect_line("[pit_irq] ok: IRQ 0 after the PIT stopped");
}

#[test]
fn hlt_wake_guest_returns_from_every_hlt_after_the_timer_interrupt() {
    let outcome = run_elf("hlt_wake", HLT_WAKE);
    outcome
        .expect_guest_checks_pass("hlt_wake")
        .expect_success();
    outcome
        .expect_line("[hlt_wake] ok: periodic 100 Hz: 50 of 50 HLTs returned after an IRQ 0")
        .expect_line("[hlt_wake] ok: one-shot 5 ms: 20 of 20 HLTs returned after exactly one IRQ 0")
        .expect_line("[hlt_wake] ok: one-shot 5 ms: OUT0 high after 20 of 20 wake-ups")
        .expect_line("[hlt_wake] ok: periodic wake-ups took ")
        .expect_line("[hlt_wake] ok: one-shot wake-ups took ");
}

#[test]
fn irq_masked_long_guest_gets_each_pending_line_once_after_sti() {
    let outcome = run_elf("irq_masked_long", IRQ_MASKED_LONG);
    outcome
        .expect_guest_checks_pass("irq_masked_long")
        .expect_success();
    outcome
        .expect_line("[irq_masked_long] ok: no handler ran with IF = 0")
        .expect_line("[irq_masked_long] ok: IRR before sti (IRQ 0, 2, 5, 8): 0x125")
        .expect_line("[irq_masked_long] ok: IRQ 0 (PIT) deliveries: 0x1")
        .expect_line("[irq_masked_long] ok: IRQ 8 (RTC update) deliveries: 0x1")
        .expect_line("[irq_masked_long] ok: IRQ 5 (test device) deliveries: 0x1")
        .expect_line("[irq_masked_long] ok: delivery order by PIC priority: [0, 8, 5]");
}

#[test]
fn level_irq_guest_survives_a_1000_interrupt_storm_with_the_pit_still_ticking() {
    let outcome = run_elf("level_irq", LEVEL_IRQ);
    outcome
        .expect_guest_checks_pass("level_irq")
        .expect_success();
    outcome
        .expect_line("[level_irq] ok: ELCR after making IRQ 5 level-triggered: 0x20")
        .expect_line("[level_irq] ok: level-triggered IRQ 5 delivered 1000 times while held")
        .expect_line("[level_irq] ok: PIT interrupts during the storm: ")
        .expect_line("[level_irq] ok: IRQ 5 deliveries after the release: 0x0");
}

#[test]
fn dma_guest_sees_the_pattern_land_and_refused_transfers_leave_ram_unchanged() {
    let outcome = run_elf("dma", DMA);
    outcome.expect_guest_checks_pass("dma").expect_success();
    outcome
        .expect_line("[dma] ok: the handler found the seed's pattern in the buffer")
        .expect_line("[dma] ok: the bytes around the target are untouched")
        .expect_line("[dma] ok: DMA above RAM (IRQ 11): completion interrupt with status Some(2)")
        .expect_line(
            "[dma] ok: DMA straddling the end of RAM: completion interrupt with status Some(2)",
        )
        .expect_line("[dma] ok: the last 16 bytes of RAM are unchanged")
        .expect_line("[dma] ok: DMA into the MMIO window: completion interrupt with status Some(2)")
        .expect_line("[dma] ok: DMA of 64 KiB + 1: completion interrupt with status Some(3)")
        .expect_line("[dma] ok: completion interrupts: 0x5");
}

#[test]
fn sti_shadow_guest_gets_the_pending_interrupt_right_after_an_exiting_instruction() {
    let outcome = run_elf("sti_shadow", STI_SHADOW);
    outcome
        .expect_guest_checks_pass("sti_shadow")
        .expect_success();
    outcome
        .expect_line("[sti_shadow] ok: sti; nop; cli: IRQ 0 delivered before the cli in 10 of 10")
        .expect_line(
            "[sti_shadow] ok: sti; in al, 0x61; cli: IRQ 0 delivered before the cli in 10 of 10",
        )
        .expect_line(
            "[sti_shadow] ok: sti; hlt; cli: the wake-up IRQ 0 delivered before the cli in 10 of 10",
        );
}
