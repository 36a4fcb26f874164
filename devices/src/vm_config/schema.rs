//! The configuration's types: a [`Machine`] of [`VmDesc`]s, each with its guest image, its
//! devices ([`DeviceDesc`]: what the guest sees, [`DeviceKind`], and how it is built,
//! [`Method`]) and its CPUID overrides.
//!
//! Every number is what the guest or the host hardware uses (ports, guest-physical or
//! host-physical addresses, IRQ lines); no field is interpreted relative to another.

use alloc::string::String;
use alloc::vec::Vec;

/// Everything the hypervisor runs: the VMs, in the order they were written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Machine {
    /// The VMs (at most [`MAX_VMS`](super::MAX_VMS)).
    pub vms: Vec<VmDesc>,
}

/// One VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmDesc {
    /// Its name: tags its console output and its lines in the summary. 1 to
    /// [`MAX_NAME_LEN`](super::MAX_NAME_LEN) characters of `A-Z a-z 0-9 _ -`, unique.
    pub name: String,
    /// Guest RAM at guest-physical 0, in MiB: even (EPT maps it with 2 MiB pages),
    /// [`MIN_RAM_MIB`](super::MIN_RAM_MIB)..=[`MAX_RAM_MIB`](super::MAX_RAM_MIB).
    pub ram_mib: u32,
    /// Virtual CPUs; only [`SUPPORTED_VCPUS`](super::SUPPORTED_VCPUS) for now.
    pub vcpus: u32,
    /// A local APIC (xAPIC page and x2APIC MSRs, timer) and an I/O APIC besides the 8259A pair.
    pub apic: bool,
    /// ACPI tables (RSDP, XSDT, FADT with the PM1 blocks and PM timer, DSDT, MADT) in the
    /// BIOS area; needs `apic` (the MADT describes the APICs).
    pub acpi: bool,
    /// What runs in it.
    pub guest: Guest,
    /// Its devices besides the always-present PC devices
    /// ([`PC_PLATFORM`](super::PC_PLATFORM)), in configuration order.
    pub devices: Vec<DeviceDesc>,
    /// CPUID answers that replace the hypervisor's, first match wins.
    pub cpuid_overrides: Vec<CpuidOverride>,
}

/// The guest image and how it is entered. File names are ramdisk member names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guest {
    /// A 64-bit ELF entered in long mode (the platform's "long-mode guests").
    Elf {
        /// The ramdisk member holding the ELF.
        file: String,
    },
    /// A flat binary copied to `load_address` and entered in real mode at
    /// CS:IP = (`load_address` >> 4):(`load_address` & 0xF).
    RealMode {
        /// The ramdisk member holding the binary.
        file: String,
        /// Guest-physical load address, within
        /// [`REAL_MODE_LOWEST`](super::REAL_MODE_LOWEST)..[`REAL_MODE_END`](super::REAL_MODE_END).
        load_address: u32,
    },
    /// A Linux kernel booted through its x86 boot protocol (`Documentation/arch/x86/boot.rst`).
    Linux {
        /// The ramdisk member holding the bzImage.
        kernel: String,
        /// The ramdisk member holding the initial ramdisk, if any.
        initrd: Option<String>,
        /// The kernel command line (at most [`MAX_CMDLINE_LEN`](super::MAX_CMDLINE_LEN) bytes).
        cmdline: String,
    },
}

impl Guest {
    /// The ramdisk members this guest needs, in order (image first).
    pub fn files(&self) -> impl Iterator<Item = &str> {
        let (first, second) = match self {
            Guest::Elf { file } | Guest::RealMode { file, .. } => (file.as_str(), None),
            Guest::Linux { kernel, initrd, .. } => (kernel.as_str(), initrd.as_deref()),
        };
        core::iter::once(first).chain(second)
    }
}

/// One device of a VM: a name, what the guest sees, and how it is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceDesc {
    /// Its name, unique within the VM (same characters as VM names).
    pub name: String,
    /// What the guest sees and where.
    pub kind: DeviceKind,
    /// How it is built.
    pub method: Method,
}

/// What the guest sees, at which guest resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceKind {
    /// A 16550A UART on eight ports from `base`, driving ISA line `irq`.
    Uart16550 {
        /// First of its eight ports.
        base: u16,
        /// Its ISA interrupt line (0–15).
        irq: u8,
    },
    /// The debug-exit device: a write to its four ports from `port` ends the VM with that value.
    DebugExit {
        /// Its first port.
        port: u16,
    },
    /// The MMIO test device: 4 KiB of scratch registers from guest-physical `base`.
    TestDevice {
        /// Its first guest-physical address (4 KiB aligned).
        base: u64,
    },
    /// A generic range of ports with no model: only for passthrough or mediation, where the
    /// host device gives the behaviour.
    PortRange {
        /// The first port.
        base: u16,
        /// Number of ports (1 or more).
        len: u16,
    },
    /// A generic range of guest-physical memory with no model: only for passthrough
    /// (mapped 1:1 onto the host range through EPT).
    MemoryRange {
        /// The first address (4 KiB aligned).
        base: u64,
        /// Number of bytes (a non-zero multiple of 4 KiB).
        len: u64,
    },
    /// A virtio block device (legacy virtio-pci transport) at PCI 00:`slot`.0, its disk the
    /// ramdisk member `disk` (a whole number of 512-byte sectors). Its INTx pin A drives the
    /// ISA line the PCI swizzle gives the slot ([`crate::pci::intx_line`]).
    VirtioBlk {
        /// PCI device number on bus 0 ([`MIN_PCI_SLOT`](super::MIN_PCI_SLOT)..=31).
        slot: u8,
        /// The ramdisk member holding the disk image.
        disk: String,
    },
    /// A virtio console (legacy virtio-pci transport, one port: `hvc0` in Linux) at PCI
    /// 00:`slot`.0; its output appears on the hypervisor console tagged with the VM's name.
    VirtioConsole {
        /// PCI device number on bus 0 ([`MIN_PCI_SLOT`](super::MIN_PCI_SLOT)..=31).
        slot: u8,
    },
}

impl DeviceKind {
    /// The ramdisk member the device needs besides the guest image, if any.
    pub fn file(&self) -> Option<&str> {
        match self {
            DeviceKind::VirtioBlk { disk, .. } => Some(disk),
            _ => None,
        }
    }

    /// Whether the device is a PCI function (its guest resource is a PCI address).
    pub const fn is_pci(&self) -> bool {
        matches!(
            self,
            DeviceKind::VirtioBlk { .. } | DeviceKind::VirtioConsole { .. }
        )
    }
}

/// How a device is built (the seed paper's four ways).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// Full emulation by the model in this crate; no host device involved.
    Emulated,
    /// The guest sees the emulated register model; the hypervisor's driver for `host` does the
    /// work. Several VMs may share one host device this way.
    HostBacked {
        /// The real device behind the model.
        host: HostDevice,
    },
    /// The host device's ports/memory are given to the guest (I/O bitmap bits clear, EPT
    /// mapping): accesses cause no exits. Guest and host addresses are the same. One VM only.
    Passthrough {
        /// The real device handed over.
        host: HostDevice,
    },
    /// Every access traps and goes through `policy` (first matching rule wins; no match
    /// means [`Action::Deny`]) before reaching the host device at the same port. One VM only.
    Mediated {
        /// The real device behind the policy.
        host: HostDevice,
        /// The rules, in order (at most [`MAX_POLICY_RULES`](super::MAX_POLICY_RULES)).
        policy: Vec<PolicyRule>,
    },
}

impl Method {
    /// The host device this method uses, if any.
    pub fn host(&self) -> Option<&HostDevice> {
        match self {
            Method::Emulated => None,
            Method::HostBacked { host }
            | Method::Passthrough { host }
            | Method::Mediated { host, .. } => Some(host),
        }
    }

    /// Whether the method needs the host device for this VM alone (passthrough, mediation).
    pub fn is_exclusive(&self) -> bool {
        matches!(self, Method::Passthrough { .. } | Method::Mediated { .. })
    }
}

/// A real device of the machine the hypervisor runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostDevice {
    /// The first serial port, ports 0x3F8–0x3FF: the hypervisor's console.
    Com1,
    /// The second serial port, ports 0x2F8–0x2FF.
    Com2,
    /// `len` host ports from `base`.
    Ports {
        /// The first port.
        base: u16,
        /// Number of ports (1 or more).
        len: u16,
    },
    /// `len` bytes of host-physical memory from `base` (device memory, 4 KiB aligned).
    Memory {
        /// The first address.
        base: u64,
        /// Number of bytes.
        len: u64,
    },
}

/// One rule of a mediation policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyRule {
    /// The ports it applies to.
    pub ports: PortSpan,
    /// The accesses it applies to.
    pub access: Access,
    /// What happens to a matching access.
    pub action: Action,
}

/// An inclusive range of ports, `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSpan {
    /// The first port.
    pub first: u16,
    /// The last port (inclusive, not below `first`).
    pub last: u16,
}

impl PortSpan {
    /// Whether `port` is in the span.
    pub const fn contains(&self, port: u16) -> bool {
        self.first <= port && port <= self.last
    }
}

/// Which accesses a policy rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads (IN, INS) only.
    Read,
    /// Writes (OUT, OUTS) only.
    Write,
    /// Both.
    Both,
}

/// What a mediation policy does with a matching access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The access reaches the device unchanged.
    Allow,
    /// The access does not reach the device: a write is dropped, a read returns all-ones. Each
    /// denial is logged.
    Deny,
    /// The access reaches the device unchanged and is logged.
    Log,
    /// The access reaches the device with its value rewritten to
    /// `(value & and_mask) | or_value`: a write's value before it reaches the device, a
    /// read's value before the guest sees it.
    Rewrite {
        /// Bits kept from the value.
        and_mask: u32,
        /// Bits then set.
        or_value: u32,
    },
}

/// A CPUID answer replacing the hypervisor's for one leaf (and sub-leaf).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuidOverride {
    /// EAX on input.
    pub leaf: u32,
    /// ECX on input; `None` matches every sub-leaf.
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

impl CpuidOverride {
    /// Whether this override answers CPUID with `leaf` in EAX and `subleaf` in ECX.
    pub fn matches(&self, leaf: u32, subleaf: u32) -> bool {
        self.leaf == leaf && self.subleaf.is_none_or(|wanted| wanted == subleaf)
    }
}
