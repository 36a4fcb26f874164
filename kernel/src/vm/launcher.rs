//! Running the VMs the command line names (`vms=a.elf,b.bin@0x7c00,c.bzimage`): one after
//! another (`vm_schedule=sequential`, the default: each is created, run to its end and torn
//! down before the next starts, so a VM that crashes is reported and the ones after it still
//! run) or all at once, time-sliced (`vm_schedule=together`). One line reports each VM's end,
//! followed by its exit statistics.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::exits::{CpuidOverride, CpuidResult};
use super::loader::{BootArguments, GuestImage};
use super::machine::DeviceSet;
use super::{Vm, VmEnd, VmSpec, scheduler};
use crate::bootfs::BootFiles;
use crate::exit::ExitStatus;
use devices::vm_config::{Guest, Machine, VmDesc};

/// Most VMs one command line may name.
pub const MAX_VMS: usize = 16;
/// Longest VM name (the file stem).
pub const MAX_NAME: usize = 32;
/// The kernel command line of a Linux VM without a `NAME.cmdline` file.
pub const DEFAULT_LINUX_CMDLINE: &str = "console=ttyS0";

/// What kind of image a `vms=` item names (from its extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// `NAME.elf`: a 64-bit ELF.
    Elf,
    /// `NAME.bin@ADDR`: a flat real-mode binary loaded at ADDR.
    RealMode { address: u64 },
    /// `NAME.bzimage`: a Linux kernel; the ramdisk members `NAME.initrd` (optional) and
    /// `NAME.cmdline` (optional, default [`DEFAULT_LINUX_CMDLINE`]) complete it.
    Linux,
}

/// One `vms=` item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmItem<'a> {
    pub name: &'a str,
    pub file: &'a str,
    pub kind: ItemKind,
}

/// Why a `vms=` list is unusable; the text names the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListError<'a> {
    TooMany,
    BadItem(&'a str),
}

/// Parse `a.elf,b.bin@0x7c00,c.bzimage`.
pub fn parse_list(list: &str) -> Result<Vec<VmItem<'_>>, ListError<'_>> {
    let mut items = Vec::new();
    for item in list.split(',').filter(|item| !item.is_empty()) {
        if items.len() == MAX_VMS {
            return Err(ListError::TooMany);
        }
        let (file, address) = match item.split_once('@') {
            Some((file, address)) => {
                let digits = address.strip_prefix("0x").ok_or(ListError::BadItem(item))?;
                let address =
                    u64::from_str_radix(digits, 16).map_err(|_| ListError::BadItem(item))?;
                (file, Some(address))
            }
            None => (item, None),
        };
        let (name, extension) = file.rsplit_once('.').ok_or(ListError::BadItem(item))?;
        if name.is_empty() || name.len() > MAX_NAME {
            return Err(ListError::BadItem(item));
        }
        let kind = match (extension, address) {
            ("elf", None) => ItemKind::Elf,
            ("bzimage", None) => ItemKind::Linux,
            ("bin", Some(address)) => ItemKind::RealMode { address },
            _ => return Err(ListError::BadItem(item)),
        };
        items.push(VmItem { name, file, kind });
    }
    Ok(items)
}

/// The image an item names, from the boot files.
fn image<'a>(item: &VmItem<'_>, files: &'a BootFiles) -> Result<GuestImage<'a>, String> {
    let bytes = files
        .file(item.file)
        .ok_or_else(|| format!("no file `{}` in the boot ramdisk", item.file))?;
    Ok(match item.kind {
        ItemKind::Elf => GuestImage::Elf64(bytes),
        ItemKind::RealMode { address } => GuestImage::RealMode { bytes, address },
        ItemKind::Linux => {
            let initrd = files.file(&format!("{}.initrd", item.name));
            let cmdline = files
                .file(&format!("{}.cmdline", item.name))
                .map(|text| {
                    core::str::from_utf8(text)
                        .map_err(|_| format!("{}.cmdline is not UTF-8", item.name))
                })
                .transpose()?
                .map_or(DEFAULT_LINUX_CMDLINE, str::trim);
            GuestImage::Linux {
                kernel: bytes,
                initrd,
                cmdline,
            }
        }
    })
}

/// What every VM of a launch gets.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub ram_bytes: u64,
    pub apic: bool,
    /// Generate ACPI tables for VMs with APICs (`vm_acpi=on`).
    pub acpi: bool,
    pub arguments: BootArguments,
}

fn create(
    item: &VmItem<'_>,
    index: usize,
    settings: &Settings,
    files: &BootFiles,
) -> Result<Vm, String> {
    let (ram_bytes, arguments) = (settings.ram_bytes, settings.arguments);
    let image = image(item, files)?;
    let spec = VmSpec {
        name: item.name,
        ram_bytes,
        image,
        vpid: (index + 1) as u16,
        apic: settings.apic,
        acpi: settings.acpi,
        devices: super::machine::DeviceSet::Default,
        cpuid_overrides: Vec::new(),
    };
    let vm = Vm::create(&spec, arguments).map_err(|error| format!("{error}"))?;
    log::info!("VM {}: created ({} MiB RAM)", item.name, ram_bytes >> 20);
    Ok(vm)
}

/// Create the VMs a configuration describes (`config=vms.cfg`, written by the host tool from
/// a TOML file) and run them time-sliced; success only if each ends cleanly.
pub fn run_machine(machine: &Machine, files: &BootFiles, arguments: BootArguments) -> ExitStatus {
    let mut vms = Vec::new();
    let mut all_started = true;
    for (index, desc) in machine.vms.iter().enumerate() {
        match create_described(desc, index, files, arguments) {
            Ok(vm) => vms.push(vm),
            Err(why) => {
                crate::println!("VM {}: not started: {why}", desc.name);
                all_started = false;
            }
        }
    }
    let summaries = scheduler::run_together(vms);
    scheduler::print_summary(&summaries);
    let all_passed = summaries.iter().all(|s| s.end.is_success());
    if all_started && all_passed {
        ExitStatus::Success
    } else {
        ExitStatus::VmFailed
    }
}

fn create_described(
    desc: &VmDesc,
    index: usize,
    files: &BootFiles,
    arguments: BootArguments,
) -> Result<Vm, String> {
    let file = |name: &str| {
        files
            .file(name)
            .ok_or_else(|| format!("no file `{name}` in the boot ramdisk"))
    };
    let image = match &desc.guest {
        Guest::Elf { file: name } => GuestImage::Elf64(file(name)?),
        Guest::RealMode {
            file: name,
            load_address,
        } => GuestImage::RealMode {
            bytes: file(name)?,
            address: u64::from(*load_address),
        },
        Guest::Linux {
            kernel,
            initrd,
            cmdline,
        } => GuestImage::Linux {
            kernel: file(kernel)?,
            initrd: initrd.as_deref().map(file).transpose()?,
            cmdline,
        },
    };
    let cpuid_overrides = desc
        .cpuid_overrides
        .iter()
        .map(|o| CpuidOverride {
            leaf: o.leaf,
            subleaf: o.subleaf,
            result: CpuidResult {
                eax: o.eax,
                ebx: o.ebx,
                ecx: o.ecx,
                edx: o.edx,
            },
        })
        .collect();
    let spec = VmSpec {
        name: &desc.name,
        ram_bytes: u64::from(desc.ram_mib) << 20,
        image,
        vpid: (index + 1) as u16,
        apic: desc.apic,
        acpi: desc.acpi,
        devices: DeviceSet::Configured {
            devices: &desc.devices,
            files,
        },
        cpuid_overrides,
    };
    let vm = Vm::create(&spec, arguments).map_err(|error| format!("{error}"))?;
    log::info!(
        "VM {}: created ({} MiB RAM, {} configured devices)",
        desc.name,
        desc.ram_mib,
        desc.devices.len()
    );
    Ok(vm)
}

/// Run every VM of `items` in turn; success only if each exits with status 0.
pub fn run_all(items: &[VmItem<'_>], settings: &Settings, files: &BootFiles) -> ExitStatus {
    let mut all_passed = true;
    for (index, item) in items.iter().enumerate() {
        let mut vm = match create(item, index, settings, files) {
            Ok(vm) => vm,
            Err(why) => {
                crate::println!("VM {}: not started: {why}", item.name);
                all_passed = false;
                continue;
            }
        };
        let end = match vm.vcpu.switch_in() {
            Ok(()) => vm.run(),
            Err(fail) => VmEnd::Stopped(format!("cannot load its VMCS: {fail}")),
        };
        scheduler::report_end(&vm, &end);
        all_passed &= end.is_success();
    }
    if all_passed {
        ExitStatus::Success
    } else {
        ExitStatus::VmFailed
    }
}

/// Create every VM of `items` and run them time-sliced on this CPU; success only if each
/// exits with status 0.
pub fn run_together(items: &[VmItem<'_>], settings: &Settings, files: &BootFiles) -> ExitStatus {
    let mut vms = Vec::new();
    let mut all_started = true;
    for (index, item) in items.iter().enumerate() {
        match create(item, index, settings, files) {
            Ok(vm) => vms.push(vm),
            Err(why) => {
                crate::println!("VM {}: not started: {why}", item.name);
                all_started = false;
            }
        }
    }
    let summaries = scheduler::run_together(vms);
    scheduler::print_summary(&summaries);
    let all_passed = summaries.iter().all(|s| s.end.is_success());
    if all_started && all_passed {
        ExitStatus::Success
    } else {
        ExitStatus::VmFailed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_name_elf_real_mode_and_linux_guests() {
        let items = parse_list("hello.elf,realmode.bin@0x7c00,debian.bzimage").unwrap();
        assert_eq!(
            items[0],
            VmItem {
                name: "hello",
                file: "hello.elf",
                kind: ItemKind::Elf
            }
        );
        assert_eq!(
            items[1],
            VmItem {
                name: "realmode",
                file: "realmode.bin",
                kind: ItemKind::RealMode { address: 0x7c00 }
            }
        );
        assert_eq!(
            items[2],
            VmItem {
                name: "debian",
                file: "debian.bzimage",
                kind: ItemKind::Linux
            }
        );
    }

    #[test]
    fn bad_items_are_named() {
        assert_eq!(parse_list("x.bin"), Err(ListError::BadItem("x.bin")));
        assert_eq!(
            parse_list("x.elf@0x100"),
            Err(ListError::BadItem("x.elf@0x100"))
        );
        assert_eq!(parse_list("noext"), Err(ListError::BadItem("noext")));
        assert_eq!(
            parse_list("a.bin@7c00"),
            Err(ListError::BadItem("a.bin@7c00"))
        );
        let many = "a.elf,".repeat(MAX_VMS + 1);
        assert_eq!(parse_list(&many), Err(ListError::TooMany));
    }
}
