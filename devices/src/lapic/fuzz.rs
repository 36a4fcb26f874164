//! The fuzz body for the local APIC: arbitrary MMIO and MSR traffic, IA32_APIC_BASE changes,
//! interrupts, LINT levels, acknowledges and clock advances with timer callbacks, checking
//! the model's invariants after every step. A cargo-fuzz target calls [`fuzz_lapic`]; any
//! panic is a finding.
//!
//! Input layout: a sequence of 8-byte steps (a short tail is zero-padded): byte 0 picks the
//! operation, bytes 1–3 an offset/MSR/vector, bytes 4–7 a value.

use crate::interface::{Device, DeviceContext};
use crate::testing::FakeContext;

use super::registers::{self, FIRST_LEGAL_VECTOR, msr, offset, priority};
use super::{LapicConfig, LocalApic, MAX_QUEUED_IPIS, MIN_TIMER_PERIOD_NS};

/// Bytes per step.
const STEP_BYTES: usize = 8;
/// Steps played at most per input, so one input stays fast.
pub const MAX_STEPS: usize = 512;
/// The longest clock advance one step makes (so callbacks per step stay bounded).
const MAX_ADVANCE_NS: u64 = 1 << 20;
/// MSRs worth hitting more often than the 0x800–0x8FF sweep would.
const INTERESTING_MSRS: [u32; 4] = [msr::APIC_BASE, msr::TSC_DEADLINE, msr::X2APIC_ICR, EOI_MSR];
const OPERATIONS: u8 = 12;
/// The x2APIC EOI MSR.
const EOI_MSR: u32 = msr::X2APIC_FIRST + (offset::EOI >> msr::OFFSET_SHIFT);
/// The 64 register slots at offsets 0x000–0x3F0: operation 2 picks one.
const SLOT_MASK: u32 = 0x3F;
/// Argument bit: pick from [`INTERESTING_MSRS`] instead of the x2APIC range.
const INTERESTING_BIT: u32 = 0x100;
/// Argument bit: write a 64-bit value (reserved upper half) to an MSR.
const WIDE_BIT: u32 = 0x200;
/// Low byte of the argument: an x2APIC MSR index.
const MSR_INDEX_MASK: u32 = 0xFF;
/// The IA32_APIC_BASE mode bits (EN, EXTD) a legal-ish base write takes from the value.
const MODE_BITS: u32 = (registers::base::ENABLE | registers::base::EXTD) as u32;

fn word(bytes: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    let taken = bytes.len().min(word.len());
    word[..taken].copy_from_slice(&bytes[..taken]);
    u32::from_le_bytes(word)
}

/// Plays `data` against a fresh local APIC on a [`FakeContext`].
pub fn fuzz_lapic(data: &[u8]) {
    let Ok(mut apic) = LocalApic::new(LapicConfig::bootstrap(0)) else {
        return;
    };
    let mut ctx = FakeContext::new();
    if apic.install(&mut ctx).is_err() || apic.power_on(&mut ctx).is_err() {
        return;
    }
    for step in data.chunks(STEP_BYTES).take(MAX_STEPS) {
        let operation = step.first().copied().unwrap_or(0);
        let argument = word(step.get(1..4).unwrap_or(&[]));
        let value = word(step.get(4..).unwrap_or(&[]));
        play(&mut apic, &mut ctx, operation % OPERATIONS, argument, value);
        check(&apic, &ctx);
    }
}

fn play(apic: &mut LocalApic, ctx: &mut FakeContext, operation: u8, argument: u32, value: u32) {
    let page = apic.page_address();
    let sizes = [1usize, 2, 4, 8];
    let size = sizes[usize::from(argument.to_le_bytes()[2]) % sizes.len()];
    let offset_in_page = u64::from(argument % offset::PAGE_SIZE);
    match operation {
        0 => {
            let mut data = [0u8; 8];
            apic.mmio_read(ctx, page.wrapping_add(offset_in_page), &mut data[..size]);
        }
        1 => {
            let bytes = u64::from(value).to_le_bytes();
            apic.mmio_write(ctx, page.wrapping_add(offset_in_page), &bytes[..size]);
        }
        2 => {
            // Aligned 32-bit writes, the common case, so registers get programmed.
            let register = (argument & SLOT_MASK) * offset::STRIDE;
            apic.mmio_write(
                ctx,
                page.wrapping_add(u64::from(register)),
                &value.to_le_bytes(),
            );
        }
        3 | 4 => {
            let number = if argument & INTERESTING_BIT != 0 {
                INTERESTING_MSRS[argument as usize % INTERESTING_MSRS.len()]
            } else {
                msr::X2APIC_FIRST + (argument & MSR_INDEX_MASK)
            };
            if operation == 3 {
                let _ = apic.msr_read(ctx, number);
            } else {
                let wide = (u64::from(argument) << 32) | u64::from(value);
                let value = if argument & WIDE_BIT != 0 {
                    wide
                } else {
                    u64::from(value)
                };
                let _ = apic.msr_write(ctx, number, value);
            }
        }
        5 => {
            // Mostly legal mode changes: keep the default page, pick EN/EXTD.
            let bits = u64::from(value & MODE_BITS) | registers::base::DEFAULT_ADDRESS;
            let value = if argument & 1 != 0 {
                u64::from(value)
            } else {
                bits
            };
            let _ = apic.set_apic_base(ctx, value);
        }
        6 => {
            let _ = apic.accept(argument.to_le_bytes()[0], value & 1 != 0);
        }
        7 => {
            let _ = apic.acknowledge();
        }
        8 => apic.end_of_interrupt(),
        9 => {
            if argument & 1 != 0 {
                apic.set_lint0(value & 1 != 0);
            } else {
                apic.set_lint1(value & 1 != 0);
            }
        }
        10 => {
            let until = DeviceContext::now(ctx).saturating_add(u64::from(value) % MAX_ADVANCE_NS);
            let calls = ctx.fire_due(apic, until);
            assert!(
                calls <= MAX_ADVANCE_NS / MIN_TIMER_PERIOD_NS + 1,
                "timer callbacks below the minimum period"
            );
        }
        _ => {
            let _ = apic.take_ipis();
            let _ = apic.take_nmi();
            let _ = apic.take_eoi_broadcasts();
        }
    }
}

fn check(apic: &LocalApic, ctx: &FakeContext) {
    assert!(ctx.timers().len() <= 1, "the APIC holds at most one timer");
    assert_eq!(ctx.timers().len(), usize::from(apic.timer_armed()));
    for timer in ctx.timers().values() {
        assert!(timer.period >= MIN_TIMER_PERIOD_NS);
    }
    assert!(apic.ipis.len() <= MAX_QUEUED_IPIS);
    if let Some(vector) = apic.pending_interrupt() {
        assert!(vector >= FIRST_LEGAL_VECTOR);
        assert!(apic.irr().contains(vector));
        assert!(vector & priority::CLASS_MASK > apic.ppr() & priority::CLASS_MASK);
    }
    for vector in apic.irr().iter().chain(apic.isr().iter()) {
        assert!(
            vector >= FIRST_LEGAL_VECTOR,
            "vector {vector} below 16 accepted"
        );
    }
    assert!(apic.ppr() >= apic.tpr() & priority::CLASS_MASK);
    let now = DeviceContext::now(ctx);
    assert!(apic.timer_current_count(now) <= apic.countdown.initial);
}
