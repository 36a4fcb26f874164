//! The MSR interface (SDM 11.12.1, table 11-6): IA32_APIC_BASE, IA32_TSC_DEADLINE and the
//! x2APIC registers 0x800–0x8FF, with x2APIC's fault rules.

use crate::interface::DeviceContext;

use super::registers::{SELF_IPI_VECTOR, divide, icr, msr, offset, priority, svr};
use super::{ApicMode, Fault, LocalApic, Lvt};

/// How an x2APIC register may be written.
enum WriteRule {
    /// Bits that may be set (written bits outside fault).
    Allowed(u32),
    /// Only zero may be written (EOI, ESR).
    ZeroOnly,
    /// The register is read only.
    ReadOnly,
    /// No such register.
    Reserved,
}

fn write_rule(offset: u32) -> WriteRule {
    if let Some(entry) = Lvt::at(offset) {
        return WriteRule::Allowed(entry.writable() | entry.read_only());
    }
    match offset {
        offset::TPR => WriteRule::Allowed(priority::MASK),
        offset::SVR => WriteRule::Allowed(svr::WRITABLE),
        offset::TIMER_INITIAL => WriteRule::Allowed(u32::MAX),
        offset::TIMER_DIVIDE => WriteRule::Allowed(divide::WRITABLE),
        offset::SELF_IPI => WriteRule::Allowed(SELF_IPI_VECTOR),
        offset::EOI | offset::ESR => WriteRule::ZeroOnly,
        offset::ID | offset::VERSION | offset::PPR | offset::LDR | offset::TIMER_CURRENT => {
            WriteRule::ReadOnly
        }
        _ if (offset::ISR..offset::ESR).contains(&offset) => WriteRule::ReadOnly,
        _ => WriteRule::Reserved,
    }
}

impl LocalApic {
    /// RDMSR of IA32_APIC_BASE (0x1B), IA32_TSC_DEADLINE (0x6E0) or an x2APIC register
    /// (0x800–0x8FF, x2APIC mode only). `Err` means the VMM injects #GP.
    pub fn msr_read(&mut self, ctx: &mut dyn DeviceContext, number: u32) -> Result<u64, Fault> {
        let now = ctx.now();
        self.sync_timer(now);
        match number {
            msr::APIC_BASE => Ok(self.base),
            msr::TSC_DEADLINE => Ok(self.read_tsc_deadline()),
            msr::X2APIC_FIRST..=msr::X2APIC_LAST => {
                let offset = self.x2apic_offset(number)?;
                match offset {
                    offset::ID => Ok(u64::from(self.config.apic_id)),
                    offset::LDR => Ok(u64::from(self.ldr)),
                    offset::ICR_LOW => Ok(u64::from(self.icr_low)
                        | (u64::from(self.icr_high) << icr::X2APIC_DESTINATION_SHIFT)),
                    offset::EOI | offset::SELF_IPI => Err(Fault::WriteOnly { msr: number }),
                    _ => self
                        .read_shared(offset, now)
                        .map(u64::from)
                        .ok_or(Fault::ReservedRegister { msr: number }),
                }
            }
            _ => Err(Fault::NotApicMsr { msr: number }),
        }
    }

    /// WRMSR of IA32_APIC_BASE, IA32_TSC_DEADLINE or an x2APIC register. `Err` means the VMM
    /// injects #GP and the write had no effect.
    pub fn msr_write(
        &mut self,
        ctx: &mut dyn DeviceContext,
        number: u32,
        value: u64,
    ) -> Result<(), Fault> {
        match number {
            msr::APIC_BASE => self.set_apic_base(ctx, value),
            msr::TSC_DEADLINE => {
                self.write_tsc_deadline(ctx, value);
                Ok(())
            }
            msr::X2APIC_FIRST..=msr::X2APIC_LAST => {
                let offset = self.x2apic_offset(number)?;
                self.sync_timer(ctx.now());
                if offset == offset::ICR_LOW {
                    return self.write_x2apic_icr(number, value);
                }
                let reserved = Fault::ReservedBits { msr: number, value };
                let value32 = u32::try_from(value).map_err(|_| reserved)?;
                match write_rule(offset) {
                    WriteRule::Reserved => return Err(Fault::ReservedRegister { msr: number }),
                    WriteRule::ReadOnly => return Err(Fault::ReadOnly { msr: number }),
                    WriteRule::ZeroOnly if value32 != 0 => return Err(reserved),
                    WriteRule::Allowed(allowed) if value32 & !allowed != 0 => return Err(reserved),
                    WriteRule::ZeroOnly | WriteRule::Allowed(_) => {}
                }
                if offset == offset::SELF_IPI {
                    // A refused vector is recorded in the ESR, as for any received message.
                    let _ = self.accept(value32.to_le_bytes()[0], false);
                } else {
                    self.write_shared(ctx, offset, value32);
                }
                Ok(())
            }
            _ => Err(Fault::NotApicMsr { msr: number }),
        }
    }

    /// The xAPIC offset of an x2APIC MSR, if the APIC is in x2APIC mode.
    fn x2apic_offset(&self, number: u32) -> Result<u32, Fault> {
        if self.mode() != ApicMode::X2Apic {
            return Err(Fault::NotX2Apic { msr: number });
        }
        number
            .checked_sub(msr::X2APIC_FIRST)
            .filter(|index| number <= msr::X2APIC_LAST && *index <= msr::X2APIC_LAST)
            .map(|index| index << msr::OFFSET_SHIFT)
            .ok_or(Fault::NotApicMsr { msr: number })
    }

    fn write_x2apic_icr(&mut self, number: u32, value: u64) -> Result<(), Fault> {
        let low = value.to_le_bytes();
        let low = u32::from_le_bytes([low[0], low[1], low[2], low[3]]);
        if low & !icr::WRITABLE != 0 {
            return Err(Fault::ReservedBits { msr: number, value });
        }
        let destination = u32::try_from(value >> icr::X2APIC_DESTINATION_SHIFT).unwrap_or(u32::MAX);
        self.icr_low = low;
        self.icr_high = destination;
        self.send_ipi(low, destination);
        Ok(())
    }
}
