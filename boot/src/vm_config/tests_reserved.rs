//! What the VMM reserves inside a VM besides the PC devices: the I/O window it programs into
//! each virtio function's BAR0, and with `acpi = true` the ACPI PM ports and the SCI's line.
//! One test per rule, each asserting the exact message.

use super::test_support::{Fixture, vm_with};

/// The refusal of one VM with `devices`.
fn refusal(devices: &str) -> String {
    Fixture::new().refusal(&vm_with("left", devices))
}

/// The refusal of one VM with ACPI tables (and so APICs) and `devices`.
fn acpi_refusal(devices: &str) -> String {
    Fixture::new().refusal(&acpi_vm(devices))
}

/// A VM with `apic = true`, `acpi = true` and `devices`.
fn acpi_vm(devices: &str) -> String {
    format!(
        "[[vm]]\nname = \"left\"\nelf = \"builtin:hello\"\napic = true\nacpi = true\n{devices}\n"
    )
}

/// A virtio-blk device `name` in `slot` on `disk.img`.
fn blk(name: &str, slot: u32) -> String {
    format!(
        "[[vm.device]]\nname = \"{name}\"\nkind = \"virtio-blk\"\nslot = {slot}\ndisk = \"disk.img\"\n"
    )
}

/// A UART `name` at `base` on `irq`.
fn uart(name: &str, base: u32, irq: u32) -> String {
    format!(
        "[[vm.device]]\nname = \"{name}\"\nkind = \"uart16550\"\nbase = {base:#x}\nirq = {irq}\n"
    )
}

/// A debug-exit device at `port`.
fn debug_exit(port: u32) -> String {
    format!("[[vm.device]]\nname = \"exit\"\nkind = \"debug-exit\"\nport = {port:#x}\n")
}

#[test]
fn a_port_device_in_a_virtio_io_window_is_refused_wherever_it_is_listed() {
    assert_eq!(
        refusal(&format!("{}{}", blk("disk", 3), uart("com3", 0xc300, 5))),
        "vm[0].device[1].base: ports 0xc300-0xc307 overlap the I/O window of virtio device `disk` (slot 3) (ports 0xc300-0xc3ff)"
    );
    assert_eq!(
        refusal(&format!("{}{}", debug_exit(0xc3fe), blk("disk", 3))),
        "vm[0].device[0].port: ports 0xc3fe-0xc401 overlap the I/O window of virtio device `disk` (slot 3) (ports 0xc300-0xc3ff)"
    );
}

#[test]
fn ports_beside_the_virtio_windows_are_fine() {
    let text = vm_with(
        "left",
        &format!("{}{}", blk("disk", 3), uart("com3", 0xc400, 5)),
    );
    assert!(Fixture::new().check(&text).is_ok());
}

#[test]
fn with_acpi_the_pm_ports_are_refused() {
    assert_eq!(
        acpi_refusal(&uart("com3", 0x5f9, 5)),
        "vm[0].device[0].base: ports 0x5f9-0x600 overlap the ACPI PM1a event block (the VM has `acpi = true`) (ports 0x600-0x603)"
    );
    assert_eq!(
        acpi_refusal(&debug_exit(0x605)),
        "vm[0].device[0].port: ports 0x605-0x608 overlap the ACPI PM1a control block (the VM has `acpi = true`) (ports 0x604-0x605)"
    );
    assert_eq!(
        acpi_refusal(&debug_exit(0x60b)),
        "vm[0].device[0].port: ports 0x60b-0x60e overlap the ACPI PM timer block (the VM has `acpi = true`) (ports 0x608-0x60b)"
    );
}

#[test]
fn with_acpi_the_sci_line_is_refused() {
    assert_eq!(
        acpi_refusal(&uart("com3", 0x3e8, 9)),
        "vm[0].device[0].irq: IRQ 9 is the ACPI SCI's (the VM has `acpi = true`; the FADT's SCI_INT); use another line"
    );
}

#[test]
fn without_acpi_the_pm_ports_and_line_9_are_free() {
    let text = vm_with(
        "left",
        &format!("{}{}", uart("com3", 0x600, 9), debug_exit(0x608)),
    );
    if let Err(message) = Fixture::new().check(&text) {
        panic!("refused: {message}");
    }
    // 0x606-0x607 lie between the blocks: free even with ACPI.
    let gap = "[[vm.device]]\nname = \"gap\"\nkind = \"port-range\"\nbase = 0x606\nlen = 2\nmethod = \"passthrough\"\n";
    if let Err(message) = Fixture::new().check(&acpi_vm(gap)) {
        panic!("refused: {message}");
    }
}
