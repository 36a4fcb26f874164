//! One `[[vm]]` table into a [`VmDesc`]: name, RAM, vCPUs, the APIC and ACPI switches (ACPI
//! needs the APICs its MADT describes), exactly one guest (its files resolved), its devices (each
//! checked by [`super::device`], then together by [`super::placement`]) and its CPUID overrides.

use devices::vm_config::{
    CpuidOverride, Guest, MAX_RAM_MIB, MIN_RAM_MIB, RAM_GRANULE_MIB, REAL_MODE_END,
    REAL_MODE_LOWEST, SUPPORTED_VCPUS, VmDesc,
};

use super::device::{DevicePath, device};
use super::error::{Invalid, Problem};
use super::file::{CpuidEntry, RealModeEntry, VmEntry};
use super::guests::GuestFiles;
use super::names::check_name;
use super::placement::check_vm;

/// CPUID leaf 1: feature information.
const CPUID_FEATURES: u32 = 1;
/// CPUID.1:ECX bit 5: VMX (SDM vol. 2A, CPUID, table 3-10).
const CPUID_1_ECX_VMX: u32 = 1 << 5;
/// Bytes in a MiB.
const MIB: u64 = 1 << 20;

/// Where the VM is in the file: `vm[index]`.
fn field(index: usize, name: &str) -> String {
    format!("vm[{index}].{name}")
}

fn invalid(index: usize, name: &str, problem: Problem) -> Invalid {
    Invalid {
        field: field(index, name),
        problem,
    }
}

/// Refuses none or several of `elf`, `realmode`, `linux`.
fn guest_count(index: usize, entry: &VmEntry) -> Invalid {
    let given: Vec<&str> = [
        ("elf", entry.elf.is_some()),
        ("realmode", entry.realmode.is_some()),
        ("linux", entry.linux.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, present)| present.then_some(name))
    .collect();
    let found = if given.is_empty() {
        "none".to_string()
    } else {
        given.join(" and ")
    };
    Invalid {
        field: format!("vm[{index}]"),
        problem: Problem::GuestCount { found },
    }
}

/// A real-mode guest: loaded inside conventional memory and RAM.
fn real_mode(
    index: usize,
    entry: &VmEntry,
    realmode: &RealModeEntry,
    files: &mut GuestFiles<'_>,
) -> Result<Guest, Invalid> {
    let address = realmode.load_address;
    if !(REAL_MODE_LOWEST..REAL_MODE_END).contains(&address) {
        return Err(invalid(
            index,
            "realmode.load_address",
            Problem::RealModeAddress {
                address,
                lowest: REAL_MODE_LOWEST,
                end: REAL_MODE_END,
            },
        ));
    }
    let (file, path) = files.add(&field(index, "realmode.file"), &realmode.file)?;
    let size = std::fs::metadata(&path).map_or(0, |metadata| metadata.len());
    let end = u64::from(REAL_MODE_END).min(u64::from(entry.ram_mib).saturating_mul(MIB));
    if u64::from(address).saturating_add(size) > end {
        return Err(invalid(
            index,
            "realmode.file",
            Problem::RealModeTooBig { size, address, end },
        ));
    }
    Ok(Guest::RealMode {
        file,
        load_address: address,
    })
}

/// The one guest of the entry, its files added to `files`.
fn guest(index: usize, entry: &VmEntry, files: &mut GuestFiles<'_>) -> Result<Guest, Invalid> {
    match (&entry.elf, &entry.realmode, &entry.linux) {
        (Some(elf), None, None) => {
            let (file, _) = files.add(&field(index, "elf"), elf)?;
            Ok(Guest::Elf { file })
        }
        (None, Some(realmode), None) => real_mode(index, entry, realmode, files),
        (None, None, Some(linux)) => {
            let (kernel, _) = files.add(&field(index, "linux.kernel"), &linux.kernel)?;
            let initrd = match &linux.initrd {
                Some(initrd) => Some(files.add(&field(index, "linux.initrd"), initrd)?.0),
                None => None,
            };
            Ok(Guest::Linux {
                kernel,
                initrd,
                cmdline: linux.cmdline.clone(),
            })
        }
        _ => Err(guest_count(index, entry)),
    }
}

/// The CPUID overrides, none shadowing another and none offering VMX.
fn cpuid(index: usize, entries: &[CpuidEntry]) -> Result<Vec<CpuidOverride>, Invalid> {
    let mut overrides: Vec<CpuidOverride> = Vec::with_capacity(entries.len());
    for (number, entry) in entries.iter().enumerate() {
        let at = |name: &str| field(index, &format!("cpuid[{number}]{name}"));
        if entry.leaf == CPUID_FEATURES && entry.ecx & CPUID_1_ECX_VMX != 0 {
            return Err(Invalid {
                field: at(".ecx"),
                problem: Problem::CpuidVmx,
            });
        }
        if let Some(first) = overrides.iter().position(|earlier| {
            earlier.leaf == entry.leaf
                && (earlier.subleaf.is_none() || earlier.subleaf == entry.subleaf)
        }) {
            return Err(Invalid {
                field: at(""),
                problem: Problem::DuplicateCpuid {
                    leaf: entry.leaf,
                    subleaf: entry
                        .subleaf
                        .map_or_else(|| "any".to_string(), |subleaf| subleaf.to_string()),
                    first: field(index, &format!("cpuid[{first}]")),
                },
            });
        }
        overrides.push(CpuidOverride {
            leaf: entry.leaf,
            subleaf: entry.subleaf,
            eax: entry.eax,
            ebx: entry.ebx,
            ecx: entry.ecx,
            edx: entry.edx,
        });
    }
    Ok(overrides)
}

/// The VM entry `index` describes, its guest files added to `files`.
pub fn vm(index: usize, entry: &VmEntry, files: &mut GuestFiles<'_>) -> Result<VmDesc, Invalid> {
    check_name(&entry.name).map_err(|problem| invalid(index, "name", problem))?;
    if !(MIN_RAM_MIB..=MAX_RAM_MIB).contains(&entry.ram_mib)
        || !entry.ram_mib.is_multiple_of(RAM_GRANULE_MIB)
    {
        return Err(invalid(index, "ram_mib", Problem::BadRam(entry.ram_mib)));
    }
    if entry.vcpus != SUPPORTED_VCPUS {
        return Err(invalid(
            index,
            "vcpus",
            Problem::UnsupportedVcpus(entry.vcpus),
        ));
    }
    if entry.acpi && !entry.apic {
        return Err(invalid(index, "acpi", Problem::AcpiNeedsApic));
    }
    let guest = guest(index, entry, files)?;
    let placed = entry
        .device
        .iter()
        .enumerate()
        .map(|(number, device_entry)| {
            device(
                DevicePath {
                    vm: index,
                    index: number,
                },
                device_entry,
                files,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    check_vm(index, entry.ram_mib, entry.acpi, &placed)?;
    Ok(VmDesc {
        name: entry.name.clone(),
        ram_mib: entry.ram_mib,
        vcpus: entry.vcpus,
        apic: entry.apic,
        acpi: entry.acpi,
        guest,
        devices: placed.into_iter().map(|(desc, _)| desc).collect(),
        cpuid_overrides: cpuid(index, &entry.cpuid)?,
    })
}
