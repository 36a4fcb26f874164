//! The configuration schema: encoding round trips, every decode error, the caps, the resources
//! each device occupies and the policy conversion.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::interface::{MmioRange, PortRange, RangeError, Region};
use crate::mediated::AccessSize;

pub(super) fn hello_vm(name: &str) -> VmDesc {
    VmDesc {
        name: name.to_string(),
        ram_mib: 32,
        vcpus: 1,
        apic: false,
        acpi: false,
        guest: Guest::Elf {
            file: "hello.elf".to_string(),
        },
        devices: vec![
            DeviceDesc {
                name: "com1".to_string(),
                kind: DeviceKind::Uart16550 {
                    base: 0x3F8,
                    irq: 4,
                },
                method: Method::HostBacked {
                    host: HostDevice::Com1,
                },
            },
            DeviceDesc {
                name: "exit".to_string(),
                kind: DeviceKind::DebugExit { port: 0xF4 },
                method: Method::Emulated,
            },
        ],
        cpuid_overrides: Vec::new(),
    }
}

/// One VM per method and guest kind: every enum variant appears somewhere.
pub(super) fn every_variant() -> Machine {
    let mut mediated = hello_vm("mediated");
    mediated.guest = Guest::RealMode {
        file: "boot.bin".to_string(),
        load_address: 0x7C00,
    };
    mediated.devices.push(DeviceDesc {
        name: "com2".to_string(),
        kind: DeviceKind::Uart16550 {
            base: 0x2F8,
            irq: 3,
        },
        method: Method::Mediated {
            host: HostDevice::Com2,
            policy: vec![
                PolicyRule {
                    ports: PortSpan {
                        first: 0x2F8,
                        last: 0x2F8,
                    },
                    access: Access::Write,
                    action: Action::Allow,
                },
                PolicyRule {
                    ports: PortSpan {
                        first: 0x2F9,
                        last: 0x2FF,
                    },
                    access: Access::Both,
                    action: Action::Rewrite {
                        and_mask: 0x0F,
                        or_value: 0x80,
                    },
                },
                PolicyRule {
                    ports: PortSpan {
                        first: 0x2FD,
                        last: 0x2FD,
                    },
                    access: Access::Read,
                    action: Action::Log,
                },
                PolicyRule {
                    ports: PortSpan {
                        first: 0x2F8,
                        last: 0x2FF,
                    },
                    access: Access::Both,
                    action: Action::Deny,
                },
            ],
        },
    });
    mediated.cpuid_overrides = vec![
        CpuidOverride {
            leaf: 0x4000_0000,
            subleaf: None,
            eax: 0x4000_0001,
            ebx: 1,
            ecx: 2,
            edx: 3,
        },
        CpuidOverride {
            leaf: 7,
            subleaf: Some(0),
            eax: 0,
            ebx: 0xFFFF_FFFF,
            ecx: 0,
            edx: 0,
        },
    ];
    let mut passthrough = hello_vm("passthrough");
    passthrough.guest = Guest::Linux {
        kernel: "bzImage".to_string(),
        initrd: Some("initrd.img".to_string()),
        cmdline: "console=ttyS0 quiet".to_string(),
    };
    passthrough.apic = true;
    passthrough.acpi = true;
    passthrough.devices.extend([
        DeviceDesc {
            name: "disk".to_string(),
            kind: DeviceKind::VirtioBlk {
                slot: 3,
                disk: "disk.img".to_string(),
            },
            method: Method::Emulated,
        },
        DeviceDesc {
            name: "hvc".to_string(),
            kind: DeviceKind::VirtioConsole { slot: 4 },
            method: Method::Emulated,
        },
        DeviceDesc {
            name: "lpt1".to_string(),
            kind: DeviceKind::PortRange {
                base: 0x378,
                len: 8,
            },
            method: Method::Passthrough {
                host: HostDevice::Ports {
                    base: 0x378,
                    len: 8,
                },
            },
        },
        DeviceDesc {
            name: "frame".to_string(),
            kind: DeviceKind::MemoryRange {
                base: 0xE000_0000,
                len: 0x10_0000,
            },
            method: Method::Passthrough {
                host: HostDevice::Memory {
                    base: 0xE000_0000,
                    len: 0x10_0000,
                },
            },
        },
        DeviceDesc {
            name: "scratch".to_string(),
            kind: DeviceKind::TestDevice { base: 0xFEB0_0000 },
            method: Method::Emulated,
        },
    ]);
    Machine {
        vms: vec![hello_vm("hello"), mediated, passthrough],
    }
}

pub(super) fn encoded(machine: &Machine) -> Vec<u8> {
    match encode(machine) {
        Ok(bytes) => bytes,
        Err(error) => panic!("encoding failed: {error}"),
    }
}

/// The header followed by `machine`'s payload, bypassing `encode`'s checks.
pub(super) fn raw_encoding(machine: &Machine) -> Vec<u8> {
    match encoding::encode_unchecked(machine) {
        Ok(bytes) => bytes,
        Err(error) => panic!("raw encoding failed: {error}"),
    }
}

#[test]
fn every_variant_round_trips_unchanged() {
    let machine = every_variant();
    assert_eq!(decode(&encoded(&machine)), Ok(machine));
}

#[test]
fn empty_machine_round_trips_in_eight_bytes() {
    let bytes = encoded(&Machine::default());
    assert_eq!(bytes, b"HVMC\x03\x00\x00\x00");
    assert_eq!(decode(&bytes), Ok(Machine::default()));
}

#[test]
fn encoding_starts_with_magic_and_version_and_is_compact() {
    let bytes = encoded(&Machine {
        vms: vec![hello_vm("hello")],
    });
    assert_eq!(&bytes[..4], b"HVMC");
    assert_eq!(&bytes[4..HEADER_LEN], &[3, 0]);
    // Header 6; VM count 2; "hello" 2+5; ram_mib 4; vcpus 4; apic 1, acpi 1;
    // guest tag 1 + "hello.elf" 2+9;
    // device count 2; UART: "com1" 2+4 + kind tag 1 + base 2 + irq 1 + method and host tags 2;
    // debug exit: "exit" 2+4 + kind tag 1 + port 2 + method tag 1; override count 2.
    assert_eq!(bytes.len(), 63);
}

#[test]
fn bad_magic_is_refused() {
    let mut bytes = encoded(&every_variant());
    bytes[0] = b'X';
    assert_eq!(decode(&bytes), Err(DecodeError::BadMagic));
    assert_eq!(decode(b"HVM"), Err(DecodeError::BadMagic));
    assert_eq!(decode(&[]), Err(DecodeError::BadMagic));
}

#[test]
fn other_format_version_is_refused_with_the_version_found() {
    let mut bytes = encoded(&every_variant());
    // Version 1 was the postcard encoding this format replaced.
    bytes[4..HEADER_LEN].copy_from_slice(&1u16.to_le_bytes());
    assert_eq!(
        decode(&bytes),
        Err(DecodeError::UnsupportedVersion { found: 1 })
    );
    assert_eq!(
        DecodeError::UnsupportedVersion { found: 1 }.to_string(),
        "configuration format version 1, this hypervisor reads 3"
    );
}

#[test]
fn every_truncation_is_refused_as_truncated() {
    let bytes = encoded(&every_variant());
    for len in MAGIC.len()..bytes.len() {
        assert_eq!(
            decode(&bytes[..len]),
            Err(DecodeError::Truncated),
            "prefix of {len} bytes"
        );
    }
}

#[test]
fn trailing_bytes_are_refused_and_counted() {
    let mut bytes = encoded(&every_variant());
    bytes.extend_from_slice(&[0, 0, 0]);
    assert_eq!(decode(&bytes), Err(DecodeError::TrailingBytes { count: 3 }));
}

#[test]
fn unknown_guest_variant_is_malformed() {
    // One VM: name "a", ram_mib 32, vcpus 1, then guest tag 9 (there are three).
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&[1, 0, 1, 0, b'a', 32, 0, 0, 0, 1, 0, 0, 0, 9]);
    assert_eq!(decode(&bytes), Err(DecodeError::Malformed));
}

#[test]
fn name_that_is_not_utf8_is_malformed() {
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&[
        1, 0, 1, 0, 0xFF, 32, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, b'x', 0, 0, 0, 0,
    ]);
    assert_eq!(decode(&bytes), Err(DecodeError::Malformed));
}

#[test]
fn input_over_the_size_cap_is_refused_before_parsing() {
    let bytes = vec![0u8; MAX_ENCODED_LEN + 1];
    assert_eq!(
        decode(&bytes),
        Err(DecodeError::TooLarge {
            len: MAX_ENCODED_LEN + 1
        })
    );
}

#[test]
fn too_many_vms_are_refused_by_encode_and_decode() {
    let machine = Machine {
        vms: (0..=MAX_VMS)
            .map(|index| hello_vm(&alloc::format!("vm{index}")))
            .collect(),
    };
    let error = LimitError {
        limit: Limit::Vms,
        vm: None,
        device: None,
        found: MAX_VMS + 1,
    };
    assert_eq!(encode(&machine), Err(EncodeError::Limit(error)));
    assert_eq!(
        decode(&raw_encoding(&machine)),
        Err(DecodeError::Limit(error))
    );
    assert_eq!(error.to_string(), "vm: 17 entries, at most 16");
}

#[test]
fn per_vm_and_per_device_caps_name_their_place() {
    let mut machine = every_variant();
    machine.vms[1].name = "n".repeat(MAX_NAME_LEN + 1);
    assert_eq!(
        check_limits(&machine).map_err(|error| error.to_string()),
        Err(String::from("vm[1].name: 33 bytes, at most 32"))
    );
    let mut machine = every_variant();
    if let Method::Mediated { policy, .. } = &mut machine.vms[1].devices[2].method {
        let rule = policy[0];
        policy.resize(MAX_POLICY_RULES + 1, rule);
    }
    assert_eq!(
        check_limits(&machine).map_err(|error| error.to_string()),
        Err(String::from(
            "vm[1].device[2].policy: 33 entries, at most 32"
        ))
    );
    let mut machine = every_variant();
    if let Guest::Linux { cmdline, .. } = &mut machine.vms[2].guest {
        *cmdline = "x".repeat(MAX_CMDLINE_LEN + 1);
    }
    assert_eq!(
        check_limits(&machine).map_err(|error| error.to_string()),
        Err(String::from("vm[2].cmdline: 4097 bytes, at most 4096"))
    );
    let mut machine = every_variant();
    let device = machine.vms[0].devices[0].clone();
    machine.vms[0].devices.resize(MAX_DEVICES + 1, device);
    assert_eq!(
        decode(&raw_encoding(&machine)).map_err(|error| error.to_string()),
        Err(String::from("vm[0].device: 17 entries, at most 16"))
    );
}

fn pio(first: u16, len: u16) -> Result<Region, RangeError> {
    PortRange::new(first, len).map(Region::Pio)
}

#[test]
fn device_kinds_occupy_their_documented_resources() {
    let uart = DeviceKind::Uart16550 {
        base: 0x3F8,
        irq: 4,
    };
    assert_eq!(uart.region(), pio(0x3F8, 8));
    assert_eq!(DeviceKind::DebugExit { port: 0xF4 }.region(), pio(0xF4, 4));
    assert_eq!(
        DeviceKind::TestDevice { base: 0xFEB0_0000 }.region(),
        MmioRange::new(0xFEB0_0000, 4096).map(Region::Mmio)
    );
    assert_eq!(
        DeviceKind::PortRange {
            base: 0x378,
            len: 3
        }
        .region(),
        pio(0x378, 3)
    );
    let past_the_end = DeviceKind::Uart16550 {
        base: 0xFFFC,
        irq: 4,
    };
    assert_eq!(past_the_end.region(), Err(RangeError::Overflow));
    assert_eq!(
        DeviceKind::PortRange {
            base: 0x378,
            len: 0
        }
        .region(),
        Err(RangeError::Empty)
    );
}

#[test]
fn host_serial_ports_are_the_pc_com_ports() {
    assert_eq!(HostDevice::Com1.region(), pio(0x3F8, 8));
    assert_eq!(HostDevice::Com2.region(), pio(0x2F8, 8));
    assert!(HostDevice::Com2.is_uart());
    assert!(
        !HostDevice::Ports {
            base: 0x2F8,
            len: 8
        }
        .is_uart()
    );
}

#[test]
fn hypervisor_owned_table_covers_console_and_interrupt_controllers() {
    let owner = |region: Result<Region, RangeError>| {
        region
            .ok()
            .and_then(|region| resources::first_overlap(HYPERVISOR_OWNED, &region))
            .map(|entry| entry.name)
    };
    assert_eq!(owner(pio(0x3FC, 1)), Some("COM1, the hypervisor console"));
    assert_eq!(owner(pio(0xA1, 1)), Some("slave PIC"));
    assert_eq!(owner(pio(0xF7, 1)), Some("debug-exit port"));
    assert_eq!(owner(pio(0xCFC, 4)), Some("PCI configuration ports"));
    assert_eq!(
        owner(MmioRange::new(0xFEE0_0FFF, 1).map(Region::Mmio)),
        Some("local APIC")
    );
    assert_eq!(owner(pio(0x2F8, 8)), None);
    assert_eq!(owner(pio(0x378, 8)), None);
}

#[test]
fn pc_platform_table_lists_the_always_present_ports() {
    let present = |port: u16| {
        resources::first_overlap(PC_PLATFORM, &Region::Pio(PortRange::single(port)))
            .map(|entry| entry.name)
    };
    assert_eq!(present(0x43), Some("PIT"));
    assert_eq!(present(0x61), Some("port B"));
    assert_eq!(present(0x64), Some("i8042 command port"));
    assert_eq!(present(0x4D1), Some("ELCR"));
    assert_eq!(present(0x62), None);
    assert_eq!(present(0x3F8), None);
}

#[test]
fn policy_conversion_keeps_order_and_first_match_wins_default_deny() {
    let machine = every_variant();
    let Method::Mediated { policy, .. } = &machine.vms[1].devices[2].method else {
        panic!("vm[1].device[2] is the mediated COM2");
    };
    let engine = match build_policy(policy) {
        Ok(engine) => engine,
        Err(error) => panic!("policy refused: {error:?}"),
    };
    assert_eq!(engine.rules().len(), 4);
    let write_thr = engine.decide(0x2F8, AccessSize::Byte, true);
    assert_eq!(
        (write_thr.rule, write_thr.action),
        (Some(0), mediated::Action::Allow)
    );
    // Rule 1 (rewrite, both directions) comes before rule 2 (log reads of 0x2FD).
    let read_lsr = engine.decide(0x2FD, AccessSize::Byte, false);
    assert_eq!(
        read_lsr.action,
        mediated::Action::Rewrite {
            and_mask: 0x0F,
            or_value: 0x80
        }
    );
    let read_thr = engine.decide(0x2F8, AccessSize::Byte, false);
    assert_eq!(
        (read_thr.rule, read_thr.action),
        (Some(3), mediated::Action::Deny)
    );
    let outside = engine.decide(0x378, AccessSize::Byte, true);
    assert_eq!(
        (outside.rule, outside.action),
        (None, mediated::Action::Deny)
    );
}

use crate::mediated;

#[test]
fn reversed_policy_span_is_refused() {
    let rule = PolicyRule {
        ports: PortSpan {
            first: 0x2FF,
            last: 0x2F8,
        },
        access: Access::Both,
        action: Action::Allow,
    };
    assert_eq!(
        build_policy(&[rule, rule]).map(|_| ()),
        Err(PolicyBuildError::BadSpan { rule: 0 })
    );
}

#[test]
fn cpuid_override_without_subleaf_matches_every_subleaf() {
    let machine = every_variant();
    let [any_subleaf, subleaf_zero] = [
        machine.vms[1].cpuid_overrides[0],
        machine.vms[1].cpuid_overrides[1],
    ];
    assert!(any_subleaf.matches(0x4000_0000, 0));
    assert!(any_subleaf.matches(0x4000_0000, 5));
    assert!(!any_subleaf.matches(0x4000_0001, 0));
    assert!(subleaf_zero.matches(7, 0));
    assert!(!subleaf_zero.matches(7, 1));
}

#[test]
fn guest_files_list_image_then_initrd() {
    let machine = every_variant();
    let files = |vm: usize| machine.vms[vm].guest.files().collect::<Vec<_>>();
    assert_eq!(files(0), ["hello.elf"]);
    assert_eq!(files(1), ["boot.bin"]);
    assert_eq!(files(2), ["bzImage", "initrd.img"]);
}

#[test]
fn methods_name_their_host_device_and_exclusivity() {
    let machine = every_variant();
    let methods: Vec<_> = machine.vms[2]
        .devices
        .iter()
        .map(|device| (device.method.host().copied(), device.method.is_exclusive()))
        .collect();
    assert_eq!(
        methods,
        [
            (Some(HostDevice::Com1), false),
            (None, false),
            (None, false),
            (None, false),
            (
                Some(HostDevice::Ports {
                    base: 0x378,
                    len: 8
                }),
                true
            ),
            (
                Some(HostDevice::Memory {
                    base: 0xE000_0000,
                    len: 0x10_0000
                }),
                true
            ),
            (None, false),
        ]
    );
}

#[test]
fn virtio_io_windows_are_aligned_256_port_blocks_from_0xc000() {
    assert_eq!(virtio_io_window(0), PortRange::new(0xC000, 0x100).ok());
    assert_eq!(virtio_io_window(3), PortRange::new(0xC300, 0x100).ok());
    assert_eq!(virtio_io_window(31), PortRange::new(0xDF00, 0x100).ok());
    assert_eq!(virtio_io_window(64), None, "past the port space");
}
