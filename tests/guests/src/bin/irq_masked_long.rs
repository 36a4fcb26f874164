//! Long interrupts-off guest: with IF = 0 for over a second, three sources on three lines
//! become pending — the PIT (IRQ 0, ~100 periods at 100 Hz), the MMIO test device's line held
//! asserted (IRQ 5, edge-triggered) and the RTC's update-ended interrupt (IRQ 8, on the slave).
//! The 8259A latches one request per line however many edges came (IRR coalesces), and the
//! hypervisor must keep them pending, not lose them, and deliver them once the guest executes
//! `sti`: every line exactly once, in the PIC's priority order (IRQ 0, then the cascade's
//! IRQ 8, then IRQ 5).
//!
//! Checks, each printed as `ok:`/`FAIL:` (exit 0 only if all pass):
//! - no handler runs while IF = 0;
//! - the PIC's IRR shows IRQ 0, 2 (cascade), 5 and 8 requested before `sti`;
//! - after `sti` each handler runs exactly once, in the order 0, 8, 5;
//! - the RTC handler finds the update-ended flag in register C;
//! - nothing stays requested or in service afterwards.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use guests::check::Checks;
use guests::{BootInfo, entry, idt, interrupts, pic, pit, println, rtc, test_device};

entry!(main);

/// The test device's line (its default).
const DEVICE_IRQ: u8 = test_device::DEFAULT_IRQ;
/// The PIT rate while interrupts are off.
const PIT_HZ: u32 = 100;
/// RTC seconds changes to wait for with IF = 0 (two: at least one full second, so ~100 PIT
/// periods and at least one RTC update).
const SECOND_CHANGES: u32 = 2;
/// RTC polls per seconds change before giving up.
const RTC_POLL_LIMIT: u32 = 2_000_000;
/// UIP polls per RTC read.
const UIP_POLL_LIMIT: u32 = 10_000;
/// Spin iterations allowed for all three handlers to run after `sti`.
const DELIVERY_SPIN_LIMIT: u64 = 10_000_000;
/// Spin iterations after delivery in which no handler may run again.
const QUIET_SPIN: u64 = 3_000_000;
/// The IRR bits expected before `sti`: IRQ 0, the cascade (2), IRQ 5 and IRQ 8.
const EXPECTED_IRR: u16 = 1 << pit::IRQ | 1 << pic::CASCADE_IRQ | 1 << DEVICE_IRQ | 1 << rtc::IRQ;
/// The lines the test watches.
const WATCHED: u16 = EXPECTED_IRR;
/// The delivery order the PIC's fixed priority gives: IRQ 0, IRQ 8 (through IR2), IRQ 5.
const EXPECTED_ORDER: [u8; 3] = [pit::IRQ, rtc::IRQ, DEVICE_IRQ];
/// Bits per entry of the order log.
const ORDER_BITS: u32 = 8;

static PIT_COUNT: AtomicU32 = AtomicU32::new(0);
static DEVICE_COUNT: AtomicU32 = AtomicU32::new(0);
static RTC_COUNT: AtomicU32 = AtomicU32::new(0);
/// Register C as the RTC handler read it.
static RTC_FLAGS: AtomicU32 = AtomicU32::new(0);
/// The IRQs in delivery order, one byte each (low byte first), each stored as IRQ + 1.
static ORDER: AtomicU64 = AtomicU64::new(0);
/// Deliveries logged in [`ORDER`].
static DELIVERIES: AtomicU32 = AtomicU32::new(0);

fn log_delivery(irq: u8) {
    let index = DELIVERIES.fetch_add(1, Ordering::SeqCst);
    if index < u64::BITS / ORDER_BITS {
        ORDER.fetch_or(
            (u64::from(irq) + 1) << (index * ORDER_BITS),
            Ordering::SeqCst,
        );
    }
}

fn on_pit(_vector: u8) {
    log_delivery(pit::IRQ);
    PIT_COUNT.fetch_add(1, Ordering::SeqCst);
    pic::eoi(pit::IRQ);
}

fn on_device(_vector: u8) {
    log_delivery(DEVICE_IRQ);
    DEVICE_COUNT.fetch_add(1, Ordering::SeqCst);
    test_device::set_level_irq(false);
    pic::eoi(DEVICE_IRQ);
}

fn on_rtc(_vector: u8) {
    log_delivery(rtc::IRQ);
    RTC_COUNT.fetch_add(1, Ordering::SeqCst);
    RTC_FLAGS.store(u32::from(rtc::acknowledge()), Ordering::SeqCst);
    pic::eoi(rtc::IRQ);
}

fn counts() -> [u32; 3] {
    [
        PIT_COUNT.load(Ordering::SeqCst),
        RTC_COUNT.load(Ordering::SeqCst),
        DEVICE_COUNT.load(Ordering::SeqCst),
    ]
}

/// The logged delivery order.
fn order() -> [u8; 3] {
    let log = ORDER.load(Ordering::SeqCst).to_le_bytes();
    [
        log[0].wrapping_sub(1),
        log[1].wrapping_sub(1),
        log[2].wrapping_sub(1),
    ]
}

fn install_handlers() -> bool {
    idt::set_handler(pic::vector(pit::IRQ), on_pit).is_ok()
        && idt::set_handler(pic::vector(DEVICE_IRQ), on_device).is_ok()
        && idt::set_handler(pic::vector(rtc::IRQ), on_rtc).is_ok()
}

/// Polls the RTC (interrupts off) until `changes` seconds changes passed.
fn wait_seconds_changes(changes: u32) -> bool {
    let Some(mut last) = rtc::time_of_day(UIP_POLL_LIMIT) else {
        return false;
    };
    for _ in 0..changes {
        let mut changed = false;
        for _ in 0..RTC_POLL_LIMIT {
            match rtc::time_of_day(UIP_POLL_LIMIT) {
                Some(now) if now != last => {
                    last = now;
                    changed = true;
                    break;
                }
                Some(_) => {}
                None => return false,
            }
        }
        if !changed {
            return false;
        }
    }
    true
}

fn main(_boot: BootInfo) -> u32 {
    let mut checks = Checks::new();
    interrupts::disable();
    pic::init();
    if !install_handlers() {
        println!("FAIL: no gate for an IRQ vector");
        return checks.finish();
    }
    for irq in [pit::IRQ, DEVICE_IRQ, rtc::IRQ] {
        let _ = pic::unmask(irq);
    }
    rtc::acknowledge();
    rtc::update_b(rtc::B_UIE, 0);
    pit::start_periodic(PIT_HZ);
    test_device::set_level_irq(true);

    let waited = wait_seconds_changes(SECOND_CHANGES);
    checks.check(
        waited,
        format_args!("RTC seconds changed {SECOND_CHANGES} times with IF = 0"),
    );
    checks.check(
        counts() == [0; 3],
        format_args!(
            "no handler ran with IF = 0 (PIT, RTC, device counts {:?})",
            counts()
        ),
    );
    checks.equal(
        "IRR before sti (IRQ 0, 2, 5, 8)",
        pic::irr() & WATCHED,
        EXPECTED_IRR,
    );

    // No new edges from here on: what is pending is what was latched while IF = 0. (The
    // RTC's line drops with UIE; the latched edge request stays in the IRR.)
    pit::stop();
    rtc::update_b(0, rtc::B_UIE);
    interrupts::enable();
    let delivered =
        interrupts::spin_until(DELIVERY_SPIN_LIMIT, || counts().iter().all(|&c| c >= 1));
    checks.check(
        delivered,
        format_args!("every pending line delivered after sti"),
    );
    for _ in 0..QUIET_SPIN {
        interrupts::spin_hint();
    }
    interrupts::disable();

    let [pit_count, rtc_count, device_count] = counts();
    checks.equal("IRQ 0 (PIT) deliveries", pit_count, 1);
    checks.equal("IRQ 8 (RTC update) deliveries", rtc_count, 1);
    checks.equal("IRQ 5 (test device) deliveries", device_count, 1);
    checks.check(
        order() == EXPECTED_ORDER,
        format_args!(
            "delivery order by PIC priority: {:?} (expected {EXPECTED_ORDER:?})",
            order()
        ),
    );
    let flags = RTC_FLAGS.load(Ordering::SeqCst);
    checks.check(
        flags & u32::from(rtc::C_UF) != 0,
        format_args!("RTC register C in the handler has UF: {flags:#x}"),
    );
    checks.equal("IRR after delivery", pic::irr() & WATCHED, 0);
    checks.equal("ISR after delivery", pic::isr(), 0);
    checks.finish()
}
