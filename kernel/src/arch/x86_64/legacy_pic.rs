//! The legacy 8259A pair: remapped away from the exception vectors and fully masked, since
//! the hypervisor uses the local APIC (Intel 8259A datasheet, ICW1–ICW4 and OCW1).

use x86_64::instructions::port::Port;

use super::idt::LEGACY_PIC_BASE_VECTOR;

const MASTER_COMMAND: u16 = 0x20;
const MASTER_DATA: u16 = 0x21;
const SLAVE_COMMAND: u16 = 0xa0;
const SLAVE_DATA: u16 = 0xa1;
/// ICW1: initialisation, ICW4 will follow.
const ICW1_INIT_WITH_ICW4: u8 = 0x11;
/// ICW3 on the master: a slave hangs off IRQ 2.
const ICW3_MASTER_SLAVE_ON_IRQ2: u8 = 1 << 2;
/// ICW3 on the slave: its cascade identity is 2.
const ICW3_SLAVE_IDENTITY: u8 = 2;
/// ICW4: 8086/88 mode.
const ICW4_8086_MODE: u8 = 0x01;
/// OCW1: every line masked.
const MASK_ALL: u8 = 0xff;

/// Remap both chips to `LEGACY_PIC_BASE_VECTOR..+16` and mask every line.
pub fn remap_and_mask() {
    let writes: [(u16, u8); 10] = [
        (MASTER_COMMAND, ICW1_INIT_WITH_ICW4),
        (SLAVE_COMMAND, ICW1_INIT_WITH_ICW4),
        (MASTER_DATA, LEGACY_PIC_BASE_VECTOR),
        (SLAVE_DATA, LEGACY_PIC_BASE_VECTOR + 8),
        (MASTER_DATA, ICW3_MASTER_SLAVE_ON_IRQ2),
        (SLAVE_DATA, ICW3_SLAVE_IDENTITY),
        (MASTER_DATA, ICW4_8086_MODE),
        (SLAVE_DATA, ICW4_8086_MODE),
        (MASTER_DATA, MASK_ALL),
        (SLAVE_DATA, MASK_ALL),
    ];
    for (port, value) in writes {
        // SAFETY: these are the 8259A's fixed ports; the sequence is the datasheet's
        // initialisation, which leaves every line masked.
        unsafe { Port::<u8>::new(port).write(value) };
    }
}
