//! How each schema type is laid out in the wire format ([`super::encoding`] has the overview,
//! [`super::wire`] the primitives): struct fields in declaration order, one tag byte (the
//! constants below) before an enum variant's fields, `Option` as a presence byte
//! ([`NONE`]/[`SOME`]) before its value. Every sequence and string is capped by its
//! [`Limit`]; an unknown tag or presence byte is [`DecodeError::Malformed`].

use super::encoding::{DecodeError, EncodeError};
use super::limits::Limit;
use super::schema::{
    Access, Action, CpuidOverride, DeviceDesc, DeviceKind, Guest, HostDevice, Machine, Method,
    PolicyRule, PortSpan, VmDesc,
};
use super::wire::{Place, Reader, Writer};

/// `Option::None`.
pub const NONE: u8 = 0;
/// `Option::Some`, the value follows.
pub const SOME: u8 = 1;

/// [`Guest::Elf`].
pub const GUEST_ELF: u8 = 0;
/// [`Guest::RealMode`].
pub const GUEST_REAL_MODE: u8 = 1;
/// [`Guest::Linux`].
pub const GUEST_LINUX: u8 = 2;

/// [`DeviceKind::Uart16550`].
pub const KIND_UART16550: u8 = 0;
/// [`DeviceKind::DebugExit`].
pub const KIND_DEBUG_EXIT: u8 = 1;
/// [`DeviceKind::TestDevice`].
pub const KIND_TEST_DEVICE: u8 = 2;
/// [`DeviceKind::PortRange`].
pub const KIND_PORT_RANGE: u8 = 3;
/// [`DeviceKind::MemoryRange`].
pub const KIND_MEMORY_RANGE: u8 = 4;
/// [`DeviceKind::VirtioBlk`].
pub const KIND_VIRTIO_BLK: u8 = 5;
/// [`DeviceKind::VirtioConsole`].
pub const KIND_VIRTIO_CONSOLE: u8 = 6;

/// `false`.
pub const FALSE: u8 = 0;
/// `true`.
pub const TRUE: u8 = 1;

/// [`Method::Emulated`].
pub const METHOD_EMULATED: u8 = 0;
/// [`Method::HostBacked`].
pub const METHOD_HOST_BACKED: u8 = 1;
/// [`Method::Passthrough`].
pub const METHOD_PASSTHROUGH: u8 = 2;
/// [`Method::Mediated`].
pub const METHOD_MEDIATED: u8 = 3;

/// [`HostDevice::Com1`].
pub const HOST_COM1: u8 = 0;
/// [`HostDevice::Com2`].
pub const HOST_COM2: u8 = 1;
/// [`HostDevice::Ports`].
pub const HOST_PORTS: u8 = 2;
/// [`HostDevice::Memory`].
pub const HOST_MEMORY: u8 = 3;

/// [`Access::Read`].
pub const ACCESS_READ: u8 = 0;
/// [`Access::Write`].
pub const ACCESS_WRITE: u8 = 1;
/// [`Access::Both`].
pub const ACCESS_BOTH: u8 = 2;

/// [`Action::Allow`].
pub const ACTION_ALLOW: u8 = 0;
/// [`Action::Deny`].
pub const ACTION_DENY: u8 = 1;
/// [`Action::Log`].
pub const ACTION_LOG: u8 = 2;
/// [`Action::Rewrite`].
pub const ACTION_REWRITE: u8 = 3;

// ----- writing -----

/// Appends `machine` (no caps checked: [`super::encode`] checks them first).
pub fn write_machine(out: &mut Writer, machine: &Machine) -> Result<(), EncodeError> {
    out.len(machine.vms.len())?;
    machine.vms.iter().try_for_each(|vm| write_vm(out, vm))
}

fn write_vm(out: &mut Writer, vm: &VmDesc) -> Result<(), EncodeError> {
    out.str(&vm.name)?;
    out.u32(vm.ram_mib);
    out.u32(vm.vcpus);
    out.u8(if vm.apic { TRUE } else { FALSE });
    out.u8(if vm.acpi { TRUE } else { FALSE });
    write_guest(out, &vm.guest)?;
    out.len(vm.devices.len())?;
    vm.devices
        .iter()
        .try_for_each(|device| write_device(out, device))?;
    out.len(vm.cpuid_overrides.len())?;
    vm.cpuid_overrides
        .iter()
        .for_each(|cpuid| write_cpuid(out, cpuid));
    Ok(())
}

fn write_guest(out: &mut Writer, guest: &Guest) -> Result<(), EncodeError> {
    match guest {
        Guest::Elf { file } => {
            out.u8(GUEST_ELF);
            out.str(file)
        }
        Guest::RealMode { file, load_address } => {
            out.u8(GUEST_REAL_MODE);
            out.str(file)?;
            out.u32(*load_address);
            Ok(())
        }
        Guest::Linux {
            kernel,
            initrd,
            cmdline,
        } => {
            out.u8(GUEST_LINUX);
            out.str(kernel)?;
            match initrd {
                None => out.u8(NONE),
                Some(initrd) => {
                    out.u8(SOME);
                    out.str(initrd)?;
                }
            }
            out.str(cmdline)
        }
    }
}

fn write_device(out: &mut Writer, device: &DeviceDesc) -> Result<(), EncodeError> {
    out.str(&device.name)?;
    write_kind(out, &device.kind)?;
    write_method(out, &device.method)
}

fn write_kind(out: &mut Writer, kind: &DeviceKind) -> Result<(), EncodeError> {
    match kind {
        DeviceKind::Uart16550 { base, irq } => {
            out.u8(KIND_UART16550);
            out.u16(*base);
            out.u8(*irq);
        }
        DeviceKind::DebugExit { port } => {
            out.u8(KIND_DEBUG_EXIT);
            out.u16(*port);
        }
        DeviceKind::TestDevice { base } => {
            out.u8(KIND_TEST_DEVICE);
            out.u64(*base);
        }
        DeviceKind::PortRange { base, len } => {
            out.u8(KIND_PORT_RANGE);
            out.u16(*base);
            out.u16(*len);
        }
        DeviceKind::MemoryRange { base, len } => {
            out.u8(KIND_MEMORY_RANGE);
            out.u64(*base);
            out.u64(*len);
        }
        DeviceKind::VirtioBlk { slot, disk } => {
            out.u8(KIND_VIRTIO_BLK);
            out.u8(*slot);
            out.str(disk)?;
        }
        DeviceKind::VirtioConsole { slot } => {
            out.u8(KIND_VIRTIO_CONSOLE);
            out.u8(*slot);
        }
    }
    Ok(())
}

fn write_method(out: &mut Writer, method: &Method) -> Result<(), EncodeError> {
    match method {
        Method::Emulated => out.u8(METHOD_EMULATED),
        Method::HostBacked { host } => {
            out.u8(METHOD_HOST_BACKED);
            write_host(out, host);
        }
        Method::Passthrough { host } => {
            out.u8(METHOD_PASSTHROUGH);
            write_host(out, host);
        }
        Method::Mediated { host, policy } => {
            out.u8(METHOD_MEDIATED);
            write_host(out, host);
            out.len(policy.len())?;
            policy.iter().for_each(|rule| write_rule(out, rule));
        }
    }
    Ok(())
}

fn write_host(out: &mut Writer, host: &HostDevice) {
    match *host {
        HostDevice::Com1 => out.u8(HOST_COM1),
        HostDevice::Com2 => out.u8(HOST_COM2),
        HostDevice::Ports { base, len } => {
            out.u8(HOST_PORTS);
            out.u16(base);
            out.u16(len);
        }
        HostDevice::Memory { base, len } => {
            out.u8(HOST_MEMORY);
            out.u64(base);
            out.u64(len);
        }
    }
}

fn write_rule(out: &mut Writer, rule: &PolicyRule) {
    out.u16(rule.ports.first);
    out.u16(rule.ports.last);
    out.u8(match rule.access {
        Access::Read => ACCESS_READ,
        Access::Write => ACCESS_WRITE,
        Access::Both => ACCESS_BOTH,
    });
    match rule.action {
        Action::Allow => out.u8(ACTION_ALLOW),
        Action::Deny => out.u8(ACTION_DENY),
        Action::Log => out.u8(ACTION_LOG),
        Action::Rewrite { and_mask, or_value } => {
            out.u8(ACTION_REWRITE);
            out.u32(and_mask);
            out.u32(or_value);
        }
    }
}

fn write_cpuid(out: &mut Writer, cpuid: &CpuidOverride) {
    out.u32(cpuid.leaf);
    match cpuid.subleaf {
        None => out.u8(NONE),
        Some(subleaf) => {
            out.u8(SOME);
            out.u32(subleaf);
        }
    }
    out.u32(cpuid.eax);
    out.u32(cpuid.ebx);
    out.u32(cpuid.ecx);
    out.u32(cpuid.edx);
}

// ----- reading -----

/// Reads a machine, refusing any length prefix over its cap before allocating for it.
pub fn read_machine(input: &mut Reader<'_>) -> Result<Machine, DecodeError> {
    let vms = input.seq(Limit::Vms, Place::MACHINE, |input, index| {
        read_vm(input, Place::vm(index))
    })?;
    Ok(Machine { vms })
}

fn read_vm(input: &mut Reader<'_>, at: Place) -> Result<VmDesc, DecodeError> {
    Ok(VmDesc {
        name: input.string(Limit::VmName, at)?,
        ram_mib: input.u32()?,
        vcpus: input.u32()?,
        apic: read_bool(input)?,
        acpi: read_bool(input)?,
        guest: read_guest(input, at)?,
        devices: input.seq(Limit::Devices, at, |input, index| {
            read_device(input, at.device(index))
        })?,
        cpuid_overrides: input.seq(Limit::CpuidOverrides, at, |input, _| read_cpuid(input))?,
    })
}

fn read_guest(input: &mut Reader<'_>, at: Place) -> Result<Guest, DecodeError> {
    Ok(match input.u8()? {
        GUEST_ELF => Guest::Elf {
            file: input.string(Limit::FileName, at)?,
        },
        GUEST_REAL_MODE => Guest::RealMode {
            file: input.string(Limit::FileName, at)?,
            load_address: input.u32()?,
        },
        GUEST_LINUX => Guest::Linux {
            kernel: input.string(Limit::FileName, at)?,
            initrd: match input.u8()? {
                NONE => None,
                SOME => Some(input.string(Limit::FileName, at)?),
                _ => return Err(DecodeError::Malformed),
            },
            cmdline: input.string(Limit::Cmdline, at)?,
        },
        _ => return Err(DecodeError::Malformed),
    })
}

fn read_device(input: &mut Reader<'_>, at: Place) -> Result<DeviceDesc, DecodeError> {
    Ok(DeviceDesc {
        name: input.string(Limit::DeviceName, at)?,
        kind: read_kind(input, at)?,
        method: read_method(input, at)?,
    })
}

fn read_bool(input: &mut Reader<'_>) -> Result<bool, DecodeError> {
    match input.u8()? {
        FALSE => Ok(false),
        TRUE => Ok(true),
        _ => Err(DecodeError::Malformed),
    }
}

fn read_kind(input: &mut Reader<'_>, at: Place) -> Result<DeviceKind, DecodeError> {
    Ok(match input.u8()? {
        KIND_UART16550 => DeviceKind::Uart16550 {
            base: input.u16()?,
            irq: input.u8()?,
        },
        KIND_DEBUG_EXIT => DeviceKind::DebugExit { port: input.u16()? },
        KIND_TEST_DEVICE => DeviceKind::TestDevice { base: input.u64()? },
        KIND_PORT_RANGE => DeviceKind::PortRange {
            base: input.u16()?,
            len: input.u16()?,
        },
        KIND_MEMORY_RANGE => DeviceKind::MemoryRange {
            base: input.u64()?,
            len: input.u64()?,
        },
        KIND_VIRTIO_BLK => DeviceKind::VirtioBlk {
            slot: input.u8()?,
            disk: input.string(Limit::FileName, at)?,
        },
        KIND_VIRTIO_CONSOLE => DeviceKind::VirtioConsole { slot: input.u8()? },
        _ => return Err(DecodeError::Malformed),
    })
}

fn read_method(input: &mut Reader<'_>, at: Place) -> Result<Method, DecodeError> {
    Ok(match input.u8()? {
        METHOD_EMULATED => Method::Emulated,
        METHOD_HOST_BACKED => Method::HostBacked {
            host: read_host(input)?,
        },
        METHOD_PASSTHROUGH => Method::Passthrough {
            host: read_host(input)?,
        },
        METHOD_MEDIATED => Method::Mediated {
            host: read_host(input)?,
            policy: input.seq(Limit::PolicyRules, at, |input, _| read_rule(input))?,
        },
        _ => return Err(DecodeError::Malformed),
    })
}

fn read_host(input: &mut Reader<'_>) -> Result<HostDevice, DecodeError> {
    Ok(match input.u8()? {
        HOST_COM1 => HostDevice::Com1,
        HOST_COM2 => HostDevice::Com2,
        HOST_PORTS => HostDevice::Ports {
            base: input.u16()?,
            len: input.u16()?,
        },
        HOST_MEMORY => HostDevice::Memory {
            base: input.u64()?,
            len: input.u64()?,
        },
        _ => return Err(DecodeError::Malformed),
    })
}

fn read_rule(input: &mut Reader<'_>) -> Result<PolicyRule, DecodeError> {
    Ok(PolicyRule {
        ports: PortSpan {
            first: input.u16()?,
            last: input.u16()?,
        },
        access: match input.u8()? {
            ACCESS_READ => Access::Read,
            ACCESS_WRITE => Access::Write,
            ACCESS_BOTH => Access::Both,
            _ => return Err(DecodeError::Malformed),
        },
        action: match input.u8()? {
            ACTION_ALLOW => Action::Allow,
            ACTION_DENY => Action::Deny,
            ACTION_LOG => Action::Log,
            ACTION_REWRITE => Action::Rewrite {
                and_mask: input.u32()?,
                or_value: input.u32()?,
            },
            _ => return Err(DecodeError::Malformed),
        },
    })
}

fn read_cpuid(input: &mut Reader<'_>) -> Result<CpuidOverride, DecodeError> {
    Ok(CpuidOverride {
        leaf: input.u32()?,
        subleaf: match input.u8()? {
            NONE => None,
            SOME => Some(input.u32()?),
            _ => return Err(DecodeError::Malformed),
        },
        eax: input.u32()?,
        ebx: input.u32()?,
        ecx: input.u32()?,
        edx: input.u32()?,
    })
}
