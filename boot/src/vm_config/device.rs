//! One `[[vm.device]]` table into a [`DeviceDesc`]: the fields its kind and method need (and
//! no others), numbers in range, the method fitting the kind, passthrough and mediation 1:1 onto
//! a host device the hypervisor does not use, mediation rules inside the device's ports, and a
//! virtio device's PCI slot (1..=31; 00:00.0 is the host bridge) and disk image. Checks that need
//! the other devices (overlaps, slots, IRQ sharing, host sharing) are in [`super::placement`].

use devices::interface::{Bdf, PortRange, Region};
use devices::uart16550::registers::PORT_COUNT as UART_PORT_COUNT;
use devices::vm_config::resources::first_overlap;
use devices::vm_config::{
    Access, Action, DeviceDesc, DeviceKind, HYPERVISOR_OWNED, HostDevice, MAX_ISA_IRQ,
    MIN_PCI_SLOT, Method, PAGE_SIZE, PolicyRule, PortSpan,
};

use super::describe::{host_text, region_text};
use super::error::{Invalid, Problem};
use super::file::{AccessName, ActionName, DeviceEntry, HostName, KindName, MethodName, RuleEntry};
use super::guests::GuestFiles;
use super::names::check_name;

/// The `disk` field of a virtio-blk device.
const DISK_FIELD: &str = "disk";

/// Where the device is in the file: `vm[vm].device[index]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevicePath {
    /// The VM's index.
    pub vm: usize,
    /// The device's index within the VM.
    pub index: usize,
}

impl DevicePath {
    /// The path of the device itself.
    pub fn path(&self) -> String {
        format!("vm[{}].device[{}]", self.vm, self.index)
    }

    /// A refusal of field `name` of the device.
    pub fn invalid(&self, name: &str, problem: Problem) -> Invalid {
        Invalid {
            field: format!("{}.{name}", self.path()),
            problem,
        }
    }
}

/// The numeric fields each kind has, in the order the file documents them.
const fn kind_fields(kind: KindName) -> &'static [&'static str] {
    match kind {
        KindName::Uart16550 => &["base", "irq"],
        KindName::DebugExit => &["port"],
        KindName::TestDevice => &["base"],
        KindName::PortRange | KindName::MemoryRange => &["base", "len"],
        KindName::VirtioBlk | KindName::VirtioConsole => &["slot"],
    }
}

/// The field naming where a device sits (for range, overlap and identity errors).
pub const fn location_field(kind: &DeviceKind) -> &'static str {
    match kind {
        DeviceKind::DebugExit { .. } => "port",
        DeviceKind::VirtioBlk { .. } | DeviceKind::VirtioConsole { .. } => "slot",
        _ => "base",
    }
}

/// The entry's numeric fields with their names.
fn numeric_fields(entry: &DeviceEntry) -> [(&'static str, Option<u64>); 5] {
    [
        ("base", entry.base),
        ("irq", entry.irq),
        ("port", entry.port),
        ("len", entry.len),
        ("slot", entry.slot),
    ]
}

fn of_kind(entry: &DeviceEntry) -> String {
    format!("kind {:?}", entry.kind.as_str())
}

fn of_method(method: MethodName) -> String {
    format!("method {:?}", method.as_str())
}

/// Refuses a field the kind does not have.
fn refuse_foreign_fields(at: DevicePath, entry: &DeviceEntry) -> Result<(), Invalid> {
    if entry.disk.is_some() && entry.kind != KindName::VirtioBlk {
        return Err(at.invalid(DISK_FIELD, Problem::NotAField { of: of_kind(entry) }));
    }
    let wanted = kind_fields(entry.kind);
    match numeric_fields(entry)
        .into_iter()
        .find(|(name, value)| value.is_some() && !wanted.contains(name))
    {
        Some((name, _)) => Err(at.invalid(name, Problem::NotAField { of: of_kind(entry) })),
        None => Ok(()),
    }
}

/// The value of numeric field `name`, which the kind requires.
fn required(at: DevicePath, entry: &DeviceEntry, name: &str) -> Result<u64, Invalid> {
    numeric_fields(entry)
        .into_iter()
        .find(|(field, _)| *field == name)
        .and_then(|(_, value)| value)
        .ok_or_else(|| at.invalid(name, Problem::Required { by: of_kind(entry) }))
}

fn port(at: DevicePath, name: &str, value: u64) -> Result<u16, Invalid> {
    u16::try_from(value).map_err(|_| {
        at.invalid(
            name,
            Problem::OutOfRange {
                value: format!("{value:#x}"),
                range: "a port, 0..=0xffff",
            },
        )
    })
}

fn isa_irq(at: DevicePath, value: u64) -> Result<u8, Invalid> {
    u8::try_from(value)
        .ok()
        .filter(|&irq| irq <= MAX_ISA_IRQ)
        .ok_or_else(|| {
            at.invalid(
                "irq",
                Problem::OutOfRange {
                    value: value.to_string(),
                    range: "an ISA IRQ, 0..=15",
                },
            )
        })
}

/// A PCI device number a configured device may take: [`MIN_PCI_SLOT`]..=[`Bdf::MAX_DEVICE`]
/// (PCI Local Bus 3.0 §3.2.2.3.2: five device-number bits; 00:00.0 is the host bridge).
fn pci_slot(at: DevicePath, value: u64) -> Result<u8, Invalid> {
    u8::try_from(value)
        .ok()
        .filter(|slot| (MIN_PCI_SLOT..=Bdf::MAX_DEVICE).contains(slot))
        .ok_or_else(|| {
            at.invalid(
                "slot",
                Problem::OutOfRange {
                    value: value.to_string(),
                    range: "a PCI slot, 1..=31; slot 0 is the host bridge 00:00.0",
                },
            )
        })
}

fn page_aligned(at: DevicePath, name: &str, value: u64) -> Result<u64, Invalid> {
    if !value.is_multiple_of(PAGE_SIZE) {
        return Err(at.invalid(name, Problem::Unaligned(value)));
    }
    Ok(value)
}

/// The kind with its numbers checked (a disk image added to `files`), and the guest resource it
/// occupies.
fn kind(
    at: DevicePath,
    entry: &DeviceEntry,
    files: &mut GuestFiles<'_>,
) -> Result<(DeviceKind, Region), Invalid> {
    refuse_foreign_fields(at, entry)?;
    let field = |name| required(at, entry, name);
    let kind = match entry.kind {
        KindName::Uart16550 => DeviceKind::Uart16550 {
            base: port(at, "base", field("base")?)?,
            irq: isa_irq(at, field("irq")?)?,
        },
        KindName::DebugExit => DeviceKind::DebugExit {
            port: port(at, "port", field("port")?)?,
        },
        KindName::TestDevice => DeviceKind::TestDevice {
            base: page_aligned(at, "base", field("base")?)?,
        },
        KindName::PortRange => DeviceKind::PortRange {
            base: port(at, "base", field("base")?)?,
            len: port(at, "len", field("len")?)?,
        },
        KindName::MemoryRange => DeviceKind::MemoryRange {
            base: page_aligned(at, "base", field("base")?)?,
            len: page_aligned(at, "len", field("len")?)?,
        },
        KindName::VirtioBlk => {
            let slot = pci_slot(at, field("slot")?)?;
            let given = entry
                .disk
                .as_deref()
                .ok_or_else(|| at.invalid(DISK_FIELD, Problem::Required { by: of_kind(entry) }))?;
            let (disk, _, _) = files.add_disk(&format!("{}.{DISK_FIELD}", at.path()), given)?;
            DeviceKind::VirtioBlk { slot, disk }
        }
        KindName::VirtioConsole => DeviceKind::VirtioConsole {
            slot: pci_slot(at, field("slot")?)?,
        },
    };
    let what = match entry.kind {
        KindName::TestDevice | KindName::MemoryRange => "memory",
        KindName::VirtioBlk | KindName::VirtioConsole => "PCI address",
        _ => "ports",
    };
    let region = kind
        .region()
        .map_err(|_| at.invalid(location_field(&kind), Problem::BadRange { what }))?;
    Ok((kind, region))
}

/// The host device a passthrough or mediated device of `kind` names.
fn host_device(
    at: DevicePath,
    entry: &DeviceEntry,
    kind: &DeviceKind,
) -> Result<HostDevice, Invalid> {
    let wrong = |reason| at.invalid("host", Problem::WrongHost { reason });
    match (entry.host, kind) {
        (Some(HostName::Com1), DeviceKind::Uart16550 { .. } | DeviceKind::PortRange { .. }) => {
            Ok(HostDevice::Com1)
        }
        (Some(HostName::Com2), DeviceKind::Uart16550 { .. } | DeviceKind::PortRange { .. }) => {
            Ok(HostDevice::Com2)
        }
        (Some(HostName::Ports), DeviceKind::Uart16550 { base, .. }) => Ok(HostDevice::Ports {
            base: *base,
            len: UART_PORT_COUNT,
        }),
        (Some(HostName::Ports) | None, DeviceKind::PortRange { base, len }) => {
            Ok(HostDevice::Ports {
                base: *base,
                len: *len,
            })
        }
        (Some(HostName::Memory) | None, DeviceKind::MemoryRange { base, len }) => {
            Ok(HostDevice::Memory {
                base: *base,
                len: *len,
            })
        }
        (None, _) => Err(at.invalid(
            "host",
            Problem::Required {
                by: of_method(entry.method),
            },
        )),
        (Some(HostName::Memory), _) => Err(wrong("host \"memory\" needs kind \"memory-range\"")),
        (Some(_), _) => Err(wrong("a memory-range needs host \"memory\"")),
    }
}

/// The action of rule `index`, with the masks only a rewrite has.
fn action(at: DevicePath, index: usize, entry: &RuleEntry) -> Result<Action, Invalid> {
    let field = |name: &str| format!("policy[{index}].{name}");
    let masks = [("and_mask", entry.and_mask), ("or_value", entry.or_value)];
    let simple = match entry.action {
        ActionName::Allow => Action::Allow,
        ActionName::Deny => Action::Deny,
        ActionName::Log => Action::Log,
        ActionName::Rewrite => {
            return match masks {
                [(_, Some(and_mask)), (_, Some(or_value))] => {
                    Ok(Action::Rewrite { and_mask, or_value })
                }
                _ => {
                    let missing = masks
                        .iter()
                        .find(|(_, value)| value.is_none())
                        .map_or("and_mask", |(name, _)| name);
                    Err(at.invalid(
                        &field(missing),
                        Problem::Required {
                            by: "action \"rewrite\"".to_string(),
                        },
                    ))
                }
            };
        }
    };
    match masks.iter().find(|(_, value)| value.is_some()) {
        Some((extra, _)) => Err(at.invalid(
            &field(extra),
            Problem::NotAField {
                of: format!("action {:?}", entry.action.as_str()),
            },
        )),
        None => Ok(simple),
    }
}

/// One mediation rule, inside the device's ports.
fn rule(
    at: DevicePath,
    index: usize,
    entry: &RuleEntry,
    device_ports: PortRange,
) -> Result<PolicyRule, Invalid> {
    let field = |name: &str| format!("policy[{index}].{name}");
    let [first, last] = entry.ports;
    if first > last || !device_ports.contains(first) || !device_ports.contains(last) {
        return Err(at.invalid(
            &field("ports"),
            Problem::RuleOutsideDevice {
                first,
                last,
                device_range: region_text(&Region::Pio(device_ports)),
            },
        ));
    }
    let action = action(at, index, entry)?;
    let access = match entry.access {
        AccessName::Read => Access::Read,
        AccessName::Write => Access::Write,
        AccessName::Both => Access::Both,
    };
    Ok(PolicyRule {
        ports: PortSpan { first, last },
        access,
        action,
    })
}

/// The method for a device of `kind` at `region`.
fn method(
    at: DevicePath,
    entry: &DeviceEntry,
    kind: &DeviceKind,
    region: Region,
) -> Result<Method, Invalid> {
    let name = entry.method;
    if entry.policy.is_some() && name != MethodName::Mediated {
        return Err(at.invalid(
            "policy",
            Problem::NotAField {
                of: of_method(name),
            },
        ));
    }
    let mismatch = |reason| at.invalid("method", Problem::MethodMismatch { reason });
    match name {
        MethodName::HostBacked | MethodName::Passthrough | MethodName::Mediated
            if kind.is_pci() =>
        {
            Err(mismatch(
                "virtio devices exist only as this hypervisor's models: use method \"emulated\"",
            ))
        }
        MethodName::Emulated => {
            if entry.host.is_some() {
                return Err(at.invalid(
                    "host",
                    Problem::NotAField {
                        of: of_method(name),
                    },
                ));
            }
            match kind {
                DeviceKind::PortRange { .. } | DeviceKind::MemoryRange { .. } => Err(mismatch(
                    "a port-range or memory-range has no model: use method \"passthrough\" (or \"mediated\" for ports)",
                )),
                _ => Ok(Method::Emulated),
            }
        }
        MethodName::HostBacked => {
            if !matches!(kind, DeviceKind::Uart16550 { .. }) {
                return Err(mismatch(
                    "only a uart16550 can be host-backed (the hypervisor drives serial ports only)",
                ));
            }
            let host = match entry.host {
                Some(HostName::Com1) => HostDevice::Com1,
                Some(HostName::Com2) => HostDevice::Com2,
                Some(_) => {
                    return Err(at.invalid(
                        "host",
                        Problem::WrongHost {
                            reason: "host-backed needs a host serial port: \"com1\" or \"com2\"",
                        },
                    ));
                }
                None => {
                    return Err(at.invalid(
                        "host",
                        Problem::Required {
                            by: of_method(name),
                        },
                    ));
                }
            };
            Ok(Method::HostBacked { host })
        }
        MethodName::Passthrough | MethodName::Mediated => {
            if matches!(
                kind,
                DeviceKind::DebugExit { .. } | DeviceKind::TestDevice { .. }
            ) {
                return Err(mismatch(
                    "debug-exit and test-device exist only as this hypervisor's models: use method \"emulated\"",
                ));
            }
            if name == MethodName::Mediated && matches!(kind, DeviceKind::MemoryRange { .. }) {
                return Err(mismatch(
                    "mediation policies name ports: memory can only be passed through",
                ));
            }
            let host = host_device(at, entry, kind)?;
            let host_region = host.region().map_err(|_| {
                at.invalid(
                    "host",
                    Problem::BadRange {
                        what: "host resources",
                    },
                )
            })?;
            if let Some(owned) = first_overlap(HYPERVISOR_OWNED, &host_region) {
                return Err(at.invalid(
                    "host",
                    Problem::HypervisorOwned {
                        method: name.noun(),
                        range: region_text(&host_region),
                        owner: owned.name,
                        owner_range: region_text(&owned.region),
                    },
                ));
            }
            if host_region != region {
                return Err(at.invalid(
                    location_field(kind),
                    Problem::NotIdentity {
                        method: name.noun(),
                        guest: region_text(&region),
                        host: host_text(&host),
                    },
                ));
            }
            if name == MethodName::Passthrough {
                return Ok(Method::Passthrough { host });
            }
            let Region::Pio(device_ports) = region else {
                return Err(mismatch(
                    "mediation policies name ports: memory can only be passed through",
                ));
            };
            let rules = entry.policy.as_deref().ok_or_else(|| {
                at.invalid(
                    "policy",
                    Problem::Required {
                        by: of_method(name),
                    },
                )
            })?;
            let policy = rules
                .iter()
                .enumerate()
                .map(|(index, entry)| rule(at, index, entry, device_ports))
                .collect::<Result<_, _>>()?;
            Ok(Method::Mediated { host, policy })
        }
    }
}

/// The device an entry describes (its disk image, if any, added to `files`), and the guest
/// resource it occupies.
pub fn device(
    at: DevicePath,
    entry: &DeviceEntry,
    files: &mut GuestFiles<'_>,
) -> Result<(DeviceDesc, Region), Invalid> {
    check_name(&entry.name).map_err(|problem| at.invalid("name", problem))?;
    let (kind, region) = kind(at, entry, files)?;
    let method = method(at, entry, &kind, region)?;
    Ok((
        DeviceDesc {
            name: entry.name.clone(),
            kind,
            method,
        },
        region,
    ))
}
