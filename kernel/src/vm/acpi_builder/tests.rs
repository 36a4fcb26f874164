//! The generated tables, read back by hand and through the `acpi` crate over a host buffer
//! standing in for guest-physical memory.

use alloc::vec;
use alloc::vec::Vec;
use core::ptr::NonNull;

use ::acpi::address::{AccessSize, AddressSpace};
use ::acpi::fadt::Fadt;
use ::acpi::madt::Madt;
use ::acpi::platform::interrupt::{Polarity, TriggerMode};
use ::acpi::{AcpiHandler, AcpiTable, AcpiTables as Parsed, InterruptModel, PhysicalMapping};

use super::*;

/// Guest-physical memory `[base, base + len)` backed by an 8-byte aligned host buffer.
#[derive(Clone)]
struct BufferHandler {
    base: usize,
    host: NonNull<u8>,
    len: usize,
}

impl AcpiHandler for BufferHandler {
    unsafe fn map_physical_region<T>(
        &self,
        physical_address: usize,
        size: usize,
    ) -> PhysicalMapping<Self, T> {
        let offset = physical_address
            .checked_sub(self.base)
            .filter(|offset| offset + size <= self.len)
            .unwrap_or_else(|| panic!("map of {physical_address:#x}+{size:#x} outside tables"));
        // SAFETY: `offset + size` lies within the buffer (checked above), which outlives the
        // handler in every test.
        let pointer = unsafe { self.host.add(offset) }.cast::<T>();
        // SAFETY: the region is mapped host memory of `size` bytes; the caller vouches for `T`.
        unsafe { PhysicalMapping::new(physical_address, pointer, size, size, self.clone()) }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}
}

/// The tables copied into an aligned buffer (kept alive by the caller) and a handler over it.
fn memory(tables: &AcpiTables) -> (Vec<u64>, BufferHandler) {
    let mut words = vec![0u64; tables.bytes.len().div_ceil(8)];
    let host = NonNull::new(words.as_mut_ptr().cast::<u8>()).unwrap();
    // SAFETY: `words` holds at least `bytes.len()` bytes and does not overlap `bytes`.
    unsafe {
        core::ptr::copy_nonoverlapping(tables.bytes.as_ptr(), host.as_ptr(), tables.bytes.len())
    };
    let handler = BufferHandler {
        base: tables.base as usize,
        host,
        len: tables.bytes.len(),
    };
    (words, handler)
}

fn pc_tables() -> AcpiTables {
    build(TABLES_BASE, &AcpiPlatform::PC).unwrap()
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap())
}

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(bytes[offset..offset + 8].try_into().unwrap())
}

/// The table whose guest-physical address is `address`, by its header's length.
fn table_at(tables: &AcpiTables, address: u64) -> &[u8] {
    let offset = (address - tables.base) as usize;
    let length = u32_at(&tables.bytes, offset + HEADER_LENGTH_OFFSET) as usize;
    &tables.bytes[offset..offset + length]
}

fn sums_to_zero(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |sum, &b| sum.wrapping_add(b)) == 0
}

/// The tables the XSDT lists, plus the DSDT the FADT names.
fn all_tables(tables: &AcpiTables) -> Vec<&[u8]> {
    let rsdp = &tables.bytes[..RSDP_LENGTH];
    let xsdt = table_at(tables, u64_at(rsdp, RSDP_XSDT_ADDRESS));
    let mut found = vec![xsdt];
    let (entries, _) = xsdt[HEADER_LENGTH..].as_chunks::<8>();
    for entry in entries {
        found.push(table_at(tables, u64::from_le_bytes(*entry)));
    }
    let fadt = found[1];
    found.push(table_at(tables, u64_at(fadt, FADT_X_DSDT)));
    found
}

#[test]
fn rsdp_has_both_checksums_and_finds_the_xsdt() {
    let tables = pc_tables();
    let rsdp = &tables.bytes[..RSDP_LENGTH];
    assert_eq!(&rsdp[..8], b"RSD PTR ");
    assert_eq!(rsdp[RSDP_REVISION_OFFSET], 2);
    assert!(sums_to_zero(&rsdp[..RSDP_V1_LENGTH]));
    assert!(sums_to_zero(rsdp));
    assert_eq!(u32_at(rsdp, RSDP_LENGTH_OFFSET), 36);
    let xsdt = table_at(&tables, u64_at(rsdp, RSDP_XSDT_ADDRESS));
    assert_eq!(&xsdt[..4], b"XSDT");
    assert_eq!(tables.rsdp, TABLES_BASE);
}

#[test]
fn every_table_checksums_to_zero_with_oem_ids_set() {
    let tables = pc_tables();
    let found = all_tables(&tables);
    let signatures: Vec<&[u8]> = found.iter().map(|t| &t[..4]).collect();
    assert_eq!(
        signatures,
        [&b"XSDT"[..], &b"FACP"[..], &b"APIC"[..], &b"DSDT"[..]]
    );
    for table in found {
        assert!(sums_to_zero(table), "{:?}", &table[..4]);
        assert_eq!(&table[HEADER_OEM_ID..HEADER_OEM_ID + 6], b"UHVISR");
        assert_eq!(
            &table[HEADER_OEM_TABLE_ID..HEADER_OEM_TABLE_ID + 8],
            b"UHVMACHN"
        );
    }
}

#[test]
fn rsdp_is_found_by_the_bios_area_search() {
    let tables = pc_tables();
    // The legacy search: 16-byte boundaries of 0xE0000–0xFFFFF, signature and checksum.
    let hit = (TABLES_BASE..RSDP_SEARCH_END)
        .step_by(16)
        .map(|gpa| (gpa, (gpa - tables.base) as usize))
        .take_while(|&(_, offset)| offset + RSDP_LENGTH <= tables.bytes.len())
        .find(|&(_, offset)| {
            let candidate = &tables.bytes[offset..offset + RSDP_LENGTH];
            &candidate[..8] == RSDP_SIGNATURE && sums_to_zero(&candidate[..RSDP_V1_LENGTH])
        });
    assert_eq!(hit.map(|(gpa, _)| gpa), Some(0xE_0000));
}

#[test]
fn madt_lists_lapic_0_ioapic_1_and_isa_overrides_0_to_2_and_sci_level() {
    let tables = pc_tables();
    let (_words, handler) = memory(&tables);
    // SAFETY: the handler maps the buffer holding the tables just built.
    let parsed = unsafe { Parsed::from_rsdp(handler, tables.rsdp as usize) }.unwrap();
    let madt = parsed.find_table::<Madt>().unwrap();
    assert!(madt.get().supports_8259());
    let platform = parsed.platform_info().unwrap();
    let InterruptModel::Apic(apic) = &platform.interrupt_model else {
        panic!("no APIC interrupt model");
    };
    assert_eq!(apic.local_apic_address, 0xFEE0_0000);
    assert!(apic.also_has_legacy_pics);
    assert_eq!(apic.io_apics.len(), 1);
    let io = &apic.io_apics[0];
    assert_eq!(
        (io.id, io.address, io.global_system_interrupt_base),
        (1, 0xFEC0_0000, 0)
    );
    let overrides: Vec<_> = apic
        .interrupt_source_overrides
        .iter()
        .map(|o| {
            (
                o.isa_source,
                o.global_system_interrupt,
                o.polarity,
                o.trigger_mode,
            )
        })
        .collect();
    assert_eq!(
        overrides,
        [
            (0, 2, Polarity::SameAsBus, TriggerMode::SameAsBus),
            (9, 9, Polarity::ActiveHigh, TriggerMode::Level),
        ]
    );
    let processors = platform.processor_info.unwrap();
    assert_eq!(processors.boot_processor.local_apic_id, 0);
    assert!(processors.application_processors.is_empty());
}

#[test]
fn fadt_is_revision_6_with_sci_9_boot_arch_and_cf9_reset() {
    let tables = pc_tables();
    let (_words, handler) = memory(&tables);
    // SAFETY: the handler maps the buffer holding the tables just built.
    let parsed = unsafe { Parsed::from_rsdp(handler, tables.rsdp as usize) }.unwrap();
    let fadt = parsed.find_table::<Fadt>().unwrap();
    let header = *fadt.header();
    assert_eq!({ header.revision }, 6);
    assert_eq!({ header.length }, 276);
    assert_eq!(header.oem_id, *b"UHVISR");
    assert_eq!({ fadt.sci_interrupt }, 9);
    let boot_arch = { fadt.iapc_boot_arch };
    assert!(boot_arch.legacy_devices_are_accessible());
    assert!(boot_arch.motherboard_implements_8042());
    let flags = { fadt.flags };
    assert!(flags.supports_system_reset_via_fadt());
    assert!(!flags.system_is_hw_reduced_acpi());
    let reset = fadt.reset_register().unwrap();
    assert_eq!(reset.address_space, AddressSpace::SystemIo);
    assert_eq!(reset.access_size, AccessSize::ByteAccess);
    assert_eq!((reset.address, reset.bit_width), (0xCF9, 8));
    assert_eq!({ fadt.reset_value }, 6);
}

#[test]
fn fadt_names_the_pm_models_event_control_and_timer_blocks() {
    let tables = pc_tables();
    let (_words, handler) = memory(&tables);
    // SAFETY: the handler maps the buffer holding the tables just built.
    let parsed = unsafe { Parsed::from_rsdp(handler, tables.rsdp as usize) }.unwrap();
    let fadt = parsed.find_table::<Fadt>().unwrap();
    let event = fadt.pm1a_event_block().unwrap();
    assert_eq!(event.address_space, AddressSpace::SystemIo);
    assert_eq!((event.address, event.bit_width), (0x600, 32));
    assert_eq!(event.access_size, AccessSize::WordAccess);
    let control = fadt.pm1a_control_block().unwrap();
    assert_eq!(control.address_space, AddressSpace::SystemIo);
    assert_eq!((control.address, control.bit_width), (0x604, 16));
    assert_eq!(control.access_size, AccessSize::WordAccess);
    let timer = fadt.pm_timer_block().unwrap().unwrap();
    assert_eq!(timer.address_space, AddressSpace::SystemIo);
    assert_eq!((timer.address, timer.bit_width), (0x608, 32));
    assert_eq!(timer.access_size, AccessSize::DWordAccess);
    let flags = { fadt.flags };
    assert!(!flags.pm_timer_is_32_bit(), "the model's timer has 24 bits");
    assert_eq!(fadt.pm1b_event_block().unwrap(), None);
    assert_eq!(fadt.pm1b_control_block().unwrap(), None);
    assert_eq!(fadt.gpe0_block().unwrap(), None);
    assert_eq!({ fadt.smi_cmd_port }, 0, "always in ACPI mode");
    assert_eq!({ fadt.worst_c2_latency }, 101, "no C2");
    assert_eq!({ fadt.worst_c3_latency }, 1001, "no C3");
    assert_eq!(
        [event.address, control.address, timer.address],
        [
            u64::from(devices::acpi_pm::PM1A_EVT_PORT),
            u64::from(devices::acpi_pm::PM1A_CNT_PORT),
            u64::from(devices::acpi_pm::PM_TMR_PORT),
        ]
    );
}

#[test]
fn fadt_32_bit_block_fields_and_lengths_agree_with_the_x_fields() {
    // ACPICA (tbfadt.c) warns on an address or length mismatch between the two.
    let fadt = fadt_bytes(&pc_tables());
    let fields = [
        (FADT_PM1A_EVT_BLK, FADT_PM1_EVT_LEN, FADT_X_PM1A_EVT_BLK),
        (FADT_PM1A_CNT_BLK, FADT_PM1_CNT_LEN, FADT_X_PM1A_CNT_BLK),
        (FADT_PM_TMR_BLK, FADT_PM_TMR_LEN, FADT_X_PM_TMR_BLK),
    ];
    let expected = [(0x600, 4), (0x604, 2), (0x608, 4)];
    for ((port_field, length_field, gas_field), (port, length)) in fields.into_iter().zip(expected)
    {
        assert_eq!(u32_at(&fadt, port_field), port);
        assert_eq!(fadt[length_field], length);
        assert_eq!(fadt[gas_field], GAS_SYSTEM_IO);
        assert_eq!(fadt[gas_field + 1], length * 8);
        assert_eq!(u64_at(&fadt, gas_field + 4), u64::from(port));
    }
    let lengths = [FADT_PM1_EVT_LEN, FADT_PM1_CNT_LEN, FADT_PM_TMR_LEN].map(|field| fadt[field]);
    assert_eq!(
        lengths,
        [
            devices::acpi_pm::PM1_EVT_LEN,
            devices::acpi_pm::PM1_CNT_LEN,
            devices::acpi_pm::PM_TMR_LEN,
        ]
    );
}

#[test]
fn dsdt_begins_with_the_s5_package_with_the_models_sleep_type() {
    let tables = pc_tables();
    let (_words, handler) = memory(&tables);
    // SAFETY: the handler maps the buffer holding the tables just built.
    let parsed = unsafe { Parsed::from_rsdp(handler, tables.rsdp as usize) }.unwrap();
    let dsdt = parsed.dsdt().unwrap();
    let dsdt_address = u64::from(u32_at(&fadt_bytes(&tables), FADT_DSDT));
    assert_eq!(dsdt.address as u64, dsdt_address + 36);
    // Name (\_S5, Package (0x04) { 0x05, Zero, Zero, Zero }), as iasl compiles it.
    let expected: [u8; 14] = [
        0x08, b'\\', b'_', b'S', b'5', b'_', 0x12, 0x07, 0x04, 0x0A, 0x05, 0x00, 0x00, 0x00,
    ];
    let aml = dsdt_aml(&tables);
    assert_eq!(dsdt.length as usize, aml.len());
    assert_eq!(&aml[..expected.len()], &expected);
    assert_eq!(expected[10], devices::acpi_pm::SLP_TYP_S5);
}

/// The DSDT's AML (after the header).
fn dsdt_aml(tables: &AcpiTables) -> Vec<u8> {
    let dsdt_address = u64_at(&fadt_bytes(tables), FADT_X_DSDT);
    table_at(tables, dsdt_address)[HEADER_LENGTH..].to_vec()
}

/// A PkgLength at `bytes[0..]`: (the length it encodes, the bytes it takes).
fn read_pkg_length(bytes: &[u8]) -> (usize, usize) {
    let following = usize::from(bytes[0] >> 6);
    if following == 0 {
        return (usize::from(bytes[0] & 0x3F), 1);
    }
    let mut length = usize::from(bytes[0] & 0x0F);
    for (index, &byte) in bytes[1..=following].iter().enumerate() {
        length |= usize::from(byte) << (4 + 8 * index);
    }
    (length, 1 + following)
}

/// An integer data object at `bytes[0..]`: (value, bytes it takes).
fn read_integer(bytes: &[u8]) -> (u64, usize) {
    let width = match bytes[0] {
        0x00 => return (0, 1),
        0x01 => return (1, 1),
        0x0A => 1,
        0x0B => 2,
        0x0C => 4,
        0x0E => 8,
        other => panic!("not an integer: {other:#04x}"),
    };
    let mut value = [0u8; 8];
    value[..width].copy_from_slice(&bytes[1..=width]);
    (u64::from_le_bytes(value), 1 + width)
}

/// The offset just past `Name (<name>,` in `aml` (the object's first byte).
fn named_object(aml: &[u8], name: &[u8; 4]) -> usize {
    let mut pattern = vec![0x08];
    pattern.extend_from_slice(name);
    let at = aml
        .windows(pattern.len())
        .position(|window| window == pattern.as_slice())
        .unwrap_or_else(|| panic!("no Name ({})", core::str::from_utf8(name).unwrap()));
    at + pattern.len()
}

#[test]
fn dsdt_scope_sb_holds_device_pci0_up_to_the_end_of_the_table() {
    let aml = dsdt_aml(&pc_tables());
    let scope = &aml[14..];
    assert_eq!(scope[0], 0x10, "ScopeOp");
    let (scope_length, used) = read_pkg_length(&scope[1..]);
    assert_eq!(1 + scope_length, scope.len(), "the scope runs to the end");
    assert_eq!(&scope[1 + used..1 + used + 5], b"\\_SB_");
    let device = &scope[1 + used + 5..];
    assert_eq!(&device[..2], [0x5B, 0x82], "DeviceOp");
    let (device_length, used) = read_pkg_length(&device[2..]);
    assert_eq!(2 + device_length, device.len());
    assert_eq!(&device[2 + used..2 + used + 4], b"PCI0");
}

#[test]
fn pci0_is_a_pnp0a03_root_bridge_for_segment_0_bus_0() {
    let aml = dsdt_aml(&pc_tables());
    // Name (_HID, EisaId ("PNP0A03")): DWordConst 0x030AD041.
    let hid = named_object(&aml, b"_HID");
    assert_eq!(&aml[hid..hid + 5], [0x0C, 0x41, 0xD0, 0x0A, 0x03]);
    for name in [b"_UID", b"_SEG", b"_BBN"] {
        let at = named_object(&aml, name);
        assert_eq!(read_integer(&aml[at..]), (0, 1), "{name:?}");
    }
    assert!(
        !aml.windows(5).any(|w| w == [0x0C, 0x41, 0xD0, 0x0A, 0x08]),
        "no PNP0A08 (PCI Express) anywhere: there is no ECAM"
    );
}

#[test]
fn pci0_crs_matches_iasl_for_the_bus_config_ports_io_and_memory_windows() {
    let aml = dsdt_aml(&pc_tables());
    let crs = named_object(&aml, b"_CRS");
    // iasl 20200925 for the ResourceTemplate in dsdt.rs's ASL.
    let expected: [u8; 115] = [
        0x11, 0x42, 0x07, 0x0A, 0x6E, // Buffer (0x6E)
        // WordBusNumber 0x0000–0x0000
        0x88, 0x0D, 0x00, 0x02, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        0x00, //
        // IO (Decode16, 0x0CF8, 0x0CF8, 0x01, 0x08)
        0x47, 0x01, 0xF8, 0x0C, 0xF8, 0x0C, 0x01, 0x08, //
        // WordIO 0x0000–0x0CF7
        0x88, 0x0D, 0x00, 0x01, 0x0C, 0x03, 0x00, 0x00, 0x00, 0x00, 0xF7, 0x0C, 0x00, 0x00, 0xF8,
        0x0C, //
        // WordIO 0x0D00–0xFFFF
        0x88, 0x0D, 0x00, 0x01, 0x0C, 0x03, 0x00, 0x00, 0x00, 0x0D, 0xFF, 0xFF, 0x00, 0x00, 0x00,
        0xF3, //
        // DWordMemory 0x000A0000–0x000BFFFF, Cacheable, ReadWrite
        0x87, 0x17, 0x00, 0x00, 0x0C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0A, 0x00, 0xFF,
        0xFF, 0x0B, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, //
        // DWordMemory 0xE0000000–0xFEAFFFFF, NonCacheable, ReadWrite
        0x87, 0x17, 0x00, 0x00, 0x0C, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xE0, 0xFF,
        0xFF, 0xAF, 0xFE, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xB0, 0x1E, //
        0x79, 0x00, // EndTag
    ];
    assert_eq!(&aml[crs..crs + expected.len()], &expected);
}

#[test]
fn pci0_mmio_window_avoids_ram_and_the_platform_devices() {
    let max_ram = u64::from(devices::vm_config::MAX_RAM_MIB) << 20;
    assert!(u64::from(dsdt::PCI_MMIO_FIRST) >= max_ram);
    let last = u64::from(dsdt::PCI_MMIO_LAST);
    assert!(last < devices::test_device::DEFAULT_BASE);
    assert!(last < devices::ioapic::DEFAULT_BASE);
    assert!(last < u64::from(AcpiPlatform::PC.io_apic_address));
    assert!(last < u64::from(AcpiPlatform::PC.local_apic_address));
    // The I/O windows leave out exactly the configuration ports 0xCF8–0xCFF.
    assert_eq!(dsdt::CONFIG_PORTS_FIRST, devices::bus::CONFIG_ADDRESS_PORT);
    assert_eq!(
        u16::from(dsdt::CONFIG_PORTS_COUNT),
        devices::bus::CONFIG_DATA_PORT + 4 - devices::bus::CONFIG_ADDRESS_PORT
    );
}

/// The `_PRT` package's entries: (Address, Pin, Source, Source Index).
fn prt_entries(aml: &[u8]) -> Vec<(u64, u64, u64, u64)> {
    let prt = named_object(aml, b"_PRT");
    assert_eq!(aml[prt], 0x12, "PackageOp");
    let (length, used) = read_pkg_length(&aml[prt + 1..]);
    let end = prt + 1 + length;
    let count = usize::from(aml[prt + 1 + used]);
    let mut at = prt + 2 + used;
    let mut entries = Vec::new();
    for _ in 0..count {
        assert_eq!(aml[at], 0x12, "an entry is a package");
        let (entry_length, used) = read_pkg_length(&aml[at + 1..]);
        let entry_end = at + 1 + entry_length;
        assert_eq!(aml[at + 1 + used], 4, "four elements");
        let mut field = at + 2 + used;
        let mut values = [0u64; 4];
        for value in &mut values {
            let (read, used) = read_integer(&aml[field..]);
            *value = read;
            field += used;
        }
        assert_eq!(field, entry_end);
        entries.push((values[0], values[1], values[2], values[3]));
        at = entry_end;
    }
    assert_eq!(at, end, "the package holds exactly its entries");
    entries
}

#[test]
fn pci0_prt_routes_every_slot_and_pin_to_the_swizzled_pirq_gsi() {
    let entries = prt_entries(&dsdt_aml(&pc_tables()));
    assert_eq!(entries.len(), 31 * 4, "slots 1-31, INTA-INTD");
    // Concrete spot checks: 00:01 INTA → PIRQB → 11; INTB → PIRQC → 10; 00:1F INTD → 10.
    assert_eq!(entries[0], (0x0001_FFFF, 0, 0, 11));
    assert_eq!(entries[1], (0x0001_FFFF, 1, 0, 10));
    assert_eq!(entries[4], (0x0002_FFFF, 0, 0, 10));
    assert_eq!(entries[123], (0x001F_FFFF, 3, 0, 10));
    let mut expected = Vec::new();
    for slot in 1u64..=31 {
        for pin in 0u64..4 {
            let line = devices::pci::DEFAULT_PIRQ_LINES[((slot + pin) % 4) as usize];
            expected.push(((slot << 16) | 0xFFFF, pin, 0, u64::from(line)));
        }
    }
    assert_eq!(entries, expected);
}

#[test]
fn pci0_prt_agrees_with_the_line_the_vmm_wires_each_virtio_function_to() {
    use devices::interface::Bdf;
    use devices::pci::{DEFAULT_PIRQ_LINES, InterruptPin, intx_line};
    let entries = prt_entries(&dsdt_aml(&pc_tables()));
    for slot in 1..=Bdf::MAX_DEVICE {
        let bdf = Bdf::new(0, slot, 0).unwrap();
        let line = intx_line(bdf, InterruptPin::IntA, DEFAULT_PIRQ_LINES).unwrap();
        let address = (u64::from(slot) << 16) | 0xFFFF;
        let entry = entries
            .iter()
            .find(|entry| entry.0 == address && entry.1 == 0)
            .unwrap();
        assert_eq!(entry.3, u64::from(line.0), "slot {slot}");
    }
}

#[test]
fn pci0_prt_follows_the_platforms_gsi_mapping() {
    let platform = AcpiPlatform {
        io_apic_gsi_base: 16,
        ..AcpiPlatform::PC
    };
    let routes = dsdt::prt_routes(&platform);
    assert_eq!(routes[0], (0x0001_FFFF, 0, 27));
    assert_eq!(platform.isa_gsi(0), 2, "the PIT keeps its override");
    assert_eq!(AcpiPlatform::PC.isa_gsi(11), 11);
}

#[test]
fn dsdt_checksums_with_the_larger_aml() {
    let tables = pc_tables();
    let dsdt_address = u64_at(&fadt_bytes(&tables), FADT_X_DSDT);
    let dsdt = table_at(&tables, dsdt_address);
    assert!(sums_to_zero(dsdt));
    assert!(dsdt.len() > 1024, "the _PRT makes it long: {}", dsdt.len());
    // The MADT follows it without overlap.
    let madt_address = u64_at(all_tables(&tables)[0], HEADER_LENGTH + 8);
    assert!(madt_address >= dsdt_address + dsdt.len() as u64);
}

fn fadt_bytes(tables: &AcpiTables) -> Vec<u8> {
    all_tables(tables)[1].to_vec()
}

#[test]
fn tables_follow_the_base_address() {
    let tables = build(0x10_0000, &AcpiPlatform::PC).unwrap();
    let rsdp = &tables.bytes[..RSDP_LENGTH];
    let xsdt = u64_at(rsdp, RSDP_XSDT_ADDRESS);
    assert_eq!(xsdt, 0x10_0000 + 0x30);
    let fadt = fadt_bytes(&tables);
    assert_eq!(
        u64_at(&fadt, FADT_X_DSDT),
        u64::from(u32_at(&fadt, FADT_DSDT))
    );
    assert!(u64_at(&fadt, FADT_X_DSDT) > xsdt);
}

#[test]
fn misaligned_or_high_bases_are_refused() {
    assert_eq!(
        build(0xE_0008, &AcpiPlatform::PC),
        Err(AcpiError::MisalignedBase { base: 0xE_0008 })
    );
    assert!(matches!(
        build(0xFFFF_FF00, &AcpiPlatform::PC),
        Err(AcpiError::AboveFourGiB { .. })
    ));
    assert!(matches!(
        build(u64::MAX - 15, &AcpiPlatform::PC),
        Err(AcpiError::AboveFourGiB { .. })
    ));
}
