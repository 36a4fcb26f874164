//! ACPI fixed-hardware power management (ACPI 6.5 §4.8.3): the PM1a event block (PM1 status and
//! enable registers), the PM1a control block and the power-management timer, at fixed ports, so
//! an OS keeps its ACPI interpreter and can power the VM off through `\_S5`.
//!
//! # Behaviour
//! - **Ports** ([`PM1A_EVT_PORT`], [`PM1A_CNT_PORT`], [`PM_TMR_PORT`]): PM1_STS at 0x600–0x601,
//!   PM1_EN at 0x602–0x603, PM1_CNT at 0x604–0x605, PM_TMR at 0x608–0x60B. Any access width
//!   works at any offset: each byte goes to the register that holds it; bytes no register holds
//!   read all-ones and drop writes. The bus never hands the device 0x606–0x607 (not claimed).
//! - **PM1_STS** (§4.8.3.1.1) is write-1-to-clear. [`pm1_sts::TMR_STS`] is set whenever bit 23
//!   of the timer changes; [`pm1_sts::WAK_STS`] when a sleep other than S5 is requested (the VM
//!   "wakes" at once). Nothing in this VM raises the other status bits (BM, GBL, power and sleep
//!   buttons, RTC, PCIe wake): they read 0 and accept W1C.
//! - **PM1_EN** (§4.8.3.1.2) holds the enables of [`pm1_en::WRITABLE`]; other bits read 0. The
//!   enables of events this VM never raises still read back: ACPICA enables GBL_EN and checks
//!   that it sticks before it declares the global lock present (evglock.c).
//! - **SCI**: ISA line [`SCI_LINE`] (level, active high) is asserted while
//!   `PM1_STS & PM1_EN` has an event bit set ([`SCI_EVENTS`]).
//! - **PM1_CNT** (§4.8.3.2.1): SCI_EN reads 1 and cannot be cleared: the FADT has SMI_CMD = 0,
//!   so the platform is always in ACPI mode and there is no SMI handler to hand events to.
//!   BM_RLD and SLP_TYP read back; GBL_RLS and SLP_EN are write-only (read 0; GBL_RLS has no BIOS
//!   to signal and is ignored). Writing SLP_EN = 1 enters the sleep state SLP_TYP names:
//!   [`SLP_TYP_S5`] (soft off, the value the DSDT's `\_S5` package carries) requests
//!   [`VmRequest::Shutdown`] with status 0, a clean power-off; any other type is not modelled
//!   and completes at once: WAK_STS is set as on resume, so an OS polling it goes on.
//! - **PM_TMR** (§4.8.3.3): a free-running 24-bit counter at [`PM_TIMER_HZ`] (3.579545 MHz),
//!   `floor(now × 3579545 / 10⁹) mod 2²⁴` where `now` is the context clock (nanoseconds since the
//!   VM was created); writes are ignored, bits 31–24 read 0 (the FADT does not set TMR_VAL_EXT).
//! - **Timer carry interrupt**: TMR_STS is settled from the clock on every access. While TMR_EN
//!   is set the device also holds one context timer of [`CARRY_POLL_NS`] so the SCI for a carry
//!   comes at most that late without an access. If the context refuses the timer the carry is
//!   still noticed at the next access ([`AcpiPm::timer_error`] keeps the refusal).
//! - **Power on** (the chip's reset): status, enables and control cleared (SCI_EN still reads 1),
//!   SCI lowered, the carry detector restarted from now. **Power off** drops the timer and
//!   lowers the SCI.
//!
//! # Threat note
//! The guest controls which ports it touches with which widths, the values written and when.
//! Every byte is decoded on its own against the fixed register table; register values are
//! masked to their defined bits; a write can at most request one shutdown. Timer arithmetic is
//! done in `u128` (`u64::MAX` ns × 3579545 fits), so no clock value overflows. The device holds
//! at most one context timer and grows nothing.

#[cfg(test)]
mod tests;

use crate::interface::{
    Device, DeviceContext, DeviceError, IrqLine, Nanos, PortRange, TimerError, TimerId, VmRequest,
};
use crate::port_claims::{claim_ports, release_ports};

/// First port of the register blocks (clear of the PC's legacy ports, the PCI configuration
/// ports 0xCF8–0xCFF and the PCI I/O BARs from 0xC000).
pub const PM_BASE: u16 = 0x600;
/// PM1a_EVT_BLK: PM1_STS (2 bytes) then PM1_EN (2 bytes).
pub const PM1A_EVT_PORT: u16 = PM_BASE;
/// FADT PM1_EVT_LEN: bytes of the PM1a event block.
pub const PM1_EVT_LEN: u8 = 4;
/// PM1a_CNT_BLK: PM1_CNT.
pub const PM1A_CNT_PORT: u16 = PM_BASE + 4;
/// FADT PM1_CNT_LEN: bytes of the PM1a control block.
pub const PM1_CNT_LEN: u8 = 2;
/// PM_TMR_BLK: the 32-bit timer register (24 bits implemented).
pub const PM_TMR_PORT: u16 = PM_BASE + 8;
/// FADT PM_TMR_LEN: bytes of the timer block.
pub const PM_TMR_LEN: u8 = 4;
/// The SCI's ISA interrupt line (the FADT's SCI_INT; the MADT declares it level, active high).
pub const SCI_LINE: IrqLine = IrqLine(9);
/// SLP_TYP of the soft-off state S5: what the DSDT's `\_S5` package holds (ACPI 6.5 §7.4.2,
/// `\_Sx` system states). Any 3-bit value works; 5 names the state it stands for.
pub const SLP_TYP_S5: u8 = 5;
/// The PM timer's rate, 3.579545 MHz (ACPI 6.5 §4.8.3.3).
pub const PM_TIMER_HZ: u64 = 3_579_545;
/// Bits of the timer (TMR_VAL_EXT clear: 24).
pub const PM_TIMER_BITS: u32 = 24;
/// The timer's value mask.
pub const PM_TIMER_MASK: u32 = (1 << PM_TIMER_BITS) - 1;
/// TMR_STS is set whenever this bit of the timer changes (the counter's most significant bit).
const TIMER_CARRY_SHIFT: u32 = PM_TIMER_BITS - 1;
/// How often the device checks for a timer carry while TMR_EN is set.
pub const CARRY_POLL_NS: Nanos = 100_000_000;
/// The status bits that raise the SCI when their enable is set (§4.8.3.1: WAK_STS, BM_STS and
/// PCIEXP_WAKE_STS wake the system but do not interrupt a running one).
pub const SCI_EVENTS: u16 = pm1_sts::TMR_STS
    | pm1_sts::GBL_STS
    | pm1_sts::PWRBTN_STS
    | pm1_sts::SLPBTN_STS
    | pm1_sts::RTC_STS;

const NANOS_PER_SECOND: u128 = 1_000_000_000;
const OPEN_BUS: u8 = 0xFF;
const BITS_PER_BYTE: u32 = 8;

/// PM1 status register bits (ACPI 6.5 Table 4.16); write 1 to clear.
pub mod pm1_sts {
    /// Bit 23 of the PM timer changed.
    pub const TMR_STS: u16 = 1 << 0;
    /// A bus master requested the bus.
    pub const BM_STS: u16 = 1 << 4;
    /// The BIOS released the global lock.
    pub const GBL_STS: u16 = 1 << 5;
    /// The fixed power button was pressed.
    pub const PWRBTN_STS: u16 = 1 << 8;
    /// The fixed sleep button was pressed.
    pub const SLPBTN_STS: u16 = 1 << 9;
    /// The RTC alarm fired.
    pub const RTC_STS: u16 = 1 << 10;
    /// A PCI Express wake event.
    pub const PCIEXP_WAKE_STS: u16 = 1 << 14;
    /// The system woke from a sleep state.
    pub const WAK_STS: u16 = 1 << 15;
    /// The defined status bits (the rest are reserved or "ignore" and read 0).
    pub const DEFINED: u16 =
        TMR_STS | BM_STS | GBL_STS | PWRBTN_STS | SLPBTN_STS | RTC_STS | PCIEXP_WAKE_STS | WAK_STS;
}

/// PM1 enable register bits (ACPI 6.5 Table 4.17).
pub mod pm1_en {
    /// Timer carry interrupt enable.
    pub const TMR_EN: u16 = 1 << 0;
    /// Global release interrupt enable.
    pub const GBL_EN: u16 = 1 << 5;
    /// Power button interrupt enable.
    pub const PWRBTN_EN: u16 = 1 << 8;
    /// Sleep button interrupt enable.
    pub const SLPBTN_EN: u16 = 1 << 9;
    /// RTC alarm interrupt enable.
    pub const RTC_EN: u16 = 1 << 10;
    /// PCI Express wake *disable*.
    pub const PCIEXP_WAKE_DIS: u16 = 1 << 14;
    /// The bits that read back.
    pub const WRITABLE: u16 = TMR_EN | GBL_EN | PWRBTN_EN | SLPBTN_EN | RTC_EN | PCIEXP_WAKE_DIS;
}

/// PM1 control register bits (ACPI 6.5 Table 4.18).
pub mod pm1_cnt {
    /// SCI (not SMI) delivery of power-management events: always 1 here.
    pub const SCI_EN: u16 = 1 << 0;
    /// Bus-master requests take the CPU out of C3.
    pub const BM_RLD: u16 = 1 << 1;
    /// Write-only: release the global lock to the BIOS.
    pub const GBL_RLS: u16 = 1 << 2;
    /// First bit of the 3-bit sleep type.
    pub const SLP_TYP_SHIFT: u32 = 10;
    /// The sleep type field, bits 12–10.
    pub const SLP_TYP: u16 = 0b111 << SLP_TYP_SHIFT;
    /// Write-only: enter the sleep state SLP_TYP names.
    pub const SLP_EN: u16 = 1 << 13;
    /// The bits that read back as written.
    pub const STORED: u16 = BM_RLD | SLP_TYP;
}

/// The timer value at `now` (nanoseconds of VM time): `floor(now × 3579545 / 10⁹) mod 2²⁴`.
pub const fn pm_timer_value(now: Nanos) -> u32 {
    (pm_timer_ticks(now) & PM_TIMER_MASK as u64) as u32
}

/// Timer ticks since the VM was created, not wrapped. The product is at most
/// `u64::MAX × 3579545 < 2⁸⁶`, so `u128` holds it; the quotient is below `u64::MAX / 279`.
const fn pm_timer_ticks(now: Nanos) -> u64 {
    (now as u128 * PM_TIMER_HZ as u128 / NANOS_PER_SECOND) as u64
}

/// The four registers, by the ports that hold them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Register {
    Status,
    Enable,
    Control,
    Timer,
}

impl Register {
    const ALL: [Register; 4] = [
        Register::Status,
        Register::Enable,
        Register::Control,
        Register::Timer,
    ];

    /// The register's first port and its width in bytes.
    const fn span(self) -> (u16, u16) {
        match self {
            Register::Status => (PM1A_EVT_PORT, PM1_EVT_LEN as u16 / 2),
            Register::Enable => (
                PM1A_EVT_PORT + PM1_EVT_LEN as u16 / 2,
                PM1_EVT_LEN as u16 / 2,
            ),
            Register::Control => (PM1A_CNT_PORT, PM1_CNT_LEN as u16),
            Register::Timer => (PM_TMR_PORT, PM_TMR_LEN as u16),
        }
    }

    const fn index(self) -> usize {
        self as usize
    }

    /// The register holding `port` and the byte's position in it.
    fn at(port: u16) -> Option<(Register, u32)> {
        Self::ALL.into_iter().find_map(|register| {
            let (first, width) = register.span();
            let offset = port.checked_sub(first)?;
            (offset < width).then_some((register, u32::from(offset)))
        })
    }
}

/// The ports of `data`'s bytes, paired with them; bytes past port 0xFFFF are left out.
fn ports<T>(port: u16, data: impl IntoIterator<Item = T>) -> impl Iterator<Item = (u16, T)> {
    data.into_iter()
        .enumerate()
        .map_while(move |(index, item)| {
            let port = u16::try_from(index)
                .ok()
                .and_then(|i| port.checked_add(i))?;
            Some((port, item))
        })
}

/// The PM1a event and control blocks and the PM timer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcpiPm {
    status: u16,
    enable: u16,
    /// BM_RLD and SLP_TYP as last written.
    control: u16,
    /// Timer carries have been settled up to this tick count.
    settled_ticks: u64,
    sci_level: bool,
    timer: Option<TimerId>,
    timer_error: Option<TimerError>,
}

impl Default for AcpiPm {
    fn default() -> Self {
        Self::new()
    }
}

impl AcpiPm {
    /// The ranges the device claims at install: the event block, the control block, the timer.
    pub const PORTS: [PortRange; 3] = [
        match PortRange::new(PM1A_EVT_PORT, PM1_EVT_LEN as u16) {
            Ok(range) => range,
            Err(_) => panic!("the PM1a event block fits the port space"),
        },
        match PortRange::new(PM1A_CNT_PORT, PM1_CNT_LEN as u16) {
            Ok(range) => range,
            Err(_) => panic!("the PM1a control block fits the port space"),
        },
        match PortRange::new(PM_TMR_PORT, PM_TMR_LEN as u16) {
            Ok(range) => range,
            Err(_) => panic!("the PM timer block fits the port space"),
        },
    ];

    /// The device in its power-on state, at the fixed ports.
    pub const fn new() -> Self {
        AcpiPm {
            status: 0,
            enable: 0,
            control: 0,
            settled_ticks: 0,
            sci_level: false,
            timer: None,
            timer_error: None,
        }
    }

    /// PM1_STS as last settled (without settling or side effects).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// PM1_EN.
    pub fn enable(&self) -> u16 {
        self.enable
    }

    /// PM1_CNT as the guest reads it.
    pub fn control(&self) -> u16 {
        self.control | pm1_cnt::SCI_EN
    }

    /// Whether the SCI is asserted.
    pub fn sci_level(&self) -> bool {
        self.sci_level
    }

    /// Whether the device holds a context timer (TMR_EN set).
    pub fn holds_timer(&self) -> bool {
        self.timer.is_some()
    }

    /// The last error the context gave when the device asked for its carry timer.
    pub fn timer_error(&self) -> Option<TimerError> {
        self.timer_error
    }

    /// Sets TMR_STS if bit 23 of the timer changed since the last settle (a clock that went
    /// back changes nothing), then drives the SCI.
    fn settle(&mut self, ctx: &mut dyn DeviceContext) {
        let ticks = pm_timer_ticks(ctx.now());
        if ticks >> TIMER_CARRY_SHIFT > self.settled_ticks >> TIMER_CARRY_SHIFT {
            self.status |= pm1_sts::TMR_STS;
        }
        self.settled_ticks = self.settled_ticks.max(ticks);
        self.update_sci(ctx);
    }

    fn update_sci(&mut self, ctx: &mut dyn DeviceContext) {
        let level = self.status & self.enable & SCI_EVENTS != 0;
        if level != self.sci_level {
            self.sci_level = level;
            // The line was checked at install; nothing better to do if it went away.
            let _ = ctx.set_irq(SCI_LINE, level);
        }
    }

    /// Holds the carry timer exactly while TMR_EN is set.
    fn reschedule(&mut self, ctx: &mut dyn DeviceContext) {
        let wanted = self.enable & pm1_en::TMR_EN != 0;
        match (wanted, self.timer) {
            (true, None) => match ctx.connect_timer(CARRY_POLL_NS) {
                Ok(timer) => self.timer = Some(timer),
                Err(error) => self.timer_error = Some(error),
            },
            (false, Some(timer)) => {
                self.timer = None;
                // A timer we hold cannot be unknown to the context that gave it.
                let _ = ctx.disconnect_timer(timer);
            }
            _ => {}
        }
    }

    /// The value of `register` as the guest reads it, with the timer at `timer`.
    fn read_register(&self, register: Register, timer: u32) -> u32 {
        match register {
            Register::Status => u32::from(self.status),
            Register::Enable => u32::from(self.enable),
            Register::Control => u32::from(self.control()),
            Register::Timer => timer,
        }
    }

    /// Writes the bytes of `register` selected by `mask` (byte lanes of `value`).
    fn write_register(
        &mut self,
        ctx: &mut dyn DeviceContext,
        register: Register,
        value: u32,
        mask: u32,
    ) {
        // Status, enable and control are 16 bits wide: their lanes lie in the low half.
        let [low, high, ..] = (value & mask).to_le_bytes();
        let written = u16::from_le_bytes([low, high]);
        let [low, high, ..] = mask.to_le_bytes();
        let lanes = u16::from_le_bytes([low, high]);
        match register {
            Register::Status => self.status &= !(written & pm1_sts::DEFINED),
            Register::Enable => {
                self.enable = ((self.enable & !lanes) | written) & pm1_en::WRITABLE;
                self.reschedule(ctx);
            }
            Register::Control => {
                self.control = ((self.control & !lanes) | written) & pm1_cnt::STORED;
                if written & pm1_cnt::SLP_EN != 0 {
                    self.sleep(ctx);
                }
            }
            Register::Timer => {}
        }
    }

    /// SLP_EN was written: enter the state SLP_TYP names.
    fn sleep(&mut self, ctx: &mut dyn DeviceContext) {
        let sleep_type = (self.control & pm1_cnt::SLP_TYP) >> pm1_cnt::SLP_TYP_SHIFT;
        if sleep_type == u16::from(SLP_TYP_S5) {
            ctx.request(VmRequest::Shutdown { status: 0 });
        } else {
            self.status |= pm1_sts::WAK_STS;
        }
    }

    fn drop_timer(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        if let Some(timer) = self.timer.take() {
            ctx.disconnect_timer(timer)?;
        }
        Ok(())
    }
}

impl Device for AcpiPm {
    fn name(&self) -> &str {
        "acpi_pm"
    }

    /// Checks the SCI line and claims the three blocks.
    fn install(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        ctx.set_irq(SCI_LINE, false)
            .map_err(|e| DeviceError::Config(alloc::format!("acpi_pm SCI line: {e:?}")))?;
        claim_ports(ctx, &Self::PORTS)
    }

    /// The chip's reset: every register cleared (SCI_EN still reads 1), SCI low, no timer.
    fn power_on(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.drop_timer(ctx)?;
        self.status = 0;
        self.enable = 0;
        self.control = 0;
        self.settled_ticks = pm_timer_ticks(ctx.now());
        self.update_sci(ctx);
        Ok(())
    }

    fn power_off(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.drop_timer(ctx)?;
        if self.sci_level {
            self.sci_level = false;
            let _ = ctx.set_irq(SCI_LINE, false);
        }
        Ok(())
    }

    fn remove(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        self.drop_timer(ctx)?;
        release_ports(ctx, &Self::PORTS)
    }

    fn pio_read(&mut self, ctx: &mut dyn DeviceContext, port: u16, data: &mut [u8]) {
        self.settle(ctx);
        let timer = pm_timer_value(ctx.now());
        data.fill(OPEN_BUS);
        for (port, byte) in ports(port, data.iter_mut()) {
            if let Some((register, lane)) = Register::at(port) {
                let value = self.read_register(register, timer);
                *byte = value.to_le_bytes()[lane as usize];
            }
        }
    }

    fn pio_write(&mut self, ctx: &mut dyn DeviceContext, port: u16, data: &[u8]) {
        self.settle(ctx);
        // Gather the bytes per register first, so a 16-bit write is one register write.
        let mut staged = [(0u32, 0u32); Register::ALL.len()];
        for (port, byte) in ports(port, data.iter().copied()) {
            if let Some((register, lane)) = Register::at(port) {
                let (value, mask) = &mut staged[register.index()];
                *value |= u32::from(byte) << (lane * BITS_PER_BYTE);
                *mask |= u32::from(u8::MAX) << (lane * BITS_PER_BYTE);
            }
        }
        for register in Register::ALL {
            let (value, mask) = staged[register.index()];
            if mask != 0 {
                self.write_register(ctx, register, value, mask);
            }
        }
        self.update_sci(ctx);
    }

    fn timer(&mut self, ctx: &mut dyn DeviceContext, id: TimerId, _now: Nanos) {
        if self.timer == Some(id) {
            self.settle(ctx);
        }
    }
}
