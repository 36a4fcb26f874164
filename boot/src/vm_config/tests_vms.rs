//! VM refusals and machine-wide checks: one test per rule, each asserting the exact message.

use devices::vm_config::{Guest, MAX_DEVICES, MAX_VMS};

use super::test_support::{Fixture, vm_with};

const COM2_PASSTHROUGH: &str = r#"
[[vm.device]]
name = "com2"
kind = "uart16550"
base = 0x2f8
irq = 3
method = "passthrough"
host = "com2"
"#;

const COM2_MEDIATED: &str = r#"
[[vm.device]]
name = "com2"
kind = "uart16550"
base = 0x2f8
irq = 3
method = "mediated"
host = "com2"
policy = [{ ports = [0x2f8, 0x2ff], access = "both", action = "log" }]
"#;

const COM_HOST_BACKED: &str = r#"
[[vm.device]]
name = "com1"
kind = "uart16550"
base = 0x3f8
irq = 4
method = "host-backed"
host = "HOST"
"#;

#[test]
fn empty_file_names_no_vm() {
    assert_eq!(
        Fixture::new().refusal(""),
        "vm: the configuration names no VM (add a [[vm]] table)"
    );
}

#[test]
fn bad_vm_name_is_refused() {
    assert_eq!(
        Fixture::new().refusal(&vm_with("web server", "")),
        r#"vm[0].name: "web server" must be 1-32 characters of A-Z a-z 0-9 _ -"#
    );
    assert_eq!(
        Fixture::new().refusal(&vm_with(&"n".repeat(33), "")),
        format!(
            "vm[0].name: {:?} must be 1-32 characters of A-Z a-z 0-9 _ -",
            "n".repeat(33)
        )
    );
}

#[test]
fn duplicate_vm_names_are_refused() {
    let text = format!("{}{}", vm_with("web", ""), vm_with("web", ""));
    assert_eq!(
        Fixture::new().refusal(&text),
        r#"vm[1].name: "web" is already the name of vm[0]"#
    );
}

#[test]
fn odd_or_out_of_range_ram_is_refused() {
    let with_ram =
        |mib: u32| format!("[[vm]]\nname = \"web\"\nram_mib = {mib}\nelf = \"guest.elf\"");
    let fixture = Fixture::new();
    assert_eq!(
        fixture.refusal(&with_ram(33)),
        "vm[0].ram_mib: 33 must be even, 2..=2048"
    );
    assert_eq!(
        fixture.refusal(&with_ram(4096)),
        "vm[0].ram_mib: 4096 must be even, 2..=2048"
    );
    assert_eq!(
        fixture.refusal(&with_ram(0)),
        "vm[0].ram_mib: 0 must be even, 2..=2048"
    );
}

#[test]
fn more_than_one_vcpu_is_refused() {
    assert_eq!(
        Fixture::new().refusal("[[vm]]\nname = \"web\"\nvcpus = 2\nelf = \"guest.elf\""),
        "vm[0].vcpus: 2 vCPUs are not supported yet (only 1)"
    );
}

#[test]
fn exactly_one_guest_is_required() {
    let fixture = Fixture::new();
    assert_eq!(
        fixture.refusal("[[vm]]\nname = \"web\""),
        "vm[0]: needs exactly one guest: `elf`, `realmode` or `linux` (found none)"
    );
    assert_eq!(
        fixture.refusal(
            "[[vm]]\nname = \"web\"\nelf = \"guest.elf\"\nrealmode = { file = \"boot.bin\", load_address = 0x7c00 }"
        ),
        "vm[0]: needs exactly one guest: `elf`, `realmode` or `linux` (found elf and realmode)"
    );
}

#[test]
fn missing_guest_file_is_refused_with_its_resolved_path() {
    let fixture = Fixture::new();
    assert_eq!(
        fixture.refusal("[[vm]]\nname = \"web\"\nelf = \"nothere.elf\""),
        format!(
            r#"vm[0].elf: guest file "nothere.elf" ({}) does not exist"#,
            fixture.path("nothere.elf").display()
        )
    );
    assert_eq!(
        fixture.refusal(
            "[[vm]]\nname = \"web\"\nlinux = { kernel = \"guest.elf\", initrd = \"initrd.img\" }"
        ),
        format!(
            r#"vm[0].linux.initrd: guest file "initrd.img" ({}) does not exist"#,
            fixture.path("initrd.img").display()
        )
    );
}

#[test]
fn unknown_builtin_guest_lists_the_built_ins() {
    assert_eq!(
        Fixture::new().refusal("[[vm]]\nname = \"web\"\nelf = \"builtin:nope\""),
        r#"vm[0].elf: unknown built-in guest "nope" (built in: hello, pio)"#
    );
    // A built-in name is a name, not a path.
    assert_eq!(
        Fixture::new().refusal("[[vm]]\nname = \"web\"\nelf = \"builtin:../guest.elf\""),
        r#"vm[0].elf: unknown built-in guest "../guest.elf" (built in: hello, pio)"#
    );
}

#[test]
fn real_mode_load_address_must_be_conventional_memory() {
    assert_eq!(
        Fixture::new().refusal(
            "[[vm]]\nname = \"rm\"\nrealmode = { file = \"boot.bin\", load_address = 0x400 }"
        ),
        "vm[0].realmode.load_address: 0x400 is outside 0x500..0xa0000 (above the IVT and BIOS data area, below 640 KiB)"
    );
}

#[test]
fn real_mode_image_must_end_below_640_kib() {
    assert_eq!(
        Fixture::new().refusal(
            "[[vm]]\nname = \"rm\"\nrealmode = { file = \"boot.bin\", load_address = 0x9ff00 }"
        ),
        "vm[0].realmode.file: 512 bytes at 0x9ff00 run past 0xa0000"
    );
}

#[test]
fn cpuid_override_for_a_leaf_already_overridden_is_refused() {
    let text = "[[vm]]\nname = \"web\"\nelf = \"guest.elf\"\n\
        [[vm.cpuid]]\nleaf = 0x40000000\neax = 0\nebx = 0\necx = 0\nedx = 0\n\
        [[vm.cpuid]]\nleaf = 0x40000000\nsubleaf = 1\neax = 0\nebx = 0\necx = 0\nedx = 0\n";
    assert_eq!(
        Fixture::new().refusal(text),
        "vm[0].cpuid[1]: leaf 0x40000000 sub-leaf 1 is already overridden by vm[0].cpuid[0]"
    );
}

#[test]
fn cpuid_override_offering_vmx_is_refused() {
    let text = "[[vm]]\nname = \"web\"\nelf = \"guest.elf\"\n\
        [[vm.cpuid]]\nleaf = 1\neax = 0\nebx = 0\necx = 0x20\nedx = 0\n";
    assert_eq!(
        Fixture::new().refusal(text),
        "vm[0].cpuid[0].ecx: bit 5 (VMX) cannot be offered: the hypervisor does not nest VT-x"
    );
}

#[test]
fn host_device_passed_through_to_two_vms_is_refused() {
    let text = format!(
        "{}{}",
        vm_with("left", COM2_PASSTHROUGH),
        vm_with("right", COM2_PASSTHROUGH)
    );
    assert_eq!(
        Fixture::new().refusal(&text),
        r#"vm[1].device[0].host: host COM2 (ports 0x2f8-0x2ff) is already used by vm[0].device[0] (device "com2" of VM "left") (passthrough); passthrough and mediation need a host device for one VM alone"#
    );
}

#[test]
fn mediating_a_host_backed_host_device_is_refused() {
    let text = format!(
        "{}{}",
        vm_with("left", &COM_HOST_BACKED.replace("HOST", "com2")),
        vm_with("right", COM2_MEDIATED)
    );
    assert_eq!(
        Fixture::new().refusal(&text),
        r#"vm[1].device[0].host: host COM2 (ports 0x2f8-0x2ff) is already used by vm[0].device[0] (device "com1" of VM "left") (host-backed); passthrough and mediation need a host device for one VM alone"#
    );
}

#[test]
fn host_backed_sharing_of_one_uart_is_allowed() {
    let backed = COM_HOST_BACKED.replace("HOST", "com1");
    let text = format!("{}{}", vm_with("left", &backed), vm_with("right", &backed));
    match Fixture::new().check(&text) {
        Ok((machine, files)) => {
            assert_eq!(machine.vms.len(), 2);
            assert_eq!(machine.vms[1].devices[0], machine.vms[0].devices[0]);
            assert_eq!(files.len(), 1, "one member for the shared guest: {files:?}");
        }
        Err(message) => panic!("refused: {message}"),
    }
}

#[test]
fn more_vms_than_the_cap_are_refused() {
    let text: String = (0..=MAX_VMS)
        .map(|index| vm_with(&format!("vm{index}"), ""))
        .collect();
    assert_eq!(Fixture::new().refusal(&text), "vm: 17 entries, at most 16");
}

#[test]
fn more_devices_than_the_cap_are_refused() {
    let devices: String = (0..=MAX_DEVICES)
        .map(|index| {
            format!(
                "[[vm.device]]\nname = \"exit{index}\"\nkind = \"debug-exit\"\nport = {}\n",
                0x100 + 4 * index
            )
        })
        .collect();
    assert_eq!(
        Fixture::new().refusal(&vm_with("web", &devices)),
        "vm[0].device: 17 entries, at most 16"
    );
}

#[test]
fn unknown_key_is_a_parse_error_naming_it() {
    let message = Fixture::new().refusal("[[vm]]\nname = \"web\"\ncolour = \"blue\"");
    assert!(message.contains("unknown field `colour`"), "{message}");
    assert!(message.contains("line 3"), "{message}");
}

#[test]
fn defaults_are_32_mib_and_one_vcpu() {
    match Fixture::new().check("[[vm]]\nname = \"web\"\nelf = \"guest.elf\"") {
        Ok((machine, files)) => {
            let vm = &machine.vms[0];
            assert_eq!((vm.ram_mib, vm.vcpus), (32, 1));
            assert!(vm.devices.is_empty() && vm.cpuid_overrides.is_empty());
            assert_eq!(
                vm.guest,
                Guest::Elf {
                    file: "guest.elf".into()
                }
            );
            assert_eq!(files[0].0, "guest.elf");
        }
        Err(message) => panic!("refused: {message}"),
    }
}
