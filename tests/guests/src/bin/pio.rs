//! Port I/O test guest: every access width, the immediate and DX forms and string I/O against
//! the platform's device models, checked against their datasheets:
//!
//! - 8254 PIT (Intel 82C54 datasheet): program counters 0 and 2, the counter latch command and
//!   the read-back command (status byte, then count), counter 2's gate and OUT in port 0x61;
//! - MC146818 RTC/CMOS (Motorola datasheet; IBM PC/AT CMOS map): status registers A, B and D,
//!   the seconds register, the "memory above 16 MiB" fields 0x34/0x35 against RDI;
//! - 16550A UART: the scratch register (`in`, `rep insb`), `rep outsb` to THR;
//! - PCI configuration mechanism #1 (PCI Local Bus spec 3.0 §3.2.2.3.2): dword, word and byte
//!   accesses to 0xCF8/0xCFC–0xCFF, `rep insw`/`rep insd`/`rep outsw`, the i440FX PAM write
//!   masks, and a scan of bus 0 that finds 8086:1237 at 00:00.0 and all-ones elsewhere.
//!
//! Every check prints a line; the guest exits 0 only if all pass.

#![no_std]
#![no_main]

use guests::check::Checks;
use guests::port::{
    inb, inb_imm, inl, insb, insl, insw, inw, outb, outb_imm, outl, outsb, outsw, outw,
};
use guests::{BootInfo, entry, println};

entry!(main);

/// PIT counter 0 data port.
const PIT_COUNTER0: u16 = 0x40;
/// PIT counter 2 data port.
const PIT_COUNTER2: u16 = 0x42;
/// PIT control word port.
const PIT_CONTROL: u16 = 0x43;
/// System control port B: bit 0 gate 2, bit 1 speaker data, bit 5 OUT2.
const PORT_B: u16 = 0x61;
/// Port B bit 0: counter 2's gate.
const PORT_B_GATE2: u8 = 1 << 0;
/// Port B bit 1: speaker data enable.
const PORT_B_SPEAKER: u8 = 1 << 1;
/// Port B bit 5: counter 2's OUT.
const PORT_B_OUT2: u8 = 1 << 5;

/// Control word: select counter 0 (bits 7–6 = 00).
const PIT_SELECT0: u8 = 0b00 << 6;
/// Control word: select counter 2 (bits 7–6 = 10).
const PIT_SELECT2: u8 = 0b10 << 6;
/// Control word: read-back command (bits 7–6 = 11).
const PIT_READ_BACK: u8 = 0b11 << 6;
/// Control word: access LSB then MSB (bits 5–4 = 11).
const PIT_ACCESS_LOHI: u8 = 0b11 << 4;
/// Control word: counter latch command (bits 5–4 = 00).
const PIT_LATCH: u8 = 0b00 << 4;
/// Control word: mode 0, interrupt on terminal count (bits 3–1).
const PIT_MODE0: u8 = 0 << 1;
/// Control word: mode 2, rate generator.
const PIT_MODE2: u8 = 2 << 1;
/// Read-back command: latch counter 0 (bit 1).
const PIT_READ_BACK_COUNTER0: u8 = 1 << 1;
/// Read-back command: latch counter 2 (bit 3).
const PIT_READ_BACK_COUNTER2: u8 = 1 << 3;
/// Status byte: OUT (bit 7).
const PIT_STATUS_OUT: u8 = 1 << 7;
/// Status byte: null count (bit 6), masked off: whether the count has reached the counting
/// element depends on how many input clocks passed since the write.
const PIT_STATUS_NULL_COUNT: u8 = 1 << 6;
/// Counter 2's count: with its gate low in mode 0 it does not count.
const COUNT2: u16 = 0x1234;
/// Counter 0's count in mode 2.
const COUNT0: u16 = 0x1000;
/// Port polls before giving up on a PIT event (each poll is a VM exit, microseconds).
const POLL_LIMIT: u32 = 100_000;

/// CMOS index port (bit 7 of the index is the NMI mask).
const CMOS_INDEX: u8 = 0x70;
/// CMOS data port.
const CMOS_DATA: u8 = 0x71;
/// RTC seconds register.
const CMOS_SECONDS: u8 = 0x00;
/// RTC status register A: UIP, divider, rate.
const CMOS_STATUS_A: u8 = 0x0A;
/// RTC status register B: SET, interrupt enables, DM, 24/12, DSE.
const CMOS_STATUS_B: u8 = 0x0B;
/// RTC status register D: VRT.
const CMOS_STATUS_D: u8 = 0x0D;
/// CMOS: memory above 16 MiB in 64 KiB blocks, low byte (high byte at 0x35).
const CMOS_MEM_ABOVE_16M_LOW: u8 = 0x34;
/// CMOS: high byte of the memory above 16 MiB.
const CMOS_MEM_ABOVE_16M_HIGH: u8 = 0x35;
/// Register A bits 6–4: the divider chain.
const STATUS_A_DIVIDER_MASK: u8 = 0x70;
/// Divider 010: the 32.768 kHz time base, the clock runs.
const STATUS_A_DIVIDER_32K: u8 = 0x20;
/// Register B bit 7: SET (updates halted).
const STATUS_B_SET: u8 = 1 << 7;
/// Register B bit 2: data mode binary (else BCD).
const STATUS_B_BINARY: u8 = 1 << 2;
/// Register D bit 7: valid RAM and time.
const STATUS_D_VRT: u8 = 1 << 7;
/// 16 MiB: where the memory counted by CMOS 0x34/0x35 starts.
const SIXTEEN_MIB: u64 = 16 * 1024 * 1024;
/// The unit of CMOS 0x34/0x35.
const BLOCK_64K: u64 = 64 * 1024;

/// COM1 scratch register.
const UART_SCRATCH: u16 = 0x3FF;
/// COM1 transmitter holding register.
const UART_THR: u16 = 0x3F8;
/// What the guest writes to the scratch register.
const SCRATCH_VALUE: u8 = 0x5A;
/// The line sent with one `rep outsb` (within the 16-byte transmit FIFO).
const OUTSB_LINE: &[u8] = b"rep outsb ok\n";

/// PCI CONFIG_ADDRESS.
const PCI_ADDRESS: u16 = 0xCF8;
/// PCI CONFIG_DATA (bytes 0xCFC–0xCFF).
const PCI_DATA: u16 = 0xCFC;
/// CONFIG_ADDRESS bit 31: enable.
const PCI_ENABLE: u32 = 1 << 31;
/// Configuration offset of the i440FX PAM0..PAM3 dword (PAM1 at 0x5A, PAM2 at 0x5B).
const I440FX_PAM_DWORD: u32 = 0x58;
/// The PAM bits that exist (two segments: bits 5:4 and 1:0), for PAM1 and PAM2.
const PAM_WRITABLE: u16 = 0x3333;
/// A PAM1/PAM2 value inside the writable bits (read/write enables set and clear in turn).
const PAM_TEST_VALUE: u16 = 0x1331;
/// Two PAM1/PAM2 values for `rep outsw`: the second one stays.
const PAM_SEQUENCE: [u16; 2] = [0x0011, 0x1230];
/// Vendor:device of the host bridge, as read from offset 0 as a dword.
const I440FX_ID: u32 = 0x1237_8086;
/// Intel's vendor ID.
const VENDOR_INTEL: u16 = 0x8086;
/// The i440FX device ID.
const DEVICE_I440FX: u16 = 0x1237;
/// What an absent function reads as.
const ABSENT: u32 = 0xFFFF_FFFF;
/// Devices per PCI bus.
const PCI_DEVICES: u32 = 32;
/// Functions per PCI device.
const PCI_FUNCTIONS: u32 = 8;

fn main(boot: BootInfo) -> u32 {
    println!("port I/O checks ({:#x} bytes of RAM)", boot.ram_bytes);
    let mut checks = Checks::new();
    pit_counter2(&mut checks);
    pit_counter0(&mut checks);
    cmos(&mut checks, &boot);
    uart(&mut checks);
    pci_widths(&mut checks);
    pci_scan(&mut checks);
    checks.finish()
}

/// Reads a latched 16-bit count (LSB then MSB) from a counter port.
fn read_count(port: u16) -> u16 {
    let low = inb(port);
    let high = inb(port);
    u16::from_le_bytes([low, high])
}

/// Counter 2, mode 0, gate from port 0x61: read-back of status and count while the gate is low,
/// counting once it is high, OUT2 high at the terminal count.
fn pit_counter2(checks: &mut Checks) {
    let port_b = inb(PORT_B) & !(PORT_B_GATE2 | PORT_B_SPEAKER);
    outb(PORT_B, port_b);
    outb(PIT_CONTROL, PIT_SELECT2 | PIT_ACCESS_LOHI | PIT_MODE0);
    let [low, high] = COUNT2.to_le_bytes();
    outb(PIT_COUNTER2, low);
    outb(PIT_COUNTER2, high);
    outb(PIT_CONTROL, PIT_READ_BACK | PIT_READ_BACK_COUNTER2);
    let status = inb(PIT_COUNTER2);
    checks.equal(
        "PIT counter 2 read-back status (OUT low, LSB/MSB, mode 0, binary; null count masked)",
        status & !PIT_STATUS_NULL_COUNT,
        PIT_ACCESS_LOHI | PIT_MODE0,
    );
    checks.equal(
        "PIT counter 2 read-back count, gate low",
        read_count(PIT_COUNTER2),
        COUNT2,
    );
    checks.equal(
        "port 0x61 OUT2 low after a mode 0 count",
        inb(PORT_B) & PORT_B_OUT2,
        0,
    );

    outb(PORT_B, port_b | PORT_B_GATE2);
    let mut count = COUNT2;
    for _ in 0..POLL_LIMIT {
        outb(PIT_CONTROL, PIT_SELECT2 | PIT_LATCH);
        count = read_count(PIT_COUNTER2);
        if count < COUNT2 {
            break;
        }
    }
    checks.check(
        count < COUNT2,
        format_args!("PIT counter 2 counts down with the gate high (latched {count:#x})"),
    );
    let reached = (0..POLL_LIMIT).any(|_| inb(PORT_B) & PORT_B_OUT2 != 0);
    checks.check(
        reached,
        format_args!("port 0x61 OUT2 goes high at the terminal count"),
    );
    outb(PORT_B, port_b);
}

/// Counter 0, mode 2: read-back status, counter latch command.
fn pit_counter0(checks: &mut Checks) {
    outb(PIT_CONTROL, PIT_SELECT0 | PIT_ACCESS_LOHI | PIT_MODE2);
    let [low, high] = COUNT0.to_le_bytes();
    outb(PIT_COUNTER0, low);
    outb(PIT_COUNTER0, high);
    outb(PIT_CONTROL, PIT_READ_BACK | PIT_READ_BACK_COUNTER0);
    let status = inb(PIT_COUNTER0);
    checks.equal(
        "PIT counter 0 read-back status (LSB/MSB, mode 2, binary; OUT and null count masked)",
        status & !(PIT_STATUS_NULL_COUNT | PIT_STATUS_OUT),
        PIT_ACCESS_LOHI | PIT_MODE2,
    );
    let count = read_count(PIT_COUNTER0);
    checks.check(
        (1..=COUNT0).contains(&count),
        format_args!("PIT counter 0 read-back count {count:#x} in 1..={COUNT0:#x}"),
    );
    outb(PIT_CONTROL, PIT_SELECT0 | PIT_LATCH);
    let count = read_count(PIT_COUNTER0);
    checks.check(
        (1..=COUNT0).contains(&count),
        format_args!("PIT counter 0 latched count {count:#x} in 1..={COUNT0:#x}"),
    );
}

/// Reads CMOS register `index` with the immediate-port forms (`out 0x70, al`; `in al, 0x71`).
fn cmos_read(index: u8) -> u8 {
    outb_imm::<CMOS_INDEX>(index);
    inb_imm::<CMOS_DATA>()
}

/// Whether `value` is a valid seconds value in the data mode register B selects.
fn valid_seconds(value: u8, binary: bool) -> bool {
    if binary {
        value < 60
    } else {
        value >> 4 < 6 && value & 0x0F < 10
    }
}

/// RTC status registers, the seconds, and the memory-size fields against RDI.
fn cmos(checks: &mut Checks, boot: &BootInfo) {
    let status_a = cmos_read(CMOS_STATUS_A);
    checks.equal(
        "CMOS register A divider (32.768 kHz time base)",
        status_a & STATUS_A_DIVIDER_MASK,
        STATUS_A_DIVIDER_32K,
    );
    let status_b = cmos_read(CMOS_STATUS_B);
    checks.equal(
        "CMOS register B SET bit (clock running)",
        status_b & STATUS_B_SET,
        0,
    );
    checks.equal(
        "CMOS register D (valid RAM and time)",
        cmos_read(CMOS_STATUS_D),
        STATUS_D_VRT,
    );
    let binary = status_b & STATUS_B_BINARY != 0;
    let seconds = cmos_read(CMOS_SECONDS);
    checks.check(
        valid_seconds(seconds, binary),
        format_args!(
            "CMOS seconds {seconds:#x} valid in {} mode",
            if binary { "binary" } else { "BCD" }
        ),
    );
    let reported = u16::from_le_bytes([
        cmos_read(CMOS_MEM_ABOVE_16M_LOW),
        cmos_read(CMOS_MEM_ABOVE_16M_HIGH),
    ]);
    let blocks = boot.ram_bytes.saturating_sub(SIXTEEN_MIB) / BLOCK_64K;
    let expected = u16::try_from(blocks).unwrap_or(u16::MAX);
    checks.equal(
        "CMOS 0x34/0x35 (64 KiB blocks above 16 MiB, from RDI)",
        reported,
        expected,
    );
}

/// The UART scratch register through `in`/`out` and `rep insb`, and `rep outsb` to THR.
fn uart(checks: &mut Checks) {
    outb(UART_SCRATCH, SCRATCH_VALUE);
    checks.equal(
        "UART scratch register read back",
        inb(UART_SCRATCH),
        SCRATCH_VALUE,
    );
    let mut bytes = [0u8; 4];
    insb(UART_SCRATCH, &mut bytes);
    checks.check(
        bytes == [SCRATCH_VALUE; 4],
        format_args!("rep insb of 4 bytes from the scratch register: {bytes:02x?}"),
    );
    outsb(UART_THR, OUTSB_LINE);
    println!("(the line before this one came from one rep outsb)");
}

/// CONFIG_ADDRESS for bus 0, `device`, `function`, dword `offset`.
const fn config_address(device: u32, function: u32, offset: u32) -> u32 {
    PCI_ENABLE | device << 11 | function << 8 | offset
}

/// Dword, word and byte accesses to the configuration ports, and their string forms.
fn pci_widths(checks: &mut Checks) {
    let address = config_address(0, 0, 0);
    outl(PCI_ADDRESS, address);
    checks.equal(
        "CONFIG_ADDRESS reads back (dword in/out)",
        inl(PCI_ADDRESS),
        address,
    );
    checks.equal("00:00.0 offset 0 as a dword", inl(PCI_DATA), I440FX_ID);
    checks.equal(
        "00:00.0 vendor as a word at 0xCFC",
        inw(PCI_DATA),
        VENDOR_INTEL,
    );
    checks.equal(
        "00:00.0 device as a word at 0xCFE",
        inw(PCI_DATA + 2),
        DEVICE_I440FX,
    );
    checks.equal(
        "00:00.0 byte 1 at 0xCFD",
        inb(PCI_DATA + 1),
        VENDOR_INTEL.to_le_bytes()[1],
    );
    checks.equal(
        "00:00.0 byte 3 at 0xCFF",
        inb(PCI_DATA + 3),
        DEVICE_I440FX.to_le_bytes()[1],
    );
    let mut words = [0u16; 2];
    insw(PCI_DATA + 2, &mut words);
    checks.check(
        words == [DEVICE_I440FX; 2],
        format_args!("rep insw of 2 words from 0xCFE: {words:04x?}"),
    );
    let mut dwords = [0u32; 2];
    insl(PCI_DATA, &mut dwords);
    checks.check(
        dwords == [I440FX_ID; 2],
        format_args!("rep insd of 2 dwords from 0xCFC: {dwords:08x?}"),
    );

    outl(PCI_ADDRESS, config_address(0, 0, I440FX_PAM_DWORD));
    outw(PCI_DATA + 2, PAM_TEST_VALUE);
    checks.equal(
        "i440FX PAM1/PAM2 word write reads back",
        inw(PCI_DATA + 2),
        PAM_TEST_VALUE,
    );
    outw(PCI_DATA + 2, u16::MAX);
    checks.equal(
        "i440FX PAM1/PAM2 keep only their writable bits",
        inw(PCI_DATA + 2),
        PAM_WRITABLE,
    );
    outsw(PCI_DATA + 2, &PAM_SEQUENCE);
    checks.equal(
        "rep outsw of 2 words to PAM1/PAM2 leaves the last",
        inw(PCI_DATA + 2),
        PAM_SEQUENCE[1],
    );
    outw(PCI_DATA + 2, 0);
}

/// Scans bus 0: the host bridge at 00:00.0, nothing (all-ones) at the other 255 functions.
fn pci_scan(checks: &mut Checks) {
    let mut absent = 0u32;
    for device in 0..PCI_DEVICES {
        for function in 0..PCI_FUNCTIONS {
            outl(PCI_ADDRESS, config_address(device, function, 0));
            let id = inl(PCI_DATA);
            if device == 0 && function == 0 {
                checks.equal("PCI scan: 00:00.0 is 8086:1237", id, I440FX_ID);
            } else if id == ABSENT {
                absent += 1;
            } else {
                checks.check(
                    false,
                    format_args!(
                        "PCI scan: 00:{device:02x}.{function} reads {id:#010x}, expected all-ones"
                    ),
                );
            }
        }
    }
    let others = PCI_DEVICES * PCI_FUNCTIONS - 1;
    checks.equal(
        "PCI scan: other functions of bus 0 reading all-ones",
        absent,
        others,
    );
}
