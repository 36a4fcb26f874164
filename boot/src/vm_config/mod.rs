//! VM configuration files (issue 6): a human-written TOML file describing the VMs to run, read
//! and validated here, then carried to the kernel in the boot ramdisk in the compact form of
//! [`devices::vm_config`] (member `vms.cfg`, command line `config=vms.cfg`).
//!
//! - [`file`](mod@file): the file's shape (TOML v1.0 through `serde`, unknown keys refused); its module
//!   docs show every key.
//! - validation ([`validate`]): each VM ([`vm`]) and device ([`device`]) on its own, then the
//!   devices of a VM together and the host devices across VMs ([`placement`]). Every refusal is
//!   an [`Invalid`] naming the field path (`vm[1].device[0].base`) and a typed [`Problem`].
//! - [`guests`]: guest files, `builtin:NAME`, `debian:NAME` ([`debian`]) or paths relative to
//!   the configuration file's directory, each given one ramdisk member name; disk images of
//!   virtio-blk devices likewise, sized and checked against the hypervisor heap by [`disks`].
//!
//! # What is refused
//! Names that are not 1–32 of `A-Z a-z 0-9 _ -` or repeat; RAM that is odd or outside
//! 2..=2048 MiB; vCPU counts other than 1; `acpi` without `apic`; none or several guests, or a
//! guest file that does not exist; an unknown `builtin:` or `debian:` name; a real-mode image
//! outside 0x500..0xA0000; fields a device's kind, method or action
//! does not have, and missing ones it needs; a method that cannot build the kind; a host device
//! passed through or mediated to more than one device (host-backed sharing is allowed);
//! passthrough or mediation of host resources the hypervisor uses
//! ([`devices::vm_config::HYPERVISOR_OWNED`]: COM1, the PICs, PIT, CMOS, PCI configuration,
//! debug exit, APIC and HPET pages); passthrough or mediation whose guest resources differ from
//! the host's (they are mapped 1:1); overlapping resources within a VM (two devices, a device and
//! an always-present PC device, an MMIO device and RAM); an IRQ line used twice or used by the
//! PC devices; mediation rules outside the device's ports; CPUID overrides for the same leaf
//! twice or offering VMX; a PCI slot outside 1..=31 (0 is the host bridge) or taken twice in a
//! VM; a virtio device with a method other than emulated; a device on the ISA line (10 or 11)
//! a PCI device's INTx pin drives; a port device in the I/O window of a virtio device of its VM
//! (0xC000 + slot × 0x100, 256 ports, where the VMM puts the function's BAR0); with
//! `acpi = true`, a port device on the ACPI PM registers (0x600–0x605, 0x608–0x60B) or a device on
//! the SCI's line 9; a disk image that is missing, empty, not a whole number of
//! 512-byte sectors, over 1 GiB, named by `builtin:`/`debian:` or used twice; disks that together
//! need more than the largest hypervisor heap; more than the caps of
//! [`devices::vm_config::limits`].

pub mod debian;
pub mod describe;
pub mod device;
pub mod disks;
pub mod error;
pub mod file;
pub mod guests;
pub mod names;
pub mod placement;
pub mod vm;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests_devices;
#[cfg(test)]
mod tests_files;
#[cfg(test)]
mod tests_reserved;
#[cfg(test)]
mod tests_virtio;
#[cfg(test)]
mod tests_vms;

use std::path::{Path, PathBuf};

use devices::vm_config::{Machine, check_limits};

pub use disks::Disk;
pub use error::{ConfigError, Invalid, Problem};
pub use file::ConfigFile;
pub use guests::{BUILTIN_PREFIX, Builtins, GuestFiles};

/// The ramdisk members to pack: (member name, host path).
pub type GuestMembers = Vec<(String, PathBuf)>;

/// Parses the text of a configuration file; the error is the `toml` crate's message (it names
/// the line, the column and the key).
pub fn parse(text: &str) -> Result<ConfigFile, String> {
    toml::from_str(text).map_err(|error| error.to_string().trim_end().to_string())
}

/// Checks a parsed file whose guest paths are relative to `config_dir`; the machine and the
/// guest files to pack, or the first refusal.
pub fn validate(
    file: &ConfigFile,
    config_dir: &Path,
    builtins: &Builtins,
) -> Result<(Machine, GuestMembers), Invalid> {
    if file.vm.is_empty() {
        return Err(Invalid {
            field: "vm".to_string(),
            problem: Problem::NoVms,
        });
    }
    let mut files = GuestFiles::new(config_dir, builtins);
    let mut machine = Machine::default();
    for (index, entry) in file.vm.iter().enumerate() {
        let desc = vm::vm(index, entry, &mut files)?;
        if let Some(first) = machine.vms.iter().position(|other| other.name == desc.name) {
            return Err(Invalid {
                field: format!("vm[{index}].name"),
                problem: Problem::DuplicateName {
                    name: desc.name,
                    first: format!("vm[{first}]"),
                },
            });
        }
        machine.vms.push(desc);
    }
    placement::check_host_sharing(&machine)?;
    check_limits(&machine).map_err(|limit| Invalid {
        field: limit.path(),
        problem: Problem::Limit(limit),
    })?;
    let members = files.into_members();
    disks::check_heap(&disks::disks(&machine, &members))?;
    Ok((machine, members))
}

/// Reads, parses and validates the configuration file at `path` with the built-in guests Cargo
/// built; the machine and the guest files to pack into the ramdisk.
pub fn load_config(path: &Path) -> Result<(Machine, GuestMembers), ConfigError> {
    load_config_with(path, &Builtins::cargo())
}

/// [`load_config`] with built-in guests from `builtins`.
pub fn load_config_with(
    path: &Path,
    builtins: &Builtins,
) -> Result<(Machine, GuestMembers), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let file = parse(&text).map_err(|message| ConfigError::Parse {
        path: path.to_path_buf(),
        message,
    })?;
    let config_dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    validate(&file, config_dir, builtins).map_err(|invalid| ConfigError::Invalid {
        path: path.to_path_buf(),
        invalid: Box::new(invalid),
    })
}
