//! Device refusals: one test per rule, each asserting the exact message.

use devices::vm_config::{
    Access, Action, DeviceDesc, DeviceKind, HostDevice, Method, PolicyRule, PortSpan,
};

use super::test_support::{Fixture, vm_with};

/// The refusal of one VM with `devices`.
fn refusal(devices: &str) -> String {
    Fixture::new().refusal(&vm_with("left", devices))
}

/// The devices one VM with `devices` gets.
fn accepted(devices: &str) -> Vec<DeviceDesc> {
    match Fixture::new().check(&vm_with("left", devices)) {
        Ok((mut machine, _)) => machine.vms.remove(0).devices,
        Err(message) => panic!("refused: {message}"),
    }
}

const COM1_HOST_BACKED: &str = r#"
[[vm.device]]
name = "com1"
kind = "uart16550"
base = 0x3f8
irq = 4
method = "host-backed"
host = "com1"
"#;

#[test]
fn every_method_builds_its_device() {
    let devices = accepted(&format!(
        r#"{COM1_HOST_BACKED}
[[vm.device]]
name = "exit"
kind = "debug-exit"
port = 0xf4

[[vm.device]]
name = "com2"
kind = "uart16550"
base = 0x2f8
irq = 3
method = "mediated"
host = "com2"
policy = [
  {{ ports = [0x2f8, 0x2f8], access = "write", action = "allow" }},
  {{ ports = [0x2f9, 0x2ff], access = "both", action = "rewrite", and_mask = 0x0f, or_value = 0x80 }},
  {{ ports = [0x2fd, 0x2fd], access = "read", action = "log" }},
]

[[vm.device]]
name = "lpt1"
kind = "port-range"
base = 0x378
len = 8
method = "passthrough"

[[vm.device]]
name = "frame"
kind = "memory-range"
base = 0xe0000000
len = 0x100000
method = "passthrough"
host = "memory"
"#
    ));
    assert_eq!(
        devices,
        [
            DeviceDesc {
                name: "com1".into(),
                kind: DeviceKind::Uart16550 {
                    base: 0x3F8,
                    irq: 4
                },
                method: Method::HostBacked {
                    host: HostDevice::Com1
                },
            },
            DeviceDesc {
                name: "exit".into(),
                kind: DeviceKind::DebugExit { port: 0xF4 },
                method: Method::Emulated,
            },
            DeviceDesc {
                name: "com2".into(),
                kind: DeviceKind::Uart16550 {
                    base: 0x2F8,
                    irq: 3
                },
                method: Method::Mediated {
                    host: HostDevice::Com2,
                    policy: vec![
                        PolicyRule {
                            ports: PortSpan {
                                first: 0x2F8,
                                last: 0x2F8
                            },
                            access: Access::Write,
                            action: Action::Allow,
                        },
                        PolicyRule {
                            ports: PortSpan {
                                first: 0x2F9,
                                last: 0x2FF
                            },
                            access: Access::Both,
                            action: Action::Rewrite {
                                and_mask: 0x0F,
                                or_value: 0x80
                            },
                        },
                        PolicyRule {
                            ports: PortSpan {
                                first: 0x2FD,
                                last: 0x2FD
                            },
                            access: Access::Read,
                            action: Action::Log,
                        },
                    ],
                },
            },
            DeviceDesc {
                name: "lpt1".into(),
                kind: DeviceKind::PortRange {
                    base: 0x378,
                    len: 8
                },
                method: Method::Passthrough {
                    host: HostDevice::Ports {
                        base: 0x378,
                        len: 8
                    }
                },
            },
            DeviceDesc {
                name: "frame".into(),
                kind: DeviceKind::MemoryRange {
                    base: 0xE000_0000,
                    len: 0x10_0000
                },
                method: Method::Passthrough {
                    host: HostDevice::Memory {
                        base: 0xE000_0000,
                        len: 0x10_0000
                    }
                },
            },
        ]
    );
}

#[test]
fn bad_device_name_is_refused() {
    assert_eq!(
        refusal("[[vm.device]]\nname = \"com 1\"\nkind = \"debug-exit\"\nport = 0xf4"),
        r#"vm[0].device[0].name: "com 1" must be 1-32 characters of A-Z a-z 0-9 _ -"#
    );
}

#[test]
fn duplicate_device_name_in_one_vm_is_refused() {
    assert_eq!(
        refusal(&format!(
            "{COM1_HOST_BACKED}\n[[vm.device]]\nname = \"com1\"\nkind = \"debug-exit\"\nport = 0xf4"
        )),
        r#"vm[0].device[1].name: "com1" is already the name of vm[0].device[0]"#
    );
}

#[test]
fn field_the_kind_lacks_is_refused() {
    assert_eq!(
        refusal("[[vm.device]]\nname = \"exit\"\nkind = \"debug-exit\"\nport = 0xf4\nirq = 4"),
        r#"vm[0].device[0].irq: not a field of kind "debug-exit""#
    );
}

#[test]
fn field_the_kind_needs_is_required() {
    assert_eq!(
        refusal("[[vm.device]]\nname = \"com1\"\nkind = \"uart16550\"\nbase = 0x3f8"),
        r#"vm[0].device[0].irq: required for kind "uart16550""#
    );
}

#[test]
fn port_above_0xffff_is_refused() {
    assert_eq!(
        refusal("[[vm.device]]\nname = \"c\"\nkind = \"uart16550\"\nbase = 0x10000\nirq = 4"),
        "vm[0].device[0].base: 0x10000 is out of range (a port, 0..=0xffff)"
    );
}

#[test]
fn irq_above_15_is_refused() {
    assert_eq!(
        refusal("[[vm.device]]\nname = \"c\"\nkind = \"uart16550\"\nbase = 0x3f8\nirq = 16"),
        "vm[0].device[0].irq: 16 is out of range (an ISA IRQ, 0..=15)"
    );
}

#[test]
fn unaligned_mmio_base_is_refused() {
    assert_eq!(
        refusal("[[vm.device]]\nname = \"t\"\nkind = \"test-device\"\nbase = 0xfeb00100"),
        "vm[0].device[0].base: 0xfeb00100 is not a multiple of 4 KiB (EPT maps whole pages)"
    );
}

#[test]
fn ports_past_0xffff_are_refused() {
    assert_eq!(
        refusal("[[vm.device]]\nname = \"c\"\nkind = \"uart16550\"\nbase = 0xfffc\nirq = 4"),
        "vm[0].device[0].base: the device's ports would be empty or run past the end of the address space"
    );
    assert_eq!(
        refusal(
            "[[vm.device]]\nname = \"p\"\nkind = \"port-range\"\nbase = 0x378\nlen = 0\nmethod = \"passthrough\""
        ),
        "vm[0].device[0].base: the device's ports would be empty or run past the end of the address space"
    );
}

#[test]
fn emulated_port_range_has_no_model() {
    assert_eq!(
        refusal("[[vm.device]]\nname = \"p\"\nkind = \"port-range\"\nbase = 0x378\nlen = 8"),
        r#"vm[0].device[0].method: a port-range or memory-range has no model: use method "passthrough" (or "mediated" for ports)"#
    );
}

#[test]
fn emulated_device_has_no_host() {
    assert_eq!(
        refusal(
            "[[vm.device]]\nname = \"c\"\nkind = \"uart16550\"\nbase = 0x3f8\nirq = 4\nhost = \"com1\""
        ),
        r#"vm[0].device[0].host: not a field of method "emulated""#
    );
}

#[test]
fn policy_outside_mediation_is_refused() {
    assert_eq!(
        refusal(
            "[[vm.device]]\nname = \"c\"\nkind = \"uart16550\"\nbase = 0x2f8\nirq = 3\nmethod = \"passthrough\"\nhost = \"com2\"\npolicy = []"
        ),
        r#"vm[0].device[0].policy: not a field of method "passthrough""#
    );
}

#[test]
fn only_a_uart_can_be_host_backed() {
    assert_eq!(
        refusal(
            "[[vm.device]]\nname = \"e\"\nkind = \"debug-exit\"\nport = 0xf4\nmethod = \"host-backed\"\nhost = \"com1\""
        ),
        "vm[0].device[0].method: only a uart16550 can be host-backed (the hypervisor drives serial ports only)"
    );
}

#[test]
fn host_backed_needs_a_host_serial_port() {
    assert_eq!(
        refusal(
            "[[vm.device]]\nname = \"c\"\nkind = \"uart16550\"\nbase = 0x3f8\nirq = 4\nmethod = \"host-backed\"\nhost = \"ports\""
        ),
        r#"vm[0].device[0].host: host-backed needs a host serial port: "com1" or "com2""#
    );
    assert_eq!(
        refusal(
            "[[vm.device]]\nname = \"c\"\nkind = \"uart16550\"\nbase = 0x3f8\nirq = 4\nmethod = \"host-backed\""
        ),
        r#"vm[0].device[0].host: required for method "host-backed""#
    );
}

#[test]
fn hypervisor_models_cannot_be_passed_through() {
    assert_eq!(
        refusal(
            "[[vm.device]]\nname = \"t\"\nkind = \"test-device\"\nbase = 0xfeb00000\nmethod = \"passthrough\"\nhost = \"memory\""
        ),
        r#"vm[0].device[0].method: debug-exit and test-device exist only as this hypervisor's models: use method "emulated""#
    );
}

#[test]
fn memory_cannot_be_mediated() {
    assert_eq!(
        refusal(
            "[[vm.device]]\nname = \"m\"\nkind = \"memory-range\"\nbase = 0xe0000000\nlen = 0x1000\nmethod = \"mediated\"\npolicy = []"
        ),
        "vm[0].device[0].method: mediation policies name ports: memory can only be passed through"
    );
}

#[test]
fn host_of_the_wrong_space_is_refused() {
    assert_eq!(
        refusal(
            "[[vm.device]]\nname = \"p\"\nkind = \"port-range\"\nbase = 0x378\nlen = 8\nmethod = \"passthrough\"\nhost = \"memory\""
        ),
        r#"vm[0].device[0].host: host "memory" needs kind "memory-range""#
    );
}

#[test]
fn passthrough_of_the_hypervisor_console_is_refused() {
    assert_eq!(
        refusal(
            "[[vm.device]]\nname = \"c\"\nkind = \"uart16550\"\nbase = 0x3f8\nirq = 4\nmethod = \"passthrough\"\nhost = \"com1\""
        ),
        "vm[0].device[0].host: passthrough of ports 0x3f8-0x3ff would take ports 0x3f8-0x3ff (COM1, the hypervisor console) from the hypervisor"
    );
}

#[test]
fn mediation_of_the_pit_is_refused() {
    assert_eq!(
        refusal(
            "[[vm.device]]\nname = \"p\"\nkind = \"port-range\"\nbase = 0x40\nlen = 4\nmethod = \"mediated\"\npolicy = []"
        ),
        "vm[0].device[0].host: mediation of ports 0x40-0x43 would take ports 0x40-0x43 (PIT) from the hypervisor"
    );
}

#[test]
fn passthrough_of_the_local_apic_page_is_refused() {
    assert_eq!(
        refusal(
            "[[vm.device]]\nname = \"m\"\nkind = \"memory-range\"\nbase = 0xfee00000\nlen = 0x1000\nmethod = \"passthrough\""
        ),
        "vm[0].device[0].host: passthrough of memory 0xfee00000-0xfee00fff would take memory 0xfee00000-0xfee00fff (local APIC) from the hypervisor"
    );
}

#[test]
fn passthrough_maps_ports_one_to_one() {
    assert_eq!(
        refusal(
            "[[vm.device]]\nname = \"c\"\nkind = \"uart16550\"\nbase = 0x3e8\nirq = 4\nmethod = \"passthrough\"\nhost = \"com2\""
        ),
        "vm[0].device[0].base: passthrough maps ports 0x3e8-0x3ef 1:1 onto the host, so it must equal the host device's COM2 (ports 0x2f8-0x2ff)"
    );
}

#[test]
fn device_on_an_always_present_pc_port_is_refused() {
    assert_eq!(
        refusal("[[vm.device]]\nname = \"exit\"\nkind = \"debug-exit\"\nport = 0x60"),
        "vm[0].device[0].port: ports 0x60-0x63 overlap the always-present i8042 data port (port 0x60)"
    );
}

#[test]
fn mmio_device_inside_ram_is_refused() {
    assert_eq!(
        refusal("[[vm.device]]\nname = \"t\"\nkind = \"test-device\"\nbase = 0x100000"),
        "vm[0].device[0].base: memory 0x100000-0x100fff overlaps guest RAM (0..32 MiB)"
    );
}

#[test]
fn two_devices_on_the_same_ports_are_refused() {
    assert_eq!(
        refusal(&format!(
            "{COM1_HOST_BACKED}\n[[vm.device]]\nname = \"exit\"\nkind = \"debug-exit\"\nport = 0x3fc"
        )),
        r#"vm[0].device[1].port: ports 0x3fc-0x3ff overlap vm[0].device[0] "com1" (ports 0x3f8-0x3ff)"#
    );
}

#[test]
fn irq_of_an_always_present_device_is_refused() {
    assert_eq!(
        refusal("[[vm.device]]\nname = \"c\"\nkind = \"uart16550\"\nbase = 0x3f8\nirq = 8"),
        "vm[0].device[0].irq: IRQ 8 is the always-present RTC's"
    );
}

#[test]
fn two_uarts_on_one_irq_are_refused() {
    assert_eq!(
        refusal(&format!(
            "{COM1_HOST_BACKED}\n[[vm.device]]\nname = \"com3\"\nkind = \"uart16550\"\nbase = 0x3e8\nirq = 4"
        )),
        r#"vm[0].device[1].irq: IRQ 4 is already driven by vm[0].device[0] "com1""#
    );
}

#[test]
fn policy_rule_outside_the_device_is_refused() {
    let mediated = |ports: &str| {
        format!(
            "[[vm.device]]\nname = \"com2\"\nkind = \"uart16550\"\nbase = 0x2f8\nirq = 3\nmethod = \"mediated\"\nhost = \"com2\"\npolicy = [{{ ports = {ports}, access = \"write\", action = \"allow\" }}]"
        )
    };
    assert_eq!(
        refusal(&mediated("[0x2f8, 0x300]")),
        "vm[0].device[0].policy[0].ports: 0x2f8-0x300 must be a range inside the device's ports 0x2f8-0x2ff"
    );
    assert_eq!(
        refusal(&mediated("[0x2ff, 0x2f8]")),
        "vm[0].device[0].policy[0].ports: 0x2ff-0x2f8 must be a range inside the device's ports 0x2f8-0x2ff"
    );
}

#[test]
fn rewrite_needs_both_masks_and_only_rewrite_has_them() {
    let mediated = |rule: &str| {
        format!(
            "[[vm.device]]\nname = \"com2\"\nkind = \"uart16550\"\nbase = 0x2f8\nirq = 3\nmethod = \"mediated\"\nhost = \"com2\"\npolicy = [{{ ports = [0x2f8, 0x2f8], access = \"write\", {rule} }}]"
        )
    };
    assert_eq!(
        refusal(&mediated("action = \"rewrite\", and_mask = 0xff")),
        r#"vm[0].device[0].policy[0].or_value: required for action "rewrite""#
    );
    assert_eq!(
        refusal(&mediated("action = \"allow\", and_mask = 0xff")),
        r#"vm[0].device[0].policy[0].and_mask: not a field of action "allow""#
    );
}

#[test]
fn mediation_needs_a_policy() {
    assert_eq!(
        refusal(
            "[[vm.device]]\nname = \"com2\"\nkind = \"uart16550\"\nbase = 0x2f8\nirq = 3\nmethod = \"mediated\"\nhost = \"com2\""
        ),
        r#"vm[0].device[0].policy: required for method "mediated""#
    );
}

#[test]
fn unknown_kind_is_a_parse_error_naming_the_variants() {
    let message = refusal("[[vm.device]]\nname = \"x\"\nkind = \"floppy\"");
    assert!(message.contains("unknown variant `floppy`"), "{message}");
    assert!(message.contains("line 6"), "{message}");
}
