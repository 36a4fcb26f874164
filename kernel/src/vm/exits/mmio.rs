//! EPT violations: a guest access to guest-physical memory that is not its RAM. If a device
//! claims the address, the instruction at RIP is fetched through the guest's page tables,
//! decoded and emulated against the bus (`devices::insn`); anything else — an access outside RAM
//! and devices, or an instruction fetch from there — stops the VM with a diagnostic.

use alloc::format;

use devices::bus::Bus;
use devices::insn::{
    self, EmulationContext, EmulationError, FaultInfo, MAX_INSTRUCTION_LENGTH, OperandSize,
    Outcome, Segment,
};

use super::{Flow, stop};
use crate::vm::Vm;
use crate::vm::guest_access::{self, AccessError, is_device_memory, segment_base};
use crate::vm::platform::Platform;
use crate::vm::vcpu::read;
use crate::vmx::fields::VmcsField as F;

/// Qualification bit 0: data read.
const READ: u64 = 1 << 0;
/// Qualification bit 1: data write.
const WRITE: u64 = 1 << 1;
/// Qualification bit 2: instruction fetch.
const FETCH: u64 = 1 << 2;

/// The EPT-violation exit.
pub fn handle(vm: &mut Vm) -> Flow {
    let gpa = read(F::GuestPhysicalAddress);
    let qualification = read(F::ExitQualification);
    let kind = if qualification & FETCH != 0 {
        "execute"
    } else if qualification & WRITE != 0 {
        "write"
    } else if qualification & READ != 0 {
        "read"
    } else {
        "access"
    };
    if qualification & FETCH != 0 || !is_device_memory(&vm.bus, gpa) {
        return stop(format!(
            "{kind} at guest-physical {gpa:#x}, outside its RAM and devices"
        ));
    }
    let Some(fault) = FaultInfo::from_ept_qualification(gpa, qualification) else {
        return stop(format!("EPT violation without a data access at {gpa:#x}"));
    };
    let rip = vm.vcpu.rip();
    let linear = segment_base(Segment::Cs).wrapping_add(rip);
    let mut bytes = [0u8; MAX_INSTRUCTION_LENGTH];
    let fetched = fetch(&mut vm.bus, &mut vm.platform, linear, &mut bytes);
    if fetched == 0 {
        return stop(format!(
            "cannot fetch the instruction at {linear:#x} that touched device memory {gpa:#x}"
        ));
    }
    let mode = vm.vcpu.mode();
    let instruction = match insn::decode(&bytes[..fetched], mode) {
        Ok(instruction) => instruction,
        Err(error) => {
            return stop(format!(
                "cannot emulate the instruction at {linear:#x} ({:02x?}) on device memory {gpa:#x}: {error:?}",
                &bytes[..fetched]
            ));
        }
    };
    let mut registers = vm.vcpu.emulator_registers();
    let mut context = Context {
        bus: &mut vm.bus,
        platform: &mut vm.platform,
    };
    match insn::emulate(&instruction, &mut registers, fault, &mut context) {
        Ok(Outcome::Retired { .. } | Outcome::Repeat) => {
            vm.vcpu.apply_emulator_registers(&registers);
            Flow::Resume
        }
        // The bytes at RIP changed under us: let the guest retry the instruction.
        Err(EmulationError::AccessMismatch { .. }) => Flow::Resume,
        Err(EmulationError::Context(error)) => stop(format!(
            "emulating the instruction at {linear:#x} on device memory {gpa:#x}: {error:?}"
        )),
    }
}

/// Read up to 15 instruction bytes, stopping at the first byte that cannot be fetched.
fn fetch(bus: &mut Bus, platform: &mut Platform, linear: u64, bytes: &mut [u8]) -> usize {
    if guest_access::read_linear(bus, platform, linear, bytes).is_ok() {
        return bytes.len();
    }
    // The tail crosses into an unmapped page: take what the first page has.
    let first_page = (4096 - (linear % 4096)) as usize;
    let length = first_page.min(bytes.len());
    match guest_access::read_linear(bus, platform, linear, &mut bytes[..length]) {
        Ok(()) => length,
        Err(_) => 0,
    }
}

/// The emulator's view of the VM: the bus for device memory, guest RAM for the other side of
/// MOVS.
struct Context<'a> {
    bus: &'a mut Bus,
    platform: &'a mut Platform,
}

impl EmulationContext for Context<'_> {
    type Error = AccessError;

    fn mmio_read(&mut self, gpa: u64, size: OperandSize) -> Result<u64, AccessError> {
        let mut data = [0u8; 8];
        self.bus
            .mmio_read(self.platform, gpa, &mut data[..usize::from(size.bytes())]);
        Ok(u64::from_le_bytes(data))
    }

    fn mmio_write(&mut self, gpa: u64, size: OperandSize, value: u64) -> Result<(), AccessError> {
        self.bus.mmio_write(
            self.platform,
            gpa,
            &value.to_le_bytes()[..usize::from(size.bytes())],
        );
        Ok(())
    }

    fn read_memory(
        &mut self,
        segment: Segment,
        offset: u64,
        data: &mut [u8],
    ) -> Result<(), AccessError> {
        let linear = segment_base(segment).wrapping_add(offset);
        guest_access::read_linear(self.bus, self.platform, linear, data)
    }

    fn write_memory(
        &mut self,
        segment: Segment,
        offset: u64,
        data: &[u8],
    ) -> Result<(), AccessError> {
        let linear = segment_base(segment).wrapping_add(offset);
        guest_access::write_linear(self.bus, self.platform, linear, data)
    }
}
