//! The fuzz body for the I/O APIC: arbitrary IOREGSEL/IOWIN/EOI traffic of any size, pin
//! levels and EOIs, checking the model's invariants after every step. A cargo-fuzz target
//! calls [`fuzz_ioapic`]; any panic is a finding.
//!
//! Input layout: 8-byte steps (a short tail is zero-padded): byte 0 the operation, byte 1 a
//! pin/offset/size selector, bytes 2–3 spare, bytes 4–7 a value.

use crate::interface::Device;
use crate::testing::FakeContext;

use super::registers::{entry, offset};
use super::{DEFAULT_BASE, Delivery, IoApic, PINS};

const STEP_BYTES: usize = 8;
/// Steps played at most per input.
pub const MAX_STEPS: usize = 512;
const OPERATIONS: u8 = 7;
const SIZES: [usize; 4] = [1, 2, 4, 8];
/// Offsets worth hitting: the three registers and one past the decoded ones.
const OFFSETS: [u64; 4] = [offset::IOREGSEL, offset::IOWIN, offset::EOI, UNDECODED];
/// An offset no register decodes.
const UNDECODED: u64 = 0x20;
/// Selector bits 1:0 pick an offset, bits 5:2 a byte displacement, bits 7:6 the size.
const OFFSET_MASK: u8 = 0b11;
const DISPLACEMENT_SHIFT: u8 = 2;
const DISPLACEMENT_MASK: u8 = 0xF;
const SIZE_SHIFT: u8 = 6;
/// Spreads a 32-bit value over the address space for out-of-page accesses.
const ADDRESS_SPREAD: u64 = 0x1_0001;

fn word(bytes: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    let taken = bytes.len().min(word.len());
    word[..taken].copy_from_slice(&bytes[..taken]);
    u32::from_le_bytes(word)
}

/// Plays `data` against a fresh I/O APIC on a [`FakeContext`].
pub fn fuzz_ioapic(data: &[u8]) {
    let Ok(mut ioapic) = IoApic::new(0, DEFAULT_BASE) else {
        return;
    };
    let mut ctx = FakeContext::new();
    if ioapic.install(&mut ctx).is_err() || ioapic.power_on(&mut ctx).is_err() {
        return;
    }
    for step in data.chunks(STEP_BYTES).take(MAX_STEPS) {
        let operation = step.first().copied().unwrap_or(0) % OPERATIONS;
        let selector = step.get(1).copied().unwrap_or(0);
        let value = word(step.get(4..).unwrap_or(&[]));
        let size = SIZES[usize::from(selector >> SIZE_SHIFT)];
        let place = OFFSETS[usize::from(selector & OFFSET_MASK)]
            + u64::from((selector >> DISPLACEMENT_SHIFT) & DISPLACEMENT_MASK);
        let sent: alloc::vec::Vec<Delivery> = match operation {
            0 => {
                let mut data = [0u8; 8];
                ioapic.mmio_read(&mut ctx, DEFAULT_BASE + place, &mut data[..size]);
                alloc::vec::Vec::new()
            }
            1 => {
                let bytes = u64::from(value).to_le_bytes();
                ioapic.mmio_write(&mut ctx, DEFAULT_BASE + place, &bytes[..size]);
                ioapic.take_deliveries()
            }
            2 => {
                // Select a register, then write it: the common guest sequence.
                ioapic.mmio_write(&mut ctx, DEFAULT_BASE, &[selector]);
                ioapic.mmio_write(&mut ctx, DEFAULT_BASE + offset::IOWIN, &value.to_le_bytes());
                ioapic.take_deliveries()
            }
            3 | 4 => {
                let pin = selector % (PINS + 2);
                match ioapic.set_irq(pin, operation == 3) {
                    Ok(sent) => sent.into_iter().collect(),
                    Err(_) => {
                        assert!(pin >= PINS);
                        alloc::vec::Vec::new()
                    }
                }
            }
            5 => ioapic.eoi(value.to_le_bytes()[0]),
            _ => {
                let mut data = [0u8; 8];
                let addr = u64::from(value).wrapping_mul(ADDRESS_SPREAD);
                ioapic.mmio_read(&mut ctx, addr, &mut data[..size]);
                ioapic.mmio_write(&mut ctx, addr, &data[..size]);
                ioapic.take_deliveries()
            }
        };
        check(&ioapic, &sent);
    }
}

fn check(ioapic: &IoApic, sent: &[Delivery]) {
    assert!(sent.len() <= usize::from(PINS));
    for message in sent {
        let value = ioapic
            .redirection_entry(message.pin)
            .expect("deliveries come from real pins");
        assert_eq!(message.vector, value.to_le_bytes()[0]);
        assert_eq!(value & entry::MASK, 0, "a masked pin delivered");
        if message.level_triggered {
            assert_ne!(
                value & entry::REMOTE_IRR,
                0,
                "level delivery without remote IRR"
            );
        }
    }
    for pin in 0..PINS {
        let value = ioapic.redirection_entry(pin).unwrap_or(0);
        assert_eq!(value & !(entry::WRITABLE | entry::REMOTE_IRR), 0);
        assert_eq!(value & entry::DELIVERY_STATUS, 0);
    }
}
