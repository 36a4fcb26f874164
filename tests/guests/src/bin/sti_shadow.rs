//! STI-shadow guest: an interrupt that is pending when the guest executes `sti; X; cli` must be
//! delivered between X and the `cli` (Intel SDM vol. 3A §6.8.3: STI enables interrupts after
//! the *next* instruction; vol. 2, HLT: an interrupt that wakes HLT is serviced with the saved
//! RIP after the HLT). X is the only instruction in the shadow. When X causes a VM exit (HLT,
//! port I/O) and the hypervisor emulates it by advancing RIP, the shadow must end with it
//! (SDM vol. 3C, "Guest Non-Register State": blocking by STI is the VMM's to clear when it skips
//! the instruction); a hypervisor that keeps it lets the `cli` run first, and the interrupt
//! stays pending until the next `sti`.
//!
//! Three sequences, 10 rounds each, with IRQ 0 from the PIT as the pending interrupt; each
//! round must deliver exactly one IRQ 0 inside the sequence:
//! - `sti; nop; cli` with IRQ 0 already requested: no exit in the shadow (the control case);
//! - `sti; in al, 0x61; cli` with IRQ 0 already requested: an I/O exit in the shadow;
//! - `sti; hlt; cli` with a 5 ms one-shot: the HLT exit and the wake-up.

#![no_std]
#![no_main]

use core::arch::asm;
use core::sync::atomic::{AtomicU32, Ordering};

use guests::check::Checks;
use guests::{BootInfo, entry, idt, interrupts, pic, pit, println};

entry!(main);

/// Rounds per sequence.
const ROUNDS: u32 = 10;
/// The one-shot delay in PIT clocks for the HLT rounds: 5 ms.
const HLT_COUNT: u16 = 5_966;
/// A short one-shot for the rounds that wait with IF = 0 for the request: 100 µs.
const SHORT_COUNT: u16 = 119;
/// Port the I/O round reads in the shadow: system control port B (harmless to read).
const PORT_B: u16 = 0x61;
/// Polls of the IRR while waiting for IRQ 0 to be requested.
const IRR_POLL_LIMIT: u32 = 1_000_000;
/// Spin iterations with interrupts on after a round (lets a leaked request in).
const DRAIN_SPIN: u32 = 10_000;

/// IRQ 0 interrupts taken.
static TICKS: AtomicU32 = AtomicU32::new(0);

fn on_tick(_vector: u8) {
    TICKS.fetch_add(1, Ordering::SeqCst);
    pic::eoi(pit::IRQ);
}

fn ticks() -> u32 {
    TICKS.load(Ordering::SeqCst)
}

/// `sti; nop; cli`.
fn sti_nop_cli() {
    // SAFETY: enables interrupts for one instruction; the IDT handles IRQ 0.
    unsafe { asm!("sti", "nop", "cli", options(nostack, preserves_flags)) };
}

/// `sti; in al, dx; cli` with DX = port B.
fn sti_in_cli() {
    // SAFETY: as `sti_nop_cli`; reading port 0x61 has no side effect.
    unsafe {
        asm!("sti", "in al, dx", "cli", in("dx") PORT_B, out("al") _, options(nostack, preserves_flags));
    }
}

/// `sti; hlt; cli`.
fn sti_hlt_cli() {
    // SAFETY: as `sti_nop_cli`; HLT waits for the interrupt.
    unsafe { asm!("sti", "hlt", "cli", options(nostack, preserves_flags)) };
}

/// Starts a short one-shot and waits, interrupts off, until the PIC requests IRQ 0.
fn request_irq0() -> bool {
    pit::start_one_shot(SHORT_COUNT);
    (0..IRR_POLL_LIMIT).any(|_| pic::irr() & (1 << pit::IRQ) != 0)
}

/// Lets any request a round left pending in, so it does not count for the next round.
fn drain() {
    interrupts::enable();
    for _ in 0..DRAIN_SPIN {
        interrupts::spin_hint();
    }
    interrupts::disable();
}

/// Runs `rounds` of `prepare` then `sequence`, counting the rounds in which exactly one IRQ 0
/// was taken inside the sequence.
fn rounds(prepare: fn() -> bool, sequence: fn()) -> u32 {
    let mut delivered = 0;
    for _ in 0..ROUNDS {
        if prepare() {
            let before = ticks();
            sequence();
            if ticks().wrapping_sub(before) == 1 {
                delivered += 1;
            }
        }
        drain();
    }
    pit::stop();
    delivered
}

fn main(_boot: BootInfo) -> u32 {
    let mut checks = Checks::new();
    interrupts::disable();
    pic::init();
    if idt::set_handler(pic::vector(pit::IRQ), on_tick).is_err() {
        println!("FAIL: no gate for IRQ 0's vector");
        return checks.finish();
    }
    let _ = pic::unmask(pit::IRQ);

    let nop = rounds(request_irq0, sti_nop_cli);
    checks.check(
        nop == ROUNDS,
        format_args!("sti; nop; cli: IRQ 0 delivered before the cli in {nop} of {ROUNDS} rounds"),
    );
    let io = rounds(request_irq0, sti_in_cli);
    checks.check(
        io == ROUNDS,
        format_args!(
            "sti; in al, 0x61; cli: IRQ 0 delivered before the cli in {io} of {ROUNDS} rounds"
        ),
    );
    let hlt = rounds(
        || {
            pit::start_one_shot(HLT_COUNT);
            true
        },
        sti_hlt_cli,
    );
    checks.check(
        hlt == ROUNDS,
        format_args!(
            "sti; hlt; cli: the wake-up IRQ 0 delivered before the cli in {hlt} of {ROUNDS} rounds"
        ),
    );
    checks.finish()
}
