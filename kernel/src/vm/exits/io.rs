//! Port I/O exits (SDM Vol. 3C, table 28-5 "Exit qualification for I/O instructions"): IN/OUT
//! of 1, 2 and 4 bytes go to the VM's device bus; INS/OUTS move data between the bus and guest
//! memory at ES:rDI / seg:rSI with the address size and segment from the VM-exit instruction
//! information, honouring DF and REP.

use alloc::format;

use super::{Flow, stop};
use crate::vm::Vm;
use crate::vm::guest_access::{self, AccessError, segment_base, segment_from_number};
use crate::vm::vcpu::read;
use crate::vmx::entry::gpr;
use crate::vmx::fields::VmcsField as F;
use devices::insn::Segment;

/// Qualification bits 2:0: access size minus one.
const SIZE_MASK: u64 = 0b111;
/// Bit 3: direction, 1 = IN.
const DIRECTION_IN: u64 = 1 << 3;
/// Bit 4: string instruction.
const STRING: u64 = 1 << 4;
/// Bit 5: REP prefix.
const REP: u64 = 1 << 5;
/// Bits 31:16: port number.
const PORT_SHIFT: u64 = 16;
/// Instruction information bits 9:7: address size (0 = 16, 1 = 32, 2 = 64 bit).
const INFO_ADDRESS_SIZE_SHIFT: u64 = 7;
/// Instruction information bits 17:15: segment register of OUTS.
const INFO_SEGMENT_SHIFT: u64 = 15;
/// RFLAGS.DF.
const RFLAGS_DIRECTION: u64 = 1 << 10;
/// Elements of a REP string instruction done per exit before the guest re-executes it (the
/// bound keeps a huge RCX from holding the hypervisor).
pub const STRING_BATCH: u64 = 4096;

/// The I/O instruction exit.
pub fn handle(vm: &mut Vm) -> Flow {
    let qualification = read(F::ExitQualification);
    let size = ((qualification & SIZE_MASK) + 1) as usize;
    let port = (qualification >> PORT_SHIFT) as u16;
    let is_in = qualification & DIRECTION_IN != 0;
    if !matches!(size, 1 | 2 | 4) {
        return stop(format!("I/O exit with impossible size {size}"));
    }
    vm.stats.record_port(port);
    // Passed-through ports should never exit; count it if one does (the tests assert zero).
    for passthrough in vm
        .passthrough_ports
        .iter_mut()
        .filter(|p| p.ports.contains(port))
    {
        passthrough.exits = passthrough.exits.saturating_add(1);
    }
    let flow = dispatch(vm, qualification, port, size, is_in);
    print_mediation_logs(vm);
    flow
}

/// Print what the mediated devices decided (denied, logged, rewritten accesses).
fn print_mediation_logs(vm: &Vm) {
    for (name, device) in &vm.mediated {
        for record in device.lock().take_log() {
            crate::println!("VM {}: {name}: {record}", vm.name);
        }
    }
}

fn dispatch(vm: &mut Vm, qualification: u64, port: u16, size: usize, is_in: bool) -> Flow {
    if qualification & STRING != 0 {
        return string(vm, port, size, is_in, qualification & REP != 0);
    }
    let rax = &mut vm.vcpu.registers.gprs[gpr::RAX];
    if is_in {
        let mut data = [0u8; 4];
        vm.bus.pio_read(&mut vm.platform, port, &mut data[..size]);
        let value = u64::from(u32::from_le_bytes(data));
        *rax = match size {
            1 => (*rax & !0xff) | value,
            2 => (*rax & !0xffff) | value,
            // A 32-bit register write zero-extends to 64 bits.
            _ => value,
        };
    } else {
        let data = (*rax as u32).to_le_bytes();
        vm.bus.pio_write(&mut vm.platform, port, &data[..size]);
    }
    vm.vcpu.skip_instruction();
    Flow::Resume
}

fn string(vm: &mut Vm, port: u16, size: usize, is_in: bool, rep: bool) -> Flow {
    let info = read(F::ExitInstructionInfo);
    let address_mask = match (info >> INFO_ADDRESS_SIZE_SHIFT) & 0b111 {
        0 => 0xffff,
        1 => 0xffff_ffff,
        _ => u64::MAX,
    };
    let segment = if is_in {
        Segment::Es
    } else {
        segment_from_number((info >> INFO_SEGMENT_SHIFT) & 0b111).unwrap_or(Segment::Ds)
    };
    let base = segment_base(segment);
    let pointer = if is_in { gpr::RDI } else { gpr::RSI };
    let step = if read(F::GuestRflags) & RFLAGS_DIRECTION != 0 {
        (size as u64).wrapping_neg()
    } else {
        size as u64
    };
    let mut remaining = if rep {
        vm.vcpu.registers.gprs[gpr::RCX] & address_mask
    } else {
        1
    };
    let mut batch = remaining.min(STRING_BATCH);
    while batch > 0 {
        let offset = vm.vcpu.registers.gprs[pointer] & address_mask;
        let linear = base.wrapping_add(offset);
        let mut data = [0u8; 4];
        let result = if is_in {
            vm.bus.pio_read(&mut vm.platform, port, &mut data[..size]);
            guest_access::write_linear(&mut vm.bus, &mut vm.platform, linear, &data[..size])
        } else {
            guest_access::read_linear(&mut vm.bus, &mut vm.platform, linear, &mut data[..size]).map(
                |()| {
                    vm.bus.pio_write(&mut vm.platform, port, &data[..size]);
                },
            )
        };
        if let Err(error) = result {
            let what = match error {
                AccessError::Walk(walk) => {
                    format!("string I/O operand at linear {linear:#x} not mapped: {walk:?}")
                }
                AccessError::NotMemory { gpa } => {
                    format!("string I/O operand at {gpa:#x} is neither RAM nor a device")
                }
            };
            return stop(what);
        }
        let registers = &mut vm.vcpu.registers.gprs;
        registers[pointer] =
            with_address_size(registers[pointer], offset.wrapping_add(step), address_mask);
        remaining -= 1;
        if rep {
            registers[gpr::RCX] = with_address_size(registers[gpr::RCX], remaining, address_mask);
        }
        batch -= 1;
    }
    // A REP with elements left re-executes (and exits again) without advancing RIP.
    if remaining == 0 {
        vm.vcpu.skip_instruction();
    }
    Flow::Resume
}

/// A register after writing `value` at the address size `mask`: 16-bit writes keep the upper
/// bits, 32-bit writes zero-extend (as 32-bit register writes do), 64-bit writes replace.
fn with_address_size(old: u64, value: u64, mask: u64) -> u64 {
    if mask == 0xffff {
        (old & !mask) | (value & mask)
    } else {
        value & mask
    }
}
