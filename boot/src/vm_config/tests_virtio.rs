//! Virtio devices, their disks and the `apic`/`acpi` switches: one test per rule, each
//! asserting the exact message.

use devices::vm_config::{DeviceDesc, DeviceKind, Method};

use super::test_support::{Fixture, vm_with};

/// The refusal of one VM with `devices`.
fn refusal(devices: &str) -> String {
    Fixture::new().refusal(&vm_with("left", devices))
}

/// The devices one VM with `devices` gets, and the packed members.
fn accepted(devices: &str) -> (Vec<DeviceDesc>, Vec<String>) {
    match Fixture::new().check(&vm_with("left", devices)) {
        Ok((mut machine, members)) => (
            machine.vms.remove(0).devices,
            members.into_iter().map(|(name, _)| name).collect(),
        ),
        Err(message) => panic!("refused: {message}"),
    }
}

/// A virtio-blk device `name` in `slot` on `disk`.
fn blk(name: &str, slot: u32, disk: &str) -> String {
    format!(
        "[[vm.device]]\nname = \"{name}\"\nkind = \"virtio-blk\"\nslot = {slot}\ndisk = \"{disk}\"\n"
    )
}

/// A virtio-console device `name` in `slot`.
fn console(name: &str, slot: u32) -> String {
    format!("[[vm.device]]\nname = \"{name}\"\nkind = \"virtio-console\"\nslot = {slot}\n")
}

/// A UART at COM1's ports on `irq`.
fn uart(irq: u32) -> String {
    format!("[[vm.device]]\nname = \"com1\"\nkind = \"uart16550\"\nbase = 0x3f8\nirq = {irq}\n")
}

#[test]
fn virtio_blk_and_console_are_built_in_their_slots_with_the_disk_packed() {
    let (devices, members) = accepted(&format!(
        "{}{}",
        blk("disk", 3, "disk.img"),
        console("hvc", 4)
    ));
    assert_eq!(
        devices,
        [
            DeviceDesc {
                name: "disk".into(),
                kind: DeviceKind::VirtioBlk {
                    slot: 3,
                    disk: "disk.img".into()
                },
                method: Method::Emulated,
            },
            DeviceDesc {
                name: "hvc".into(),
                kind: DeviceKind::VirtioConsole { slot: 4 },
                method: Method::Emulated,
            },
        ]
    );
    assert_eq!(members, ["hello", "disk.img"]);
}

#[test]
fn slot_zero_is_the_host_bridge_and_slots_end_at_31() {
    assert_eq!(
        refusal(&console("hvc", 0)),
        "vm[0].device[0].slot: 0 is out of range (a PCI slot, 1..=31; slot 0 is the host bridge 00:00.0)"
    );
    assert_eq!(
        refusal(&blk("disk", 32, "disk.img")),
        "vm[0].device[0].slot: 32 is out of range (a PCI slot, 1..=31; slot 0 is the host bridge 00:00.0)"
    );
}

#[test]
fn a_slot_taken_twice_in_one_vm_is_refused() {
    assert_eq!(
        refusal(&format!(
            "{}{}",
            blk("disk", 3, "disk.img"),
            console("hvc", 3)
        )),
        r#"vm[0].device[1].slot: slot 3 is already taken by vm[0].device[0] "disk""#
    );
}

#[test]
fn one_slot_in_two_vms_is_fine() {
    let text = format!(
        "{}{}",
        vm_with("a", &console("hvc", 3)),
        vm_with("b", &console("hvc", 3))
    );
    assert!(Fixture::new().check(&text).is_ok());
}

#[test]
fn virtio_devices_are_emulated_only() {
    for method in ["host-backed", "passthrough", "mediated"] {
        assert_eq!(
            refusal(&format!("{}method = \"{method}\"\n", console("hvc", 4))),
            r#"vm[0].device[0].method: virtio devices exist only as this hypervisor's models: use method "emulated""#
        );
    }
}

#[test]
fn virtio_fields_are_required_and_foreign_ones_refused() {
    assert_eq!(
        refusal("[[vm.device]]\nname = \"hvc\"\nkind = \"virtio-console\"\n"),
        r#"vm[0].device[0].slot: required for kind "virtio-console""#
    );
    assert_eq!(
        refusal("[[vm.device]]\nname = \"disk\"\nkind = \"virtio-blk\"\nslot = 3\n"),
        r#"vm[0].device[0].disk: required for kind "virtio-blk""#
    );
    assert_eq!(
        refusal(&format!("{}disk = \"disk.img\"\n", console("hvc", 4))),
        r#"vm[0].device[0].disk: not a field of kind "virtio-console""#
    );
    assert_eq!(
        refusal(&format!("{}base = 0x1000\n", console("hvc", 4))),
        r#"vm[0].device[0].base: not a field of kind "virtio-console""#
    );
    assert_eq!(
        refusal(&format!("{}slot = 3\n", uart(4))),
        r#"vm[0].device[0].slot: not a field of kind "uart16550""#
    );
}

#[test]
fn a_missing_disk_is_refused_with_its_resolved_path() {
    let fixture = Fixture::new();
    assert_eq!(
        fixture.refusal(&vm_with("left", &blk("disk", 3, "none.img"))),
        format!(
            "vm[0].device[0].disk: guest file \"none.img\" ({}) does not exist",
            fixture.path("none.img").display()
        )
    );
}

#[test]
fn a_disk_must_be_a_non_zero_whole_number_of_sectors_of_at_most_1_gib() {
    let fixture = Fixture::new();
    let sizes: [(&str, u64); 3] = [
        ("empty.img", 0),
        ("ragged.img", 1000),
        ("huge.img", (1 << 30) + 512),
    ];
    for (name, size) in sizes {
        let path = fixture.path(name);
        // A sparse file: the 1 GiB case takes no disk space.
        std::fs::File::create(&path)
            .and_then(|file| file.set_len(size))
            .expect("disk image");
        assert_eq!(
            fixture.refusal(&vm_with("left", &blk("disk", 3, name))),
            format!(
                "vm[0].device[0].disk: disk image {} is {size} bytes: a disk must be a non-zero multiple of 512 bytes, at most 1073741824 bytes (1 GiB)",
                path.display()
            )
        );
    }
}

#[test]
fn disks_that_overflow_the_largest_hypervisor_heap_are_refused() {
    let fixture = Fixture::new();
    std::fs::File::create(fixture.path("big.img"))
        .and_then(|file| file.set_len(1 << 30))
        .expect("a sparse 1 GiB disk");
    assert_eq!(
        fixture.refusal(&vm_with("left", &blk("disk", 3, "big.img"))),
        "vm[0].device[0].disk: the disks so far need a 1044 MiB hypervisor heap (16 MiB + 1024 MiB of disks + 4 MiB), more than heap_mib allows (1024 MiB)"
    );
}

#[test]
fn a_disk_belongs_to_one_device() {
    let fixture = Fixture::new();
    assert_eq!(
        fixture.refusal(&vm_with(
            "left",
            &format!("{}{}", blk("a", 3, "disk.img"), blk("b", 5, "./disk.img"))
        )),
        format!(
            "vm[0].device[1].disk: {} is already used by vm[0].device[0].disk; a disk image belongs to one device (what the guest writes is written back into it)",
            fixture.path("./disk.img").display()
        )
    );
    let text = format!(
        "[[vm]]\nname = \"a\"\nelf = \"guest.elf\"\n{}",
        blk("disk", 3, "guest.elf")
    );
    assert_eq!(
        fixture.refusal(&text),
        format!(
            "vm[0].device[0].disk: {} is already used by vm[0].elf; a disk image belongs to one device (what the guest writes is written back into it)",
            fixture.path("guest.elf").display()
        )
    );
    let text = format!(
        "{}[[vm]]\nname = \"b\"\nelf = \"disk.img\"\n",
        vm_with("a", &blk("disk", 3, "disk.img"))
    );
    assert!(fixture.refusal(&text).starts_with("vm[1].elf: "));
}

#[test]
fn a_disk_is_a_path_not_a_provided_file() {
    assert_eq!(
        refusal(&blk("disk", 3, "builtin:hello")),
        r#"vm[0].device[0].disk: "builtin:hello" is a file this tool provides: a disk image is a path relative to the configuration (the guest's writes go back into it)"#
    );
}

#[test]
fn a_device_on_the_isa_line_of_a_pci_interrupt_is_refused_naming_both() {
    // Slot 3, pin A: PIRQ (3 + 0) mod 4 = D, ISA line 11.
    let expected = r#"IRQ 11 is the INTx line of vm[0].device[1] "disk" (PCI 00:03.0, pin INTA# through the PIRQ swizzle); use another line"#;
    assert_eq!(
        refusal(&format!("{}{}", uart(11), blk("disk", 3, "disk.img"))),
        format!("vm[0].device[0].irq: {expected}")
    );
    // Either order: the UART's line is the field to change.
    assert_eq!(
        refusal(&format!("{}{}", blk("disk", 3, "disk.img"), uart(11))),
        format!(
            "vm[0].device[1].irq: {}",
            expected.replace("vm[0].device[1]", "vm[0].device[0]")
        )
    );
    // Slot 4, pin A: PIRQ A, ISA line 10.
    assert!(
        refusal(&format!("{}{}", uart(10), console("hvc", 4))).starts_with(
            r#"vm[0].device[0].irq: IRQ 10 is the INTx line of vm[0].device[1] "hvc" (PCI 00:04.0"#
        )
    );
}

#[test]
fn pci_devices_share_their_lines_and_leave_the_others_free() {
    let (devices, _) = accepted(&format!(
        "{}{}{}",
        uart(4),
        console("hvc", 4),
        console("hvc2", 8)
    ));
    assert_eq!(devices.len(), 3);
}

#[test]
fn apic_and_acpi_default_off_and_acpi_needs_apic() {
    let fixture = Fixture::new();
    let (machine, _) = fixture
        .check("[[vm]]\nname = \"a\"\nelf = \"guest.elf\"\n")
        .expect("accepted");
    assert!(!machine.vms[0].apic && !machine.vms[0].acpi);
    let (machine, _) = fixture
        .check("[[vm]]\nname = \"a\"\nelf = \"guest.elf\"\napic = true\nacpi = true\n")
        .expect("accepted");
    assert!(machine.vms[0].apic && machine.vms[0].acpi);
    let (machine, _) = fixture
        .check("[[vm]]\nname = \"a\"\nelf = \"guest.elf\"\napic = true\n")
        .expect("accepted");
    assert!(machine.vms[0].apic && !machine.vms[0].acpi);
    assert_eq!(
        fixture.refusal("[[vm]]\nname = \"a\"\nelf = \"guest.elf\"\nacpi = true\n"),
        "vm[0].acpi: ACPI tables need `apic = true` (the MADT describes the local APIC and I/O APIC)"
    );
}

#[test]
fn debian_files_resolve_from_the_guest_cache() {
    let fixture = Fixture::new().with_fake_linux_cache();
    let text = "[[vm]]\nname = \"debian\"\nram_mib = 256\n\
        linux = { kernel = \"debian:kernel\", initrd = \"debian:shell-initramfs\", cmdline = \"console=ttyS0\" }\n";
    let (machine, members) = fixture.check(text).expect("accepted");
    let names: Vec<&str> = members.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["debian.bzimage", "debian.initrd"]);
    assert!(members[0].1.ends_with("boot/vmlinuz-6.1.0-56-cloud-amd64"));
    assert!(members[1].1.is_file());
    assert!(matches!(
        &machine.vms[0].guest,
        devices::vm_config::Guest::Linux { kernel, initrd: Some(initrd), .. }
            if kernel == "debian.bzimage" && initrd == "debian.initrd"
    ));
}

#[test]
fn an_unknown_debian_file_is_refused_naming_the_field() {
    let text = "[[vm]]\nname = \"debian\"\nlinux = { kernel = \"debian:foo\" }\n";
    assert_eq!(
        Fixture::new().refusal(text),
        r#"vm[0].linux.kernel: unknown Debian guest file "foo" (there are: debian:kernel, debian:shell-initramfs)"#
    );
}
