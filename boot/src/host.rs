//! The host machine: which emulator can run the hypervisor here, and whether the emulators and
//! firmware files are installed (installing them with `apt-get` when we may).
//!
//! The hypervisor needs VT-x. QEMU's TCG does not emulate VMX, so real VT-x needs KVM with
//! nested virtualisation (`kvm_intel` module parameter `nested`, see the Linux documentation
//! `virt/kvm/x86/running-nested-guests.rst`) on a CPU with the `vmx` flag. Without that, Bochs
//! (which emulates VT-x with EPT in software) is the only machine that runs it.

use std::env;
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use crate::config::{Emulator, Firmware};
use crate::error::BootError;

/// The KVM device node.
pub const KVM_DEVICE: &str = "/dev/kvm";
/// `kvm_intel`'s switch for nested VMX (`Y`/`N`, or `1`/`0` on older kernels).
pub const KVM_INTEL_NESTED: &str = "/sys/module/kvm_intel/parameters/nested";
/// The CPU feature list.
pub const CPUINFO: &str = "/proc/cpuinfo";
/// The CPU flag for VT-x in `/proc/cpuinfo`.
pub const VMX_FLAG: &str = "vmx";

/// QEMU for x86_64 guests.
pub const QEMU_PROGRAM: &str = "qemu-system-x86_64";
/// The Bochs emulator.
pub const BOCHS_PROGRAM: &str = "bochs";
/// Bochs' system BIOS.
pub const BOCHS_BIOS: &str = "/usr/share/bochs/BIOS-bochs-latest";
/// The Cirrus VGA BIOS: with it the bootloader's BIOS stage finds a usable VESA mode in Bochs.
pub const CIRRUS_VGA_BIOS: &str = "/usr/share/vgabios/vgabios.cirrus.bin";
/// OVMF, the UEFI firmware for QEMU, as one image for `-bios`.
pub const OVMF_IMAGE: &str = "/usr/share/ovmf/OVMF.fd";
/// Bochs' `term` display plugin (package `bochs-term`), in a multiarch library directory.
pub const BOCHS_TERM_PLUGIN: &str = "bochs/plugins/libbx_term_gui.so";
/// Library roots searched for [`BOCHS_TERM_PLUGIN`] (directly and one multiarch level down).
const LIBRARY_ROOTS: [&str; 2] = ["/usr/lib", "/usr/lib64"];

/// What the host offers for running a VT-x guest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostProbe {
    /// `/dev/kvm` can be opened for reading and writing.
    pub kvm_usable: bool,
    /// Contents of [`KVM_INTEL_NESTED`], if the file exists.
    pub kvm_intel_nested: Option<String>,
    /// `/proc/cpuinfo` lists the `vmx` flag.
    pub cpu_has_vmx: bool,
}

impl HostProbe {
    /// Looks at this machine.
    pub fn detect() -> Self {
        let kvm_usable = OpenOptions::new()
            .read(true)
            .write(true)
            .open(KVM_DEVICE)
            .is_ok();
        let kvm_intel_nested = fs::read_to_string(KVM_INTEL_NESTED).ok();
        let cpu_has_vmx = fs::read_to_string(CPUINFO)
            .map(|text| cpuinfo_has_vmx(&text))
            .unwrap_or(false);
        Self {
            kvm_usable,
            kvm_intel_nested,
            cpu_has_vmx,
        }
    }

    /// Whether KVM can give a guest VT-x: usable `/dev/kvm`, nested VMX on, `vmx` flag present.
    pub fn nested_vmx(&self) -> bool {
        let nested_on = self
            .kvm_intel_nested
            .as_deref()
            .is_some_and(|value| matches!(value.trim(), "Y" | "y" | "1"));
        self.kvm_usable && nested_on && self.cpu_has_vmx
    }

    /// The emulator `--emulator auto` picks: QEMU on KVM when it offers nested VT-x, else Bochs.
    pub fn pick_emulator(&self) -> Emulator {
        if self.nested_vmx() {
            Emulator::QemuKvm
        } else {
            Emulator::Bochs
        }
    }
}

/// Whether a `/proc/cpuinfo` text lists the `vmx` flag on a `flags` line.
pub fn cpuinfo_has_vmx(cpuinfo: &str) -> bool {
    cpuinfo.lines().any(|line| {
        line.split_once(':').is_some_and(|(key, value)| {
            key.trim() == "flags" && value.split_whitespace().any(|flag| flag == VMX_FLAG)
        })
    })
}

/// How a requirement is found on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// A program on `PATH`.
    Program(&'static str),
    /// A file at an absolute path.
    File(&'static str),
    /// A file below a library root (`/usr/lib`, `/usr/lib/<multiarch>`, ...).
    Library(&'static str),
}

/// One thing a run needs from the host, and the Debian package that provides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    /// How to find it.
    pub probe: Probe,
    /// The Debian package that installs it.
    pub package: &'static str,
}

impl Requirement {
    /// A short description for messages.
    pub fn describe(&self) -> String {
        match self.probe {
            Probe::Program(name) => format!("program `{name}` ({})", self.package),
            Probe::File(path) | Probe::Library(path) => format!("{path} ({})", self.package),
        }
    }

    /// Whether it is present on this machine.
    pub fn is_present(&self) -> bool {
        match self.probe {
            Probe::Program(name) => find_program(name).is_some(),
            Probe::File(path) => Path::new(path).is_file(),
            Probe::Library(relative) => find_library(relative).is_some(),
        }
    }
}

/// What a run with `emulator` and `firmware` needs from the host.
pub fn requirements(emulator: Emulator, firmware: Firmware) -> Vec<Requirement> {
    let mut needed = Vec::new();
    match emulator {
        Emulator::Qemu | Emulator::QemuKvm => {
            needed.push(Requirement {
                probe: Probe::Program(QEMU_PROGRAM),
                package: "qemu-system-x86",
            });
            if firmware == Firmware::Uefi {
                needed.push(Requirement {
                    probe: Probe::File(OVMF_IMAGE),
                    package: "ovmf",
                });
            }
        }
        Emulator::Bochs => {
            needed.push(Requirement {
                probe: Probe::Program(BOCHS_PROGRAM),
                package: "bochs",
            });
            needed.push(Requirement {
                probe: Probe::File(BOCHS_BIOS),
                package: "bochsbios",
            });
            needed.push(Requirement {
                probe: Probe::File(CIRRUS_VGA_BIOS),
                package: "vgabios",
            });
            needed.push(Requirement {
                probe: Probe::Library(BOCHS_TERM_PLUGIN),
                package: "bochs-term",
            });
        }
    }
    needed
}

/// The packages behind `missing`, each once, in order.
pub fn packages_of(missing: &[Requirement]) -> Vec<&'static str> {
    let mut packages: Vec<&'static str> = Vec::new();
    for requirement in missing {
        if !packages.contains(&requirement.package) {
            packages.push(requirement.package);
        }
    }
    packages
}

/// The shell command that installs `packages`, with `sudo` unless we are root.
pub fn install_command(packages: &[&str], is_root: bool) -> String {
    let sudo = if is_root { "" } else { "sudo " };
    format!(
        "{sudo}apt-get update && {sudo}apt-get install -y {}",
        packages.join(" ")
    )
}

/// Serialises installs: parallel test threads must not run apt-get at the same time.
static INSTALL_LOCK: Mutex<bool> = Mutex::new(false);

/// Makes sure everything a run needs is installed; installs missing Debian packages with apt-get
/// when apt-get exists and we are root, else fails with the command to run.
pub fn ensure_tools(emulator: Emulator, firmware: Firmware) -> Result<(), BootError> {
    ensure(&requirements(emulator, firmware))
}

/// Makes sure every requirement of `needed` is present, installing the missing ones' Debian
/// packages with apt-get when apt-get exists and we are root, else fails with the command to
/// run (tests use it for the host programs they need, e.g. e2fsprogs).
pub fn ensure(needed: &[Requirement]) -> Result<(), BootError> {
    if needed.iter().all(Requirement::is_present) {
        return Ok(());
    }
    // A poisoned lock only means another thread panicked while installing: go on.
    let mut updated = INSTALL_LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let missing: Vec<Requirement> = needed.iter().copied().filter(|r| !r.is_present()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let packages = packages_of(&missing);
    let is_root = rustix::process::geteuid().is_root();
    if is_root && find_program("apt-get").is_some() {
        if !*updated {
            apt_get(&["update"])?;
            *updated = true;
        }
        let mut args = vec!["install", "-y", "--no-install-recommends"];
        args.extend(packages.iter().copied());
        apt_get(&args)?;
    }
    let still_missing: Vec<Requirement> = missing.into_iter().filter(|r| !r.is_present()).collect();
    if still_missing.is_empty() {
        return Ok(());
    }
    Err(BootError::MissingTools {
        missing: still_missing
            .iter()
            .map(Requirement::describe)
            .collect::<Vec<_>>()
            .join(", "),
        command: install_command(&packages_of(&still_missing), is_root),
    })
}

/// Runs `apt-get ARGS` non-interactively, its output on our stderr.
fn apt_get(args: &[&str]) -> Result<(), BootError> {
    let command = format!("apt-get {}", args.join(" "));
    eprintln!("boot: running `{command}`");
    let status = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .stdout(std::io::stderr())
        .status()
        .map_err(|source| BootError::Spawn {
            program: "apt-get".into(),
            source,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(BootError::InstallFailed {
            command,
            status: status.to_string(),
        })
    }
}

/// The full path of `name` found on `PATH`.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// `relative` below a library root or a multiarch directory inside one.
fn find_library(relative: &str) -> Option<PathBuf> {
    for root in LIBRARY_ROOTS.map(Path::new) {
        let direct = root.join(relative);
        if direct.is_file() {
            return Some(direct);
        }
        let Ok(entries) = fs::read_dir(root) else {
            continue;
        };
        for entry in entries.flatten() {
            let candidate = entry.path().join(relative);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPUINFO_WITH_VMX: &str = "processor\t: 0\nflags\t\t: fpu vme de pse vmx sse2\n";
    const CPUINFO_WITHOUT_VMX: &str = "processor\t: 0\nflags\t\t: fpu vme svm vmxx\nbugs\t: vmx\n";

    fn probe(kvm_usable: bool, nested: Option<&str>, cpu_has_vmx: bool) -> HostProbe {
        HostProbe {
            kvm_usable,
            kvm_intel_nested: nested.map(str::to_owned),
            cpu_has_vmx,
        }
    }

    #[test]
    fn cpuinfo_vmx_flag_is_found_only_on_flags_lines() {
        assert!(cpuinfo_has_vmx(CPUINFO_WITH_VMX));
        assert!(!cpuinfo_has_vmx(CPUINFO_WITHOUT_VMX));
    }

    #[test]
    fn auto_picks_kvm_with_nested_vmx() {
        assert_eq!(
            probe(true, Some("Y\n"), true).pick_emulator(),
            Emulator::QemuKvm
        );
        assert_eq!(
            probe(true, Some("1\n"), true).pick_emulator(),
            Emulator::QemuKvm
        );
    }

    #[test]
    fn auto_picks_bochs_when_kvm_cannot_nest() {
        // The project's machines: /dev/kvm exists, but no kvm_intel module and no vmx flag.
        assert_eq!(probe(true, None, false).pick_emulator(), Emulator::Bochs);
        assert_eq!(
            probe(true, Some("N\n"), true).pick_emulator(),
            Emulator::Bochs
        );
        assert_eq!(
            probe(false, Some("Y\n"), true).pick_emulator(),
            Emulator::Bochs
        );
        assert_eq!(
            probe(true, Some("Y\n"), false).pick_emulator(),
            Emulator::Bochs
        );
    }

    #[test]
    fn qemu_uefi_needs_ovmf_but_bios_does_not() {
        let bios = requirements(Emulator::Qemu, Firmware::Bios);
        let uefi = requirements(Emulator::QemuKvm, Firmware::Uefi);
        assert_eq!(packages_of(&bios), vec!["qemu-system-x86"]);
        assert_eq!(packages_of(&uefi), vec!["qemu-system-x86", "ovmf"]);
    }

    #[test]
    fn bochs_needs_bios_vgabios_and_term_plugin() {
        let needed = requirements(Emulator::Bochs, Firmware::Bios);
        assert_eq!(
            packages_of(&needed),
            vec!["bochs", "bochsbios", "vgabios", "bochs-term"]
        );
    }

    #[test]
    fn install_command_uses_sudo_unless_root() {
        assert_eq!(
            install_command(&["bochs", "vgabios"], false),
            "sudo apt-get update && sudo apt-get install -y bochs vgabios"
        );
        assert_eq!(
            install_command(&["ovmf"], true),
            "apt-get update && apt-get install -y ovmf"
        );
    }

    #[test]
    fn packages_are_listed_once() {
        let twice = [
            Requirement {
                probe: Probe::Program("a"),
                package: "p",
            },
            Requirement {
                probe: Probe::File("/b"),
                package: "p",
            },
        ];
        assert_eq!(packages_of(&twice), vec!["p"]);
    }
}
