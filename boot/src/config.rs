//! What a run looks like: the emulator, the firmware, the machine size and the kernel command line.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use devices::vm_config;

use crate::disk_writeback::WriteBackTarget;
use crate::vm_config::ConfigError;
use crate::vm_config::disks::{self, DISK_DUMP_KEY, DISK_DUMP_ON, HEAP_KEY};

/// Guest memory when nothing else is asked for, in MiB.
pub const DEFAULT_MEMORY_MIB: u32 = 256;
/// Virtual CPUs when nothing else is asked for.
pub const DEFAULT_CPUS: u32 = 1;
/// Wall-clock limit of one run when nothing else is asked for.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Machine memory the hypervisor needs besides its heap, the ramdisk and the VMs' RAM, in MiB:
/// firmware areas, the kernel image, the bootloader's page tables, the frame bitmap, stacks,
/// VMCS and EPT pages (an estimate with room to spare; a 256 MiB Bochs machine reports
/// 252 MiB of usable frames).
pub const KERNEL_RESERVE_MIB: u64 = 16;

/// The kernel ELF built for `x86_64-unknown-none` by Cargo's artifact dependency.
pub const KERNEL_PATH: &str = env!("CARGO_BIN_FILE_KERNEL_kernel");

/// A built test guest (`tests/guests`, bin `hello`); its folder holds every guest that
/// configurations name as `builtin:NAME`.
pub const DEMO_GUEST_PATH: &str = env!("CARGO_BIN_FILE_GUESTS_hello");
/// The demo configuration `cargo run` boots when nothing else is asked for: two VMs.
pub const DEMO_CONFIG_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/demo.toml");
/// The configuration `cargo run -- --linux` boots: Debian's kernel with a busybox shell
/// initramfs (`debian:kernel`, `debian:shell-initramfs`) as VM `debian`.
pub const LINUX_CONFIG_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/linux.toml");

/// Which machine runs the hypervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Emulator {
    /// QEMU with its TCG interpreter (`-cpu max`); has no VMX, so it checks boot paths only.
    Qemu,
    /// QEMU on KVM (`-accel kvm -cpu host`); needs nested VT-x on the host.
    QemuKvm,
    /// Bochs 2.7, which emulates VT-x with EPT in software; BIOS firmware only.
    Bochs,
}

impl Emulator {
    /// The name used on the command line and in messages.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Qemu => "qemu",
            Self::QemuKvm => "qemu-kvm",
            Self::Bochs => "bochs",
        }
    }
}

impl fmt::Display for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which firmware loads the bootloader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Firmware {
    /// Legacy PC BIOS (SeaBIOS under QEMU, the Bochs BIOS under Bochs): MBR disk image.
    Bios,
    /// UEFI (OVMF under QEMU): GPT disk image with an EFI system partition.
    Uefi,
}

impl Firmware {
    /// The name used in messages (`"BIOS"` / `"UEFI"`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Bios => "BIOS",
            Self::Uefi => "UEFI",
        }
    }
}

impl fmt::Display for Firmware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything one run needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunConfig {
    /// The emulator.
    pub emulator: Emulator,
    /// The firmware (Bochs supports [`Firmware::Bios`] only).
    pub firmware: Firmware,
    /// Guest RAM in MiB.
    pub memory_mib: u32,
    /// Number of virtual CPUs.
    pub cpus: u32,
    /// Wall-clock limit; the emulator is killed when it is exceeded.
    pub timeout: Duration,
    /// The kernel's command line, written as UTF-8 text into the bootloader's ramdisk
    /// (e.g. `test=exceptions timer_hz=1000`). Empty means no ramdisk at all.
    pub cmdline: String,
    /// Where COM2's output goes, if anywhere.
    pub com2_file: Option<PathBuf>,
    /// Copy COM1 to this process's stdout while the guest runs.
    pub stream: bool,
    /// The kernel ELF to boot (defaults to [`KERNEL_PATH`]).
    pub kernel: PathBuf,
    /// Files put into the ramdisk next to the command line, by name (guest images).
    pub files: Vec<(String, PathBuf)>,
    /// The encoded VM configuration (`devices::vm_config`), packed as ramdisk member
    /// `vms.cfg`; set by [`RunConfig::with_vm_config`].
    pub vm_config: Option<Vec<u8>>,
    /// The disk images of the configuration's virtio-blk devices, which the guests' writes go
    /// back into after the run ([`crate::disk_writeback`]); set by
    /// [`RunConfig::with_vm_config`].
    pub write_back: Vec<WriteBackTarget>,
}

impl RunConfig {
    /// A run on `emulator` with BIOS firmware, default machine size, default timeout, empty
    /// command line, no COM2, no streaming, and the built-in kernel.
    pub fn new(emulator: Emulator) -> Self {
        Self {
            emulator,
            firmware: Firmware::Bios,
            memory_mib: DEFAULT_MEMORY_MIB,
            cpus: DEFAULT_CPUS,
            timeout: DEFAULT_TIMEOUT,
            cmdline: String::new(),
            com2_file: None,
            stream: false,
            kernel: PathBuf::from(KERNEL_PATH),
            files: Vec::new(),
            vm_config: None,
            write_back: Vec::new(),
        }
    }

    /// Adds a file to the ramdisk under `name` (builder style).
    pub fn with_file(mut self, name: &str, path: impl Into<PathBuf>) -> Self {
        self.files.push((name.to_string(), path.into()));
        self
    }

    /// The ramdisk this run boots with.
    pub fn ramdisk(&self) -> crate::ramdisk::Ramdisk {
        crate::ramdisk::Ramdisk {
            cmdline: self.cmdline.clone(),
            files: self.files.clone(),
            blobs: self
                .vm_config
                .iter()
                .map(|bytes| (vm_config::RAMDISK_MEMBER.to_string(), bytes.clone()))
                .collect(),
        }
    }

    /// Runs the VMs of the configuration file at `path` (see [`crate::vm_config`]): validates
    /// it, packs its guest files and disk images and the encoded configuration (`vms.cfg`) into
    /// the ramdisk and adds `config=vms.cfg` to the command line (builder style). With disks,
    /// the disks become write-back targets and the command line gets
    /// `heap_mib=<16 + disks in MiB + 4>` (the kernel keeps the disks in its heap) unless it
    /// sets `heap_mib` already, in which case a heap smaller than that is refused
    /// ([`ConfigError::HeapTooSmall`]), and `disk_dump=on` (the kernel prints what the guests
    /// wrote only when asked) unless it sets `disk_dump` already.
    pub fn with_vm_config(mut self, path: &Path) -> Result<Self, ConfigError> {
        let (machine, files) = crate::vm_config::load_config(path)?;
        let bytes = vm_config::encode(&machine).map_err(|source| ConfigError::Encode {
            path: path.to_path_buf(),
            source,
        })?;
        let disks = disks::disks(&machine, &files);
        let mut options = Vec::new();
        if let Some(heap) = disks::heap_mib(&disks) {
            if !disks::sets_heap(&self.cmdline) {
                options.push(format!("{HEAP_KEY}={heap}"));
            } else if disks::heap_on(&self.cmdline) < heap {
                return Err(ConfigError::HeapTooSmall {
                    path: path.to_path_buf(),
                    given: disks::heap_on(&self.cmdline),
                    needed: heap,
                    disks: disks::mib_rounded_up(disks.iter().map(|disk| disk.bytes).sum()),
                });
            }
            if !disks::sets_key(&self.cmdline, DISK_DUMP_KEY) {
                options.push(format!("{DISK_DUMP_KEY}={DISK_DUMP_ON}"));
            }
        }
        self.files.extend(files);
        self.vm_config = Some(bytes);
        options.push(format!(
            "{}={}",
            vm_config::CMDLINE_KEY,
            vm_config::RAMDISK_MEMBER
        ));
        self.write_back
            .extend(disks.into_iter().map(|disk| WriteBackTarget {
                vm: disk.vm,
                device: disk.device,
                path: disk.path,
            }));
        let added = options.join(" ");
        self.cmdline = if self.cmdline.trim().is_empty() {
            added
        } else {
            format!("{} {added}", self.cmdline.trim_end())
        };
        Ok(self)
    }

    /// The least machine memory the hypervisor needs for this run, in MiB, as far as the host
    /// can tell: the VMs' RAM, the heap the command line asks for, the ramdisk (the bootloader
    /// loads it and the kernel reads guest images and disks from it in place) and
    /// [`KERNEL_RESERVE_MIB`]. `None` without a VM configuration.
    pub fn memory_needed_mib(&self) -> Option<u64> {
        let machine = vm_config::decode(self.vm_config.as_deref()?).ok()?;
        let ram: u64 = machine.vms.iter().map(|vm| u64::from(vm.ram_mib)).sum();
        let ramdisk_bytes: u64 = self
            .files
            .iter()
            .map(|(_, path)| std::fs::metadata(path).map_or(0, |metadata| metadata.len()))
            .sum();
        Some(
            ram + disks::heap_on(&self.cmdline)
                + disks::mib_rounded_up(ramdisk_bytes)
                + KERNEL_RESERVE_MIB,
        )
    }

    /// Sets the kernel command line (builder style).
    pub fn with_cmdline(mut self, cmdline: impl Into<String>) -> Self {
        self.cmdline = cmdline.into();
        self
    }

    /// Sets the firmware (builder style).
    pub fn with_firmware(mut self, firmware: Firmware) -> Self {
        self.firmware = firmware;
        self
    }

    /// Sets the number of virtual CPUs (builder style).
    pub fn with_cpus(mut self, cpus: u32) -> Self {
        self.cpus = cpus;
        self
    }

    /// Sets the guest memory in MiB (builder style).
    pub fn with_memory_mib(mut self, memory_mib: u32) -> Self {
        self.memory_mib = memory_mib;
        self
    }

    /// Sets where COM2's output goes (builder style).
    pub fn with_com2_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.com2_file = Some(path.into());
        self
    }

    /// Sets whether COM1 is copied to stdout while the guest runs (builder style).
    pub fn with_stream(mut self, stream: bool) -> Self {
        self.stream = stream;
        self
    }

    /// Sets the timeout (builder style).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_config_has_documented_defaults() {
        let config = RunConfig::new(Emulator::Bochs);
        assert_eq!(config.firmware, Firmware::Bios);
        assert_eq!(config.memory_mib, 256);
        assert_eq!(config.cpus, 1);
        assert_eq!(config.timeout, Duration::from_secs(60));
        assert_eq!(config.cmdline, "");
        assert_eq!(config.com2_file, None);
        assert!(!config.stream);
        assert_eq!(config.kernel, PathBuf::from(KERNEL_PATH));
    }

    #[test]
    fn builders_set_their_field() {
        let config = RunConfig::new(Emulator::Qemu)
            .with_cmdline("test=heap")
            .with_firmware(Firmware::Uefi)
            .with_cpus(4)
            .with_memory_mib(1024)
            .with_com2_file("/tmp/com2")
            .with_stream(true)
            .with_timeout(Duration::from_secs(5));
        assert_eq!(config.cmdline, "test=heap");
        assert_eq!(config.firmware, Firmware::Uefi);
        assert_eq!(config.cpus, 4);
        assert_eq!(config.memory_mib, 1024);
        assert_eq!(config.com2_file, Some(PathBuf::from("/tmp/com2")));
        assert!(config.stream);
        assert_eq!(config.timeout, Duration::from_secs(5));
    }

    #[test]
    fn vm_config_packs_the_encoding_its_guests_and_the_command_line_key() {
        let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/demo.toml");
        let config = RunConfig::new(Emulator::Bochs)
            .with_cmdline("log=debug")
            .with_vm_config(&demo)
            .expect("demo config");
        assert_eq!(config.cmdline, "log=debug config=vms.cfg");
        assert_eq!(
            config.files,
            [("hello".to_string(), PathBuf::from(DEMO_GUEST_PATH))]
        );
        let ramdisk = config.ramdisk();
        assert_eq!(ramdisk.blobs.len(), 1);
        assert_eq!(ramdisk.blobs[0].0, "vms.cfg");
        let machine = vm_config::decode(&ramdisk.blobs[0].1).expect("decodes");
        assert_eq!(machine.vms.len(), 2);
    }

    /// A configuration with one VM and a 3 MiB virtio disk, in a temporary directory.
    fn one_disk_config() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(dir.path().join("disk.img"), vec![0u8; 3 << 20]).expect("disk");
        let config_path = dir.path().join("disk.toml");
        std::fs::write(
            &config_path,
            "[[vm]]\nname = \"d\"\nelf = \"builtin:hello\"\n\
             [[vm.device]]\nname = \"vda\"\nkind = \"virtio-blk\"\nslot = 3\ndisk = \"disk.img\"\n",
        )
        .expect("config");
        (dir, config_path)
    }

    #[test]
    fn vm_config_with_a_disk_sizes_the_heap_and_names_the_write_back_target() {
        let (dir, config_path) = one_disk_config();
        let config = RunConfig::new(Emulator::Bochs)
            .with_cmdline("log=debug")
            .with_vm_config(&config_path)
            .expect("accepted");
        assert_eq!(
            config.cmdline,
            "log=debug heap_mib=23 disk_dump=on config=vms.cfg"
        );
        assert_eq!(
            config.write_back,
            [WriteBackTarget {
                vm: "d".to_string(),
                device: "vda".to_string(),
                path: dir.path().join("disk.img"),
            }]
        );
        assert!(config.files.iter().any(|(member, _)| member == "disk.img"));
        // 32 MiB of VM RAM + a 23 MiB heap + 3 MiB of disk and the hello guest + the reserve.
        assert_eq!(
            config.memory_needed_mib(),
            Some(32 + 23 + 4 + KERNEL_RESERVE_MIB)
        );
        let own_heap = RunConfig::new(Emulator::Bochs)
            .with_cmdline("heap_mib=64")
            .with_vm_config(&config_path)
            .expect("accepted");
        assert_eq!(own_heap.cmdline, "heap_mib=64 disk_dump=on config=vms.cfg");
        let own_dump = RunConfig::new(Emulator::Bochs)
            .with_cmdline("disk_dump=off heap_mib=23")
            .with_vm_config(&config_path)
            .expect("accepted");
        assert_eq!(own_dump.cmdline, "disk_dump=off heap_mib=23 config=vms.cfg");
        assert_eq!(RunConfig::new(Emulator::Bochs).memory_needed_mib(), None);
    }

    #[test]
    fn a_command_line_heap_too_small_for_the_disks_is_refused() {
        let (_dir, config_path) = one_disk_config();
        let error = RunConfig::new(Emulator::Bochs)
            .with_cmdline("heap_mib=22")
            .with_vm_config(&config_path)
            .expect_err("22 MiB is one short");
        assert_eq!(
            error.to_string(),
            format!(
                "{}: the kernel command line's heap_mib gives a 22 MiB heap, but the disks need 23 MiB (16 MiB + 3 MiB of disks + 4 MiB)",
                config_path.display()
            )
        );
        // A value the kernel would not take leaves its 16 MiB default: refused the same way.
        assert!(matches!(
            RunConfig::new(Emulator::Bochs)
                .with_cmdline("heap_mib=lots")
                .with_vm_config(&config_path),
            Err(ConfigError::HeapTooSmall {
                given: 16,
                needed: 23,
                ..
            })
        ));
        assert!(
            RunConfig::new(Emulator::Bochs)
                .with_cmdline("heap_mib=23")
                .with_vm_config(&config_path)
                .is_ok()
        );
    }

    #[test]
    fn names_match_the_command_line() {
        assert_eq!(Emulator::QemuKvm.to_string(), "qemu-kvm");
        assert_eq!(Emulator::Bochs.to_string(), "bochs");
        assert_eq!(Firmware::Uefi.to_string(), "UEFI");
    }
}
