//! The configuration file as written: TOML (v1.0 spec) read with `serde` into these structs,
//! which refuse unknown keys. Numbers stay wide here (`u64`) so that range checks happen in
//! validation, with messages that name the field.
//!
//! ```toml
//! [[vm]]
//! name = "left"              # 1-32 of A-Z a-z 0-9 _ -
//! ram_mib = 32               # even, 2..=2048; default 32
//! vcpus = 1                  # default 1 (the only count supported yet)
//! apic = false               # a local APIC and an I/O APIC besides the 8259A pair; default false
//! acpi = false               # ACPI tables (RSDP, XSDT, FADT, DSDT, MADT); needs apic; default false
//! elf = "builtin:hello"      # or realmode = { file = "boot.bin", load_address = 0x7c00 }
//!                            # or linux = { kernel = "bzImage", initrd = "initrd", cmdline = "" }
//!                            # (kernel = "debian:kernel", initrd = "debian:shell-initramfs": Debian's
//!                            # cloud kernel and a busybox shell initramfs, fetched and built into
//!                            # the guest cache)
//!
//! [[vm.device]]
//! name = "com1"
//! kind = "uart16550"         # uart16550 (base, irq) | debug-exit (port) | test-device (base)
//!                            # | port-range (base, len) | memory-range (base, len)
//! base = 0x3f8
//! irq = 4
//! method = "host-backed"     # emulated (default) | host-backed | passthrough | mediated
//! host = "com1"              # com1 | com2 | ports | memory (the last two: the device's range)
//!
//! [[vm.device]]
//! name = "com2"
//! kind = "uart16550"
//! base = 0x2f8
//! irq = 3
//! method = "mediated"
//! host = "com2"
//! policy = [
//!   { ports = [0x2f8, 0x2f8], access = "write", action = "allow" },
//!   { ports = [0x2f9, 0x2ff], access = "both", action = "rewrite", and_mask = 0x0f, or_value = 0 },
//! ]                          # first match wins; no match denies
//!
//! [[vm.device]]
//! name = "disk"
//! kind = "virtio-blk"        # legacy virtio-pci block device at PCI 00:<slot>.0
//! slot = 3                   # PCI device number 1..=31 (0 is the host bridge), one per VM
//! disk = "disk.img"          # relative to this file: a whole number of 512-byte sectors, <= 1 GiB;
//!                            # what the guest writes is written back into it after the run
//!
//! [[vm.device]]
//! name = "hvc"
//! kind = "virtio-console"    # legacy virtio-pci console (Linux: /dev/hvc0), output tagged [vm]
//! slot = 4                   # virtio devices are method "emulated" only; INTx pin A drives
//!                            # ISA line 10 or 11 (PIRQ swizzle): PCI functions may share it,
//!                            # a non-PCI device (uart16550) may not; BAR0 sits at ports
//!                            # 0xc000 + slot * 0x100 (256 ports), which no port device may use
//!
//! [[vm.cpuid]]
//! leaf = 0x40000000          # subleaf = N to match one sub-leaf only
//! eax = 0x40000001
//! ebx = 0
//! ecx = 0
//! edx = 0
//! ```
//!
//! With `acpi = true` the ACPI PM registers (ports 0x600-0x603, 0x604-0x605, 0x608-0x60b) and
//! their SCI line 9 are the VM's too: no configured device may use them.
//!
//! # Trust
//! A configuration is trusted input, written by the person who runs the tool, and acts with their
//! rights: a `disk` path may be absolute or climb out with `..`, and names any file they can
//! write, which the run then overwrites with what the guest wrote (only the guests are hostile;
//! what they wrote is checked before it is written back). The image is read when the run
//! starts and written back when it ends, with no lock: two runs of one configuration at the same
//! time must not share a disk image (give each its own copy), or one run's writes silently
//! replace the other's.

use serde::Deserialize;

/// RAM when `ram_mib` is not given (the platform's default).
pub const DEFAULT_RAM_MIB: u32 = 32;
/// vCPUs when `vcpus` is not given.
pub const DEFAULT_VCPUS: u32 = 1;

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The `[[vm]]` tables.
    #[serde(default)]
    pub vm: Vec<VmEntry>,
}

const fn default_ram_mib() -> u32 {
    DEFAULT_RAM_MIB
}

const fn default_vcpus() -> u32 {
    DEFAULT_VCPUS
}

/// One `[[vm]]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmEntry {
    /// The VM's name.
    pub name: String,
    /// RAM in MiB.
    #[serde(default = "default_ram_mib")]
    pub ram_mib: u32,
    /// vCPUs.
    #[serde(default = "default_vcpus")]
    pub vcpus: u32,
    /// A local APIC and an I/O APIC besides the 8259A pair.
    #[serde(default)]
    pub apic: bool,
    /// ACPI tables describing the machine (needs `apic`).
    #[serde(default)]
    pub acpi: bool,
    /// A 64-bit ELF guest: a path relative to the file, or `builtin:NAME`.
    pub elf: Option<String>,
    /// A real-mode guest.
    pub realmode: Option<RealModeEntry>,
    /// A Linux guest.
    pub linux: Option<LinuxEntry>,
    /// The `[[vm.device]]` tables.
    #[serde(default)]
    pub device: Vec<DeviceEntry>,
    /// The `[[vm.cpuid]]` tables.
    #[serde(default)]
    pub cpuid: Vec<CpuidEntry>,
}

/// `realmode = { file = …, load_address = … }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealModeEntry {
    /// The flat binary: a path relative to the file, or `builtin:NAME`.
    pub file: String,
    /// Where it is loaded and entered.
    pub load_address: u32,
}

/// `linux = { kernel = …, initrd = …, cmdline = … }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinuxEntry {
    /// The bzImage.
    pub kernel: String,
    /// The initial ramdisk.
    pub initrd: Option<String>,
    /// The kernel command line.
    #[serde(default)]
    pub cmdline: String,
}

/// The `kind` of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KindName {
    /// `uart16550`.
    Uart16550,
    /// `debug-exit`.
    DebugExit,
    /// `test-device`.
    TestDevice,
    /// `port-range`.
    PortRange,
    /// `memory-range`.
    MemoryRange,
    /// `virtio-blk`.
    VirtioBlk,
    /// `virtio-console`.
    VirtioConsole,
}

impl KindName {
    /// As written in the file.
    pub const fn as_str(self) -> &'static str {
        match self {
            KindName::Uart16550 => "uart16550",
            KindName::DebugExit => "debug-exit",
            KindName::TestDevice => "test-device",
            KindName::PortRange => "port-range",
            KindName::MemoryRange => "memory-range",
            KindName::VirtioBlk => "virtio-blk",
            KindName::VirtioConsole => "virtio-console",
        }
    }
}

/// The `method` of a device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MethodName {
    /// `emulated` (the default).
    #[default]
    Emulated,
    /// `host-backed`.
    HostBacked,
    /// `passthrough`.
    Passthrough,
    /// `mediated`.
    Mediated,
}

impl MethodName {
    /// As written in the file.
    pub const fn as_str(self) -> &'static str {
        match self {
            MethodName::Emulated => "emulated",
            MethodName::HostBacked => "host-backed",
            MethodName::Passthrough => "passthrough",
            MethodName::Mediated => "mediated",
        }
    }

    /// The method as a noun, for messages (`mediation`).
    pub const fn noun(self) -> &'static str {
        match self {
            MethodName::Emulated => "emulation",
            MethodName::HostBacked => "host backing",
            MethodName::Passthrough => "passthrough",
            MethodName::Mediated => "mediation",
        }
    }
}

/// The `host` of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostName {
    /// `com1`: ports 0x3F8–0x3FF.
    Com1,
    /// `com2`: ports 0x2F8–0x2FF.
    Com2,
    /// `ports`: the host ports equal to the device's.
    Ports,
    /// `memory`: the host memory equal to the device's.
    Memory,
}

/// One `[[vm.device]]` table; which fields apply depends on `kind` and `method`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceEntry {
    /// The device's name.
    pub name: String,
    /// What the guest sees.
    pub kind: KindName,
    /// First port (uart16550, port-range) or address (test-device, memory-range).
    pub base: Option<u64>,
    /// ISA interrupt line (uart16550).
    pub irq: Option<u64>,
    /// First port (debug-exit).
    pub port: Option<u64>,
    /// Number of ports (port-range) or bytes (memory-range).
    pub len: Option<u64>,
    /// PCI device number on bus 0 (virtio-blk, virtio-console).
    pub slot: Option<u64>,
    /// The disk image, a path relative to the file (virtio-blk).
    pub disk: Option<String>,
    /// How it is built.
    #[serde(default)]
    pub method: MethodName,
    /// The host device (host-backed, passthrough, mediated).
    pub host: Option<HostName>,
    /// The mediation rules (mediated).
    pub policy: Option<Vec<RuleEntry>>,
}

/// `access` of a policy rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccessName {
    /// `read`.
    Read,
    /// `write`.
    Write,
    /// `both`.
    Both,
}

/// `action` of a policy rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionName {
    /// `allow`.
    Allow,
    /// `deny`.
    Deny,
    /// `log`.
    Log,
    /// `rewrite` (with `and_mask` and `or_value`).
    Rewrite,
}

impl ActionName {
    /// As written in the file.
    pub const fn as_str(self) -> &'static str {
        match self {
            ActionName::Allow => "allow",
            ActionName::Deny => "deny",
            ActionName::Log => "log",
            ActionName::Rewrite => "rewrite",
        }
    }
}

/// One rule of `policy = [...]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleEntry {
    /// `[first, last]`, inclusive.
    pub ports: [u16; 2],
    /// Which accesses.
    pub access: AccessName,
    /// What happens.
    pub action: ActionName,
    /// Bits kept (rewrite).
    pub and_mask: Option<u32>,
    /// Bits set (rewrite).
    pub or_value: Option<u32>,
}

/// One `[[vm.cpuid]]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuidEntry {
    /// EAX on input.
    pub leaf: u32,
    /// ECX on input; absent matches every sub-leaf.
    pub subleaf: Option<u32>,
    /// EAX returned.
    pub eax: u32,
    /// EBX returned.
    pub ebx: u32,
    /// ECX returned.
    pub ecx: u32,
    /// EDX returned.
    pub edx: u32,
}
