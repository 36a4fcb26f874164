//! One 8259A programmable interrupt controller (Intel 8259A datasheet, order 231468): the
//! request, in-service and mask registers, the priority resolver and the command state machine.
//! The pair in `mod.rs` cascades two of these.

/// ICW1/OCW2/OCW3 and poll-word bits, as the datasheet names them.
pub mod command {
    /// Bit 4 of a write to the command port: this is ICW1 (start of initialisation).
    pub const ICW1: u8 = 0x10;
    /// ICW1 bit 0 (IC4): ICW4 follows.
    pub const ICW1_IC4: u8 = 0x01;
    /// ICW1 bit 1 (SNGL): single chip, no ICW3.
    pub const ICW1_SINGLE: u8 = 0x02;
    /// ICW1 bit 3 (LTIM): every input level-triggered.
    pub const ICW1_LEVEL: u8 = 0x08;
    /// ICW2 bits 3–7: the vector base (T7–T3).
    pub const ICW2_VECTOR_MASK: u8 = 0xF8;
    /// ICW4 bit 1: automatic end of interrupt.
    pub const ICW4_AUTO_EOI: u8 = 0x02;
    /// ICW4 bit 4: special fully nested mode.
    pub const ICW4_SPECIAL_FULLY_NESTED: u8 = 0x10;
    /// Bit 3 of a non-ICW1 command write: OCW3 (else OCW2).
    pub const OCW3: u8 = 0x08;
    /// OCW2 bits 5–7 (R, SL, EOI) select the operation.
    pub const OCW2_OPERATION_SHIFT: u8 = 5;
    /// OCW2/OCW3 bits 0–2: an interrupt level.
    pub const LEVEL_MASK: u8 = 0x07;
    /// OCW2: rotate in automatic-EOI mode (clear).
    pub const OCW2_CLEAR_ROTATE_AUTO_EOI: u8 = 0;
    /// OCW2: non-specific EOI.
    pub const OCW2_EOI: u8 = 1;
    /// OCW2: no operation.
    pub const OCW2_NOP: u8 = 2;
    /// OCW2: specific EOI.
    pub const OCW2_SPECIFIC_EOI: u8 = 3;
    /// OCW2: rotate in automatic-EOI mode (set).
    pub const OCW2_SET_ROTATE_AUTO_EOI: u8 = 4;
    /// OCW2: rotate on non-specific EOI.
    pub const OCW2_ROTATE_EOI: u8 = 5;
    /// OCW2: set priority (the level becomes the lowest).
    pub const OCW2_SET_PRIORITY: u8 = 6;
    /// OCW2: rotate on specific EOI.
    pub const OCW2_ROTATE_SPECIFIC_EOI: u8 = 7;
    /// OCW3 bit 0 (RIS): read ISR instead of IRR.
    pub const OCW3_READ_ISR: u8 = 0x01;
    /// OCW3 bit 1 (RR): act on RIS.
    pub const OCW3_READ_REGISTER: u8 = 0x02;
    /// OCW3 bit 2 (P): poll command.
    pub const OCW3_POLL: u8 = 0x04;
    /// OCW3 bit 5 (SMM): special mask mode value.
    pub const OCW3_SPECIAL_MASK: u8 = 0x20;
    /// OCW3 bit 6 (ESMM): act on SMM.
    pub const OCW3_ENABLE_SPECIAL_MASK: u8 = 0x40;
    /// Poll word bit 7: an interrupt was pending.
    pub const POLL_INTERRUPT: u8 = 0x80;
}

use command::*;

/// Inputs per chip.
pub const LINES: u8 = 8;
/// The level a spurious acknowledge reports (IR7).
pub const SPURIOUS_LEVEL: u8 = 7;

/// Where the chip is in the ICW sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InitState {
    Ready,
    AwaitIcw2,
    AwaitIcw3,
    AwaitIcw4,
}

/// One 8259A.
#[derive(Debug, Clone)]
pub struct Chip {
    /// Pin levels as last driven (edge detection and level mode).
    pub(super) input: u8,
    /// Edge inputs that went high and may be latched again only after going low.
    edge_armed: u8,
    /// Interrupt request register.
    pub(super) request: u8,
    /// In-service register.
    pub(super) in_service: u8,
    /// Interrupt mask register (OCW1).
    pub(super) mask: u8,
    /// Edge/level control (ELCR): a set bit makes that input level-triggered.
    pub(super) level_triggered: u8,
    /// ELCR bits that may be set on this chip.
    level_capable: u8,
    /// ICW1.LTIM: every input level-triggered.
    all_level: bool,
    /// The level with the highest priority (0 after ICW1; moved by rotation).
    highest_priority: u8,
    pub(super) vector_base: u8,
    init: InitState,
    expect_icw4: bool,
    single: bool,
    pub(super) cascade: u8,
    pub(super) auto_eoi: bool,
    rotate_on_auto_eoi: bool,
    special_fully_nested: bool,
    special_mask: bool,
    read_isr: bool,
    poll_pending: bool,
    /// The IR input a slave is cascaded on, for special fully nested mode (master only).
    slave_input: Option<u8>,
}

impl Chip {
    /// A chip whose ELCR may set `level_capable` bits; `slave_input` names the master's cascade
    /// input (None for the slave).
    pub const fn new(level_capable: u8, slave_input: Option<u8>) -> Self {
        Chip {
            input: 0,
            edge_armed: 0,
            request: 0,
            in_service: 0,
            mask: 0,
            level_triggered: 0,
            level_capable,
            all_level: false,
            highest_priority: 0,
            vector_base: 0,
            init: InitState::Ready,
            expect_icw4: false,
            single: false,
            cascade: 0,
            auto_eoi: false,
            rotate_on_auto_eoi: false,
            special_fully_nested: false,
            special_mask: false,
            read_isr: false,
            poll_pending: false,
            slave_input,
        }
    }

    /// Power-on state: everything cleared, ELCR included.
    pub fn reset(&mut self) {
        *self = Chip::new(self.level_capable, self.slave_input);
    }

    fn level_mask(&self) -> u8 {
        if self.all_level {
            0xFF
        } else {
            self.level_triggered
        }
    }

    /// Drives input `line` (0–7) to `level`. Edge inputs latch a request on a low→high
    /// transition; level inputs request while high.
    pub fn set_input(&mut self, line: u8, level: bool) {
        let bit = 1u8 << (line & LEVEL_MASK);
        if level {
            self.input |= bit;
        } else {
            self.input &= !bit;
        }
        self.refresh_requests(bit);
    }

    /// Re-derives IRR for the inputs in `bits` from their pin levels.
    fn refresh_requests(&mut self, bits: u8) {
        let level = self.level_mask() & bits;
        let edge = !self.level_mask() & bits;
        // Level inputs: IRR follows the pin.
        self.request = (self.request & !level) | (self.input & level);
        // Edge inputs: latch on a rising edge, re-arm when the pin is low.
        let rising = self.input & edge & !self.edge_armed;
        self.request |= rising;
        self.edge_armed = (self.edge_armed & !edge) | (self.input & edge);
    }

    /// The priority rank (0 = highest) of the best level in `bits`, if any.
    fn best_rank(&self, bits: u8) -> Option<u8> {
        (0..LINES).find(|rank| bits & (1 << ((rank + self.highest_priority) & LEVEL_MASK)) != 0)
    }

    fn level_of_rank(&self, rank: u8) -> u8 {
        (rank + self.highest_priority) & LEVEL_MASK
    }

    /// The level the chip would present to the CPU now: the best unmasked request of higher
    /// priority than everything in service (special mask mode ignores masked ISR bits;
    /// special fully nested mode lets the slave's input interrupt its own service).
    pub fn output_level(&self) -> Option<u8> {
        let request_rank = self.best_rank(self.request & !self.mask)?;
        let mut blocking = self.in_service;
        if self.special_mask {
            blocking &= !self.mask;
        }
        if self.special_fully_nested
            && let Some(input) = self.slave_input
        {
            blocking &= !(1 << input);
        }
        match self.best_rank(blocking) {
            Some(service_rank) if service_rank <= request_rank => None,
            _ => Some(self.level_of_rank(request_rank)),
        }
    }

    /// The INTA sequence for `level`: marks it in service (unless auto-EOI) and clears an
    /// edge request.
    pub fn acknowledge(&mut self, level: u8) {
        let bit = 1u8 << (level & LEVEL_MASK);
        if self.auto_eoi {
            if self.rotate_on_auto_eoi {
                self.highest_priority = (level + 1) & LEVEL_MASK;
            }
        } else {
            self.in_service |= bit;
        }
        if self.level_mask() & bit == 0 {
            self.request &= !bit;
        }
    }

    /// Vector for `level` in 8086 mode: T7–T3 from ICW2, the level in bits 0–2.
    pub fn vector(&self, level: u8) -> u8 {
        self.vector_base | (level & LEVEL_MASK)
    }

    /// A write to the command port (A0 = 0): ICW1, OCW2 or OCW3.
    pub fn write_command(&mut self, value: u8) {
        if value & ICW1 != 0 {
            self.start_init(value);
        } else if value & OCW3 != 0 {
            self.write_ocw3(value);
        } else {
            self.write_ocw2(value);
        }
    }

    /// A write to the data port (A0 = 1): ICW2–4 during initialisation, else OCW1 (IMR).
    pub fn write_data(&mut self, value: u8) {
        match self.init {
            InitState::Ready => self.mask = value,
            InitState::AwaitIcw2 => {
                self.vector_base = value & ICW2_VECTOR_MASK;
                self.init = if !self.single {
                    InitState::AwaitIcw3
                } else if self.expect_icw4 {
                    InitState::AwaitIcw4
                } else {
                    InitState::Ready
                };
            }
            InitState::AwaitIcw3 => {
                self.cascade = value;
                self.init = if self.expect_icw4 {
                    InitState::AwaitIcw4
                } else {
                    InitState::Ready
                };
            }
            InitState::AwaitIcw4 => {
                self.auto_eoi = value & ICW4_AUTO_EOI != 0;
                self.special_fully_nested = value & ICW4_SPECIAL_FULLY_NESTED != 0;
                self.init = InitState::Ready;
            }
        }
    }

    /// A read of the command port: the poll word after a poll command, else IRR or ISR as
    /// OCW3 selected.
    pub fn read_command(&mut self) -> u8 {
        if self.poll_pending {
            return self.poll();
        }
        if self.read_isr {
            self.in_service
        } else {
            self.request
        }
    }

    /// A read of the data port: the poll word after a poll command, else IMR.
    pub fn read_data(&mut self) -> u8 {
        if self.poll_pending {
            return self.poll();
        }
        self.mask
    }

    /// ELCR write: only the capable bits stick. IRR is re-derived for inputs that changed mode.
    pub fn write_elcr(&mut self, value: u8) {
        let changed = (value & self.level_capable) ^ self.level_triggered;
        self.level_triggered = value & self.level_capable;
        // An input that became edge-triggered must see a fresh edge; one that became
        // level-triggered follows its pin at once.
        self.edge_armed |= changed & self.input;
        self.refresh_requests(changed);
    }

    /// ICW1: the datasheet's initialisation: IMR cleared, IR7 lowest priority, special mask
    /// mode off, IRR selected for reading, edge latches reset (an edge input must go low then
    /// high again), ICW4 functions zero unless IC4.
    fn start_init(&mut self, value: u8) {
        self.mask = 0;
        self.in_service = 0;
        self.highest_priority = 0;
        self.special_mask = false;
        self.read_isr = false;
        self.poll_pending = false;
        self.auto_eoi = false;
        self.rotate_on_auto_eoi = false;
        self.special_fully_nested = false;
        self.expect_icw4 = value & ICW1_IC4 != 0;
        self.single = value & ICW1_SINGLE != 0;
        self.all_level = value & ICW1_LEVEL != 0;
        self.edge_armed = self.input;
        self.request = self.input & self.level_mask();
        self.init = InitState::AwaitIcw2;
    }

    fn write_ocw2(&mut self, value: u8) {
        let level = value & LEVEL_MASK;
        match value >> OCW2_OPERATION_SHIFT {
            OCW2_CLEAR_ROTATE_AUTO_EOI => self.rotate_on_auto_eoi = false,
            OCW2_SET_ROTATE_AUTO_EOI => self.rotate_on_auto_eoi = true,
            operation @ (OCW2_EOI | OCW2_ROTATE_EOI) => {
                let mut candidates = self.in_service;
                if self.special_mask {
                    candidates &= !self.mask;
                }
                if let Some(rank) = self.best_rank(candidates) {
                    let served = self.level_of_rank(rank);
                    self.in_service &= !(1 << served);
                    if operation == OCW2_ROTATE_EOI {
                        self.highest_priority = (served + 1) & LEVEL_MASK;
                    }
                }
            }
            OCW2_SPECIFIC_EOI => self.in_service &= !(1 << level),
            OCW2_ROTATE_SPECIFIC_EOI => {
                self.in_service &= !(1 << level);
                self.highest_priority = (level + 1) & LEVEL_MASK;
            }
            OCW2_SET_PRIORITY => self.highest_priority = (level + 1) & LEVEL_MASK,
            // OCW2_NOP, and nothing else fits in three bits.
            _ => {}
        }
    }

    fn write_ocw3(&mut self, value: u8) {
        if value & OCW3_ENABLE_SPECIAL_MASK != 0 {
            self.special_mask = value & OCW3_SPECIAL_MASK != 0;
        }
        if value & OCW3_READ_REGISTER != 0 {
            self.read_isr = value & OCW3_READ_ISR != 0;
        }
        self.poll_pending = value & OCW3_POLL != 0;
    }

    /// The poll command's read: acknowledges the best request and returns 0x80 | level, or 0
    /// when nothing is pending.
    fn poll(&mut self) -> u8 {
        self.poll_pending = false;
        match self.output_level() {
            Some(level) => {
                self.acknowledge(level);
                POLL_INTERRUPT | level
            }
            None => 0,
        }
    }
}
