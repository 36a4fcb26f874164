//! The register file behind both interfaces: the xAPIC page (SDM 11.4.1, table 11-1) and the
//! registers x2APIC mode shares with it.

use crate::interface::{DeviceContext, Gpa, Nanos};

use super::registers::{divide, esr, icr, logical, lvt, offset, priority, svr};
use super::vectors::WORDS;
use super::{ApicMode, Lint, LocalApic, Lvt, VERSION_VALUE};

/// What the page reads where nothing is decoded.
const OPEN_BUS: u8 = 0xFF;
const BITS_PER_BYTE: u32 = 8;

/// Which 256-bit register an offset falls in, and the word.
fn vector_register(offset: u32, first: u32) -> Option<usize> {
    let index = offset.checked_sub(first)? / offset::STRIDE;
    let index = usize::try_from(index).ok()?;
    (index < WORDS).then_some(index)
}

impl LocalApic {
    /// Reads a register both modes share; `None` for offsets that are not one of them.
    pub(super) fn read_shared(&self, offset: u32, now: Nanos) -> Option<u32> {
        if let Some(word) = vector_register(offset, offset::ISR) {
            return Some(self.isr.word(word));
        }
        if let Some(word) = vector_register(offset, offset::TMR) {
            return Some(self.tmr.word(word));
        }
        if let Some(word) = vector_register(offset, offset::IRR) {
            return Some(self.irr.word(word));
        }
        if let Some(entry) = Lvt::at(offset) {
            return Some(self.lvt(entry));
        }
        Some(match offset {
            offset::VERSION => VERSION_VALUE,
            offset::TPR => u32::from(self.tpr),
            offset::PPR => u32::from(self.ppr()),
            offset::SVR => self.svr,
            offset::ESR => self.esr,
            offset::ICR_LOW => self.icr_low,
            offset::TIMER_INITIAL => self.countdown.initial,
            offset::TIMER_CURRENT => self.timer_current_count(now),
            offset::TIMER_DIVIDE => self.countdown.divide_config,
            _ => return None,
        })
    }

    /// Writes a register both modes share, with `value` already checked (x2APIC) and cut to
    /// the writable bits here. Returns false for offsets that are not writable shared ones.
    pub(super) fn write_shared(
        &mut self,
        ctx: &mut dyn DeviceContext,
        offset: u32,
        value: u32,
    ) -> bool {
        if let Some(entry) = Lvt::at(offset) {
            self.write_lvt(ctx, entry, value);
            return true;
        }
        match offset {
            offset::TPR => self.tpr = (value & priority::MASK).to_le_bytes()[0],
            offset::EOI => self.end_of_interrupt(),
            offset::SVR => self.write_svr(ctx, value),
            offset::ESR => {
                self.esr = self.pending_errors;
                self.pending_errors = 0;
            }
            offset::TIMER_INITIAL => self.write_initial_count(ctx, value),
            offset::TIMER_DIVIDE => self.write_divide(ctx, value & divide::WRITABLE),
            _ => return false,
        }
        true
    }

    fn write_svr(&mut self, ctx: &mut dyn DeviceContext, value: u32) {
        self.sync_timer(ctx.now());
        self.svr = value & svr::WRITABLE;
        if self.svr & svr::ENABLE == 0 {
            for entry in &mut self.lvt {
                *entry |= lvt::MASK;
            }
            self.rearm(ctx);
        }
    }

    fn write_lvt(&mut self, ctx: &mut dyn DeviceContext, entry: Lvt, value: u32) {
        let mut value = value & entry.writable();
        if self.svr & svr::ENABLE == 0 {
            value |= lvt::MASK;
        }
        match entry {
            Lvt::Timer => self.write_timer_lvt(ctx, value),
            Lvt::Lint0 | Lvt::Lint1 => {
                let pin = if entry == Lvt::Lint0 {
                    Lint::Lint0
                } else {
                    Lint::Lint1
                };
                let old = self.lvt(entry);
                // Remote IRR is the model's; it only means something for level-triggered pins.
                let remote = if value & lvt::LEVEL != 0 {
                    old & lvt::REMOTE_IRR
                } else {
                    0
                };
                self.lvt[entry.index()] = value | remote;
                self.evaluate_lint(pin, false);
            }
            _ => self.lvt[entry.index()] = value,
        }
    }

    /// An xAPIC register read; reserved offsets read 0 and set ESR bit 7.
    fn read_xapic(&mut self, offset: u32, now: Nanos) -> u32 {
        let value = match offset {
            offset::ID => Some(u32::from(self.xapic_id) << super::registers::XAPIC_ID_SHIFT),
            offset::APR | offset::RRD | offset::EOI => Some(0),
            offset::LDR => Some(self.ldr),
            offset::DFR => Some(self.dfr),
            offset::ICR_HIGH => Some(self.icr_high),
            _ => self.read_shared(offset, now),
        };
        value.unwrap_or_else(|| {
            self.record_error(esr::ILLEGAL_REGISTER_ADDRESS);
            0
        })
    }

    /// An xAPIC register write; read-only registers ignore it, reserved ones set ESR bit 7.
    fn write_xapic(&mut self, ctx: &mut dyn DeviceContext, offset: u32, value: u32) {
        match offset {
            offset::ID => {
                self.xapic_id = (value >> super::registers::XAPIC_ID_SHIFT).to_le_bytes()[0];
            }
            offset::LDR => self.ldr = value & logical::XAPIC_LDR_MASK,
            offset::DFR => {
                self.dfr = (value & logical::DFR_MODEL_MASK) | logical::DFR_RESERVED_ONES;
            }
            offset::ICR_HIGH => self.icr_high = value & icr::XAPIC_HIGH_WRITABLE,
            offset::ICR_LOW => {
                self.icr_low = value & icr::WRITABLE;
                let destination = self.icr_high >> icr::XAPIC_DESTINATION_SHIFT;
                self.send_ipi(self.icr_low, destination);
            }
            offset::APR | offset::RRD => {}
            _ if self.write_shared(ctx, offset, value) => {}
            _ if self.read_shared(offset, 0).is_some() => {}
            _ => self.record_error(esr::ILLEGAL_REGISTER_ADDRESS),
        }
    }

    /// The page offset of `addr + index` if it lies in the decoded xAPIC page.
    fn page_offset(&self, addr: Gpa, index: usize) -> Option<u32> {
        if self.mode() != ApicMode::XApic {
            return None;
        }
        let addr = addr.checked_add(u64::try_from(index).ok()?)?;
        let offset = addr.checked_sub(self.page_address())?;
        u32::try_from(offset)
            .ok()
            .filter(|offset| *offset < offset::PAGE_SIZE)
    }

    /// Operation 1 on the xAPIC page (see the module docs for sizes and alignment).
    pub(super) fn xapic_read(&mut self, ctx: &mut dyn DeviceContext, addr: Gpa, data: &mut [u8]) {
        let now = ctx.now();
        self.sync_timer(now);
        for (index, slot) in data.iter_mut().enumerate() {
            *slot = match self.page_offset(addr, index) {
                None => OPEN_BUS,
                Some(page_offset) => {
                    let within = page_offset % offset::STRIDE;
                    if within < offset::REGISTER_BYTES {
                        let value = self.read_xapic(page_offset - within, now);
                        (value >> (within * BITS_PER_BYTE)).to_le_bytes()[0]
                    } else {
                        0
                    }
                }
            };
        }
    }

    /// Operation 2 on the xAPIC page: only aligned 4-byte writes reach a register.
    pub(super) fn xapic_write(&mut self, ctx: &mut dyn DeviceContext, addr: Gpa, data: &[u8]) {
        let Some(page_offset) = self.page_offset(addr, 0) else {
            return;
        };
        let Ok(bytes) = <[u8; 4]>::try_from(data) else {
            self.count_malformed();
            return;
        };
        if page_offset % offset::STRIDE != 0 {
            self.count_malformed();
            return;
        }
        self.sync_timer(ctx.now());
        self.write_xapic(ctx, page_offset, u32::from_le_bytes(bytes));
    }

    fn count_malformed(&mut self) {
        self.counters.malformed_accesses = self.counters.malformed_accesses.saturating_add(1);
    }
}
