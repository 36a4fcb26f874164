//! Running the VMs the command line names (`vms=a.elf,b.bin@0x7c00`), one after another:
//! each is created, run to its end and torn down before the next starts, so a VM that crashes
//! is reported and the ones after it still run. One line reports each VM's end, followed by its
//! exit statistics.

use alloc::vec::Vec;

use super::loader::{BootArguments, GuestImage};
use super::{Vm, VmEnd, VmSpec, scheduler};
use crate::bootfs::BootFiles;
use crate::exit::ExitStatus;

/// Most VMs one command line may name.
pub const MAX_VMS: usize = 16;
/// Longest VM name (the file stem).
pub const MAX_NAME: usize = 32;

/// One `vms=` item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmItem<'a> {
    pub name: &'a str,
    pub file: &'a str,
    /// Where a flat real-mode binary goes; `None` for an ELF.
    pub real_mode_address: Option<u64>,
}

/// Why a `vms=` list is unusable; the text names the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListError<'a> {
    TooMany,
    BadItem(&'a str),
}

/// Parse `a.elf,b.bin@0x7c00`: `.elf` files are long-mode ELF guests, `.bin@ADDRESS` flat
/// real-mode binaries.
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
        let valid = !name.is_empty() && name.len() <= MAX_NAME;
        match (extension, address) {
            ("elf", None) | ("bin", Some(_)) if valid => {}
            _ => return Err(ListError::BadItem(item)),
        }
        items.push(VmItem {
            name,
            file,
            real_mode_address: address,
        });
    }
    Ok(items)
}

/// Create every VM of `items` and run them time-sliced on this CPU; success only if each
/// exits with status 0.
pub fn run_together(
    items: &[VmItem<'_>],
    ram_bytes: u64,
    files: &BootFiles,
    arguments: BootArguments,
) -> ExitStatus {
    let mut vms = Vec::new();
    let mut all_started = true;
    for (index, item) in items.iter().enumerate() {
        match create(item, index, ram_bytes, files, arguments) {
            Ok(vm) => vms.push(vm),
            Err(why) => {
                crate::println!("VM {}: not started: {why}", item.name);
                all_started = false;
            }
        }
    }
    let summaries = scheduler::run_together(vms);
    scheduler::print_summary(&summaries);
    let all_passed = summaries
        .iter()
        .all(|s| s.end == VmEnd::Exited { status: 0 });
    if all_started && all_passed {
        ExitStatus::Success
    } else {
        ExitStatus::VmFailed
    }
}

fn create(
    item: &VmItem<'_>,
    index: usize,
    ram_bytes: u64,
    files: &BootFiles,
    arguments: BootArguments,
) -> Result<Vm, alloc::string::String> {
    let bytes = files
        .file(item.file)
        .ok_or_else(|| alloc::format!("no file `{}` in the boot ramdisk", item.file))?;
    let image = match item.real_mode_address {
        Some(address) => GuestImage::RealMode { bytes, address },
        None => GuestImage::Elf64(bytes),
    };
    let spec = VmSpec {
        name: item.name,
        ram_bytes,
        image,
        vpid: (index + 1) as u16,
    };
    let vm = Vm::create(&spec, arguments).map_err(|error| alloc::format!("{error}"))?;
    log::info!(
        "VM {}: created ({} MiB RAM, {} bytes of image)",
        item.name,
        ram_bytes >> 20,
        bytes.len()
    );
    Ok(vm)
}

/// Run every VM of `items`; success only if each exits with status 0.
pub fn run_all(
    items: &[VmItem<'_>],
    ram_bytes: u64,
    files: &BootFiles,
    arguments: BootArguments,
) -> ExitStatus {
    let mut all_passed = true;
    for (index, item) in items.iter().enumerate() {
        let Some(bytes) = files.file(item.file) else {
            crate::println!(
                "VM {}: not started: no file `{}` in the boot ramdisk",
                item.name,
                item.file
            );
            all_passed = false;
            continue;
        };
        let image = match item.real_mode_address {
            Some(address) => GuestImage::RealMode { bytes, address },
            None => GuestImage::Elf64(bytes),
        };
        let spec = VmSpec {
            name: item.name,
            ram_bytes,
            image,
            vpid: (index + 1) as u16,
        };
        let mut vm = match Vm::create(&spec, arguments) {
            Ok(vm) => vm,
            Err(error) => {
                crate::println!("VM {}: not started: {error}", item.name);
                all_passed = false;
                continue;
            }
        };
        log::info!(
            "VM {}: started ({} MiB RAM, {} bytes of image)",
            item.name,
            ram_bytes >> 20,
            bytes.len()
        );
        let end = match vm.vcpu.switch_in() {
            Ok(()) => vm.run(),
            Err(fail) => VmEnd::Stopped(alloc::format!("cannot load its VMCS: {fail}")),
        };
        scheduler::report_end(&vm, &end);
        all_passed &= end == VmEnd::Exited { status: 0 };
    }
    if all_passed {
        ExitStatus::Success
    } else {
        ExitStatus::VmFailed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_name_elf_and_real_mode_guests() {
        let items = parse_list("hello.elf,realmode.bin@0x7c00").unwrap();
        assert_eq!(
            items[0],
            VmItem {
                name: "hello",
                file: "hello.elf",
                real_mode_address: None
            }
        );
        assert_eq!(
            items[1],
            VmItem {
                name: "realmode",
                file: "realmode.bin",
                real_mode_address: Some(0x7c00)
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
