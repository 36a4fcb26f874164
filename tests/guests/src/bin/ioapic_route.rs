//! I/O APIC routing guest (boot with `vm_apic=on`): the PC in symmetric I/O mode, as an OS
//! sets it up after finding an I/O APIC. Both 8259As are masked and the local APIC's LINT0
//! (the 8259A's ExtINT path) too; ISA lines reach the CPU only as I/O APIC messages to the
//! local APIC, and each handler ends with a local APIC EOI (82093AA datasheet section 3;
//! Intel SDM Vol. 3A 11.8.5 for EOI and level-triggered interrupts).
//!
//! Checks, each printed as `ok:`/`FAIL:` (exit 0 only if all pass):
//! - IOAPICVER names an I/O APIC (version 0x11–0x20) with at least 16 entries;
//! - the PIT's IRQ 0, routed at pin 2 (the interrupt-source override) to vector 0x34,
//!   edge-triggered: the entry reads back as written, an interrupt arrives while the guest
//!   spins, 100 Hz over 1 RTC second counts 100 ± 10 %, TMR is clear for the vector (edge),
//!   and masking the entry stops the interrupts;
//! - the MMIO test device's IRQ 5 at pin 5 to vector 0x35, level-triggered and held asserted:
//!   in the handler TMR is set and the entry's remote IRR is set; each EOI is broadcast back to
//!   the I/O APIC, which delivers again while the line stays asserted, exactly [`STORM`] times
//!   until the handler releases it; afterwards remote IRR is clear and no further interrupt
//!   comes;
//! - nothing arrives through the 8259A path.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use guests::check::Checks;
use guests::idt::APIC_VECTOR_BASE;
use guests::lapic::{self, reg};
use guests::{BootInfo, entry, idt, interrupts, ioapic, pic, pit, println, rtc, test_device};

entry!(main);

/// The PIT's vector through the I/O APIC.
const PIT_VECTOR: u8 = APIC_VECTOR_BASE + 4;
/// The test device's vector through the I/O APIC.
const DEVICE_VECTOR: u8 = APIC_VECTOR_BASE + 5;
/// The spurious vector.
const SPURIOUS_VECTOR: u8 = APIC_VECTOR_BASE + 0xF;
/// The test device's ISA line.
const DEVICE_IRQ: u8 = test_device::DEFAULT_IRQ;
/// The PIT rate.
const PIT_HZ: u32 = 100;
/// RTC seconds the PIT's interrupts are counted over.
const MEASURE_SECONDS: u32 = 1;
/// Interrupts expected over them, and ±10 %.
const EXPECTED_TICKS: u32 = PIT_HZ * MEASURE_SECONDS;
const TOLERANCE: u32 = EXPECTED_TICKS / 10;
/// I/O APIC versions: the 82093AA's 0x11 up to the PCH's 0x20.
const IOAPIC_VERSIONS: core::ops::RangeInclusive<u32> = 0x11..=0x20;
/// Entries the ISA lines need (0–15).
const MIN_MAX_ENTRY: u8 = 15;
/// Level-triggered deliveries before the handler releases the line.
const STORM: u32 = 50;
/// Spin iterations a wait may take at most (a dead source must not hang the guest).
const SPIN_LIMIT: u64 = 200_000_000;
/// PIT periods an RTC seconds change may take before the wait gives up (1.5 s).
const SECOND_CHANGE_TICK_LIMIT: u32 = 150;
/// Spin iterations to watch for interrupts that must not come (several PIT periods).
const QUIET_SPIN: u64 = 3_000_000;

static PIT_TICKS: AtomicU32 = AtomicU32::new(0);
/// Whether a PIT interrupt found its vector marked level-triggered in TMR.
static PIT_LEVEL_SEEN: AtomicBool = AtomicBool::new(false);
static DEVICE_COUNT: AtomicU32 = AtomicU32::new(0);
/// The first device interrupt's view: TMR bit set, remote IRR set.
static DEVICE_TMR_SET: AtomicBool = AtomicBool::new(false);
static DEVICE_REMOTE_IRR_SET: AtomicBool = AtomicBool::new(false);
static PIC_DELIVERIES: AtomicU32 = AtomicU32::new(0);
static SPURIOUS: AtomicU32 = AtomicU32::new(0);

fn on_pit(_vector: u8) {
    PIT_TICKS.fetch_add(1, Ordering::SeqCst);
    if lapic::level_triggered(PIT_VECTOR) {
        PIT_LEVEL_SEEN.store(true, Ordering::SeqCst);
    }
    lapic::eoi();
}

fn on_device(_vector: u8) {
    let count = DEVICE_COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    if count == 1 {
        DEVICE_TMR_SET.store(lapic::level_triggered(DEVICE_VECTOR), Ordering::SeqCst);
        let remote_irr =
            ioapic::entry(DEVICE_IRQ).is_ok_and(|entry| entry & ioapic::ENTRY_REMOTE_IRR != 0);
        DEVICE_REMOTE_IRR_SET.store(remote_irr, Ordering::SeqCst);
    }
    if count >= STORM {
        test_device::set_level_irq(false);
    }
    lapic::eoi();
}

fn on_pic(_vector: u8) {
    PIC_DELIVERIES.fetch_add(1, Ordering::SeqCst);
}

fn on_spurious(_vector: u8) {
    SPURIOUS.fetch_add(1, Ordering::SeqCst);
}

fn ticks() -> u32 {
    PIT_TICKS.load(Ordering::SeqCst)
}

fn install_handlers() -> bool {
    let pic_vectors = pic::MASTER_VECTOR_BASE..pic::MASTER_VECTOR_BASE + pic::LINES;
    pic_vectors
        .map(|vector| idt::set_handler(vector, on_pic))
        .chain([
            idt::set_handler(PIT_VECTOR, on_pit),
            idt::set_handler(DEVICE_VECTOR, on_device),
            idt::set_handler(SPURIOUS_VECTOR, on_spurious),
        ])
        .all(|installed| installed.is_ok())
}

/// Symmetric I/O mode: 8259As masked, LINT0 masked, the local APIC software-enabled. Returns
/// the local APIC's ID, the I/O APIC entries' destination.
fn enter_symmetric_mode(checks: &mut Checks) -> Option<u8> {
    pic::init();
    let base = match lapic::apic_base() {
        Ok(base) => base,
        Err(fault) => {
            checks.check(
                false,
                format_args!("RDMSR IA32_APIC_BASE: {}", idt::mnemonic(fault.vector)),
            );
            return None;
        }
    };
    lapic::use_page_of(base);
    lapic::software_enable(SPURIOUS_VECTOR);
    lapic::write(reg::LVT_LINT0, lapic::LVT_MASKED);
    checks.equal(
        "LVT LINT0 masked (no ExtINT from the 8259A)",
        lapic::read(reg::LVT_LINT0) & lapic::LVT_MASKED,
        lapic::LVT_MASKED,
    );
    Some((lapic::read(reg::ID) >> lapic::XAPIC_ID_SHIFT) as u8)
}

fn identify(checks: &mut Checks) {
    let version = ioapic::read(ioapic::REG_VERSION);
    let max_entry = ioapic::max_entry();
    checks.check(
        IOAPIC_VERSIONS.contains(&(version & ioapic::VERSION_MASK)) && max_entry >= MIN_MAX_ENTRY,
        format_args!("IOAPICVER {version:#x}: an I/O APIC with entries 0–{max_entry}"),
    );
}

fn pit_route(checks: &mut Checks, apic_id: u8) {
    let pin = ioapic::isa_pin(pit::IRQ);
    let route = ioapic::fixed_entry(PIT_VECTOR, apic_id, false);
    let programmed = ioapic::set_entry(pin, route).and_then(|()| ioapic::entry(pin));
    // A pin the chip lacks shows as all-ones (pin 2 always exists).
    let shown = programmed.unwrap_or(u64::MAX);
    checks.check(
        programmed == Ok(route),
        format_args!(
            "pin {pin} (ISA IRQ 0) entry reads back as written: {shown:#x} (wrote {route:#x})"
        ),
    );
    pit::start_periodic(PIT_HZ);
    interrupts::enable();
    let arrived = interrupts::spin_until(SPIN_LIMIT, || ticks() > 0);
    checks.check(
        arrived,
        format_args!("IRQ 0 arrives through the I/O APIC while the guest spins"),
    );
    let measured = rtc::time_of_day(rtc::NEXT_SECOND_UIP_POLL_LIMIT)
        .and_then(|second| rtc::next_second(second, ticks, SECOND_CHANGE_TICK_LIMIT))
        .and_then(|start| {
            let first = ticks();
            let mut second = start;
            for _ in 0..MEASURE_SECONDS {
                second = rtc::next_second(second, ticks, SECOND_CHANGE_TICK_LIMIT)?;
            }
            Some(ticks().wrapping_sub(first))
        });
    match measured {
        Some(count) => {
            checks.check(
                count.abs_diff(EXPECTED_TICKS) <= TOLERANCE,
                format_args!(
                    "IRQ 0 at 100 Hz through pin 2 over {MEASURE_SECONDS} RTC second: {count} interrupts (expected {EXPECTED_TICKS} ± {TOLERANCE})"
                ),
            );
        }
        None => {
            checks.check(
                false,
                format_args!("RTC seconds change while IRQ 0 ticks ({} ticks)", ticks()),
            );
        }
    }
    checks.check(
        !PIT_LEVEL_SEEN.load(Ordering::SeqCst),
        format_args!("TMR clear for the edge-triggered PIT vector 0x34"),
    );
    let masked = ioapic::mask(pin);
    // A message already accepted before the mask may still come in: let it, then none.
    interrupts::spin(QUIET_SPIN);
    let settled = ticks();
    interrupts::spin(QUIET_SPIN);
    interrupts::disable();
    pit::stop();
    checks.check(
        masked.is_ok() && ticks() == settled,
        format_args!(
            "masked pin 2: {} interrupts while the PIT kept running",
            ticks().wrapping_sub(settled)
        ),
    );
}

fn level_route(checks: &mut Checks, apic_id: u8) {
    let route = ioapic::fixed_entry(DEVICE_VECTOR, apic_id, true);
    let programmed = ioapic::set_entry(DEVICE_IRQ, route);
    checks.check(
        programmed.is_ok(),
        format_args!("pin 5 (test device) programmed level-triggered to vector 0x35"),
    );
    interrupts::enable();
    test_device::set_level_irq(true);
    let finished =
        interrupts::spin_until(SPIN_LIMIT, || DEVICE_COUNT.load(Ordering::SeqCst) >= STORM);
    interrupts::spin(QUIET_SPIN);
    interrupts::disable();
    let count = DEVICE_COUNT.load(Ordering::SeqCst);
    checks.check(
        finished && count == STORM,
        format_args!(
            "level-triggered pin 5 delivered {count} times while held, none after the release (expected {STORM})"
        ),
    );
    checks.check(
        DEVICE_TMR_SET.load(Ordering::SeqCst),
        format_args!("TMR set for the level-triggered vector 0x35 in its handler"),
    );
    checks.check(
        DEVICE_REMOTE_IRR_SET.load(Ordering::SeqCst),
        format_args!("pin 5 remote IRR set while its interrupt was in service"),
    );
    let after = ioapic::entry(DEVICE_IRQ);
    let shown = after.unwrap_or(u64::MAX);
    checks.check(
        after.is_ok_and(|entry| entry & ioapic::ENTRY_REMOTE_IRR == 0),
        format_args!("pin 5 remote IRR clear after the last EOI: entry {shown:#x}"),
    );
    let _ = ioapic::mask(DEVICE_IRQ);
}

fn main(_boot: BootInfo) -> u32 {
    let mut checks = Checks::new();
    if !install_handlers() {
        println!("FAIL: no gate for a vector");
        return checks.finish();
    }
    let Some(apic_id) = enter_symmetric_mode(&mut checks) else {
        return checks.finish();
    };
    identify(&mut checks);
    pit_route(&mut checks, apic_id);
    level_route(&mut checks, apic_id);
    checks.check(
        !lapic::any_in_service(),
        format_args!("nothing in service at the local APIC after the handlers"),
    );
    checks.equal(
        "deliveries through the 8259A path",
        PIC_DELIVERIES.load(Ordering::SeqCst),
        0,
    );
    checks.equal("spurious interrupts", SPURIOUS.load(Ordering::SeqCst), 0);
    checks.finish()
}
