//! Why a VM configuration file was refused. Every refusal is an [`Invalid`]: the field path in
//! the file (`vm[1].device[0].base`) and a typed [`Problem`] whose text says what is wrong and,
//! where it helps, what would work.

use std::io;
use std::path::PathBuf;

use devices::vm_config::{EncodeError, LimitError};
use thiserror::Error;

/// Why `load_config` failed.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The configuration file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The file is not TOML of the configuration's shape (the message names line and key).
    #[error("{}: {message}", path.display())]
    Parse {
        /// The configuration file.
        path: PathBuf,
        /// The `toml` crate's message.
        message: String,
    },
    /// The file is well-formed but describes something that cannot work.
    #[error("{}: {invalid}", path.display())]
    Invalid {
        /// The configuration file.
        path: PathBuf,
        /// Where and why (boxed: a `Result` stays small).
        invalid: Box<Invalid>,
    },
    /// The kernel command line sets `heap_mib` below what the configuration's disks need (the
    /// kernel keeps each disk in its heap and would run out of it).
    #[error(
        "{}: the kernel command line's {key} gives a {given} MiB heap, but the disks need {needed} MiB ({base} MiB + {disks} MiB of disks + {headroom} MiB)",
        path.display(),
        key = super::disks::HEAP_KEY,
        base = super::disks::DEFAULT_HEAP_MIB,
        headroom = super::disks::HEAP_HEADROOM_MIB
    )]
    HeapTooSmall {
        /// The configuration file.
        path: PathBuf,
        /// The heap the command line gives, in MiB.
        given: u64,
        /// The heap the disks need, in MiB.
        needed: u64,
        /// The disks' total size, in MiB (rounded up).
        disks: u64,
    },
    /// The validated configuration could not be encoded for the ramdisk.
    #[error("{}: {source}", path.display())]
    Encode {
        /// The configuration file.
        path: PathBuf,
        /// The encoder's error.
        source: EncodeError,
    },
}

/// A refusal: the field and the problem.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {problem}")]
pub struct Invalid {
    /// The field's path in the file, e.g. `vm[1].device[0].base`.
    pub field: String,
    /// What is wrong with it.
    pub problem: Problem,
}

/// What is wrong with a field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Problem {
    /// The file names no VM.
    #[error("the configuration names no VM (add a [[vm]] table)")]
    NoVms,
    /// A cap of `devices::vm_config::limits` is exceeded.
    #[error("{} {}, at most {}", .0.found, .0.limit.unit(), .0.limit.max())]
    Limit(LimitError),
    /// A VM or device name with bad characters or length.
    #[error("{name:?} must be 1-{max} characters of A-Z a-z 0-9 _ -")]
    BadName {
        /// The name.
        name: String,
        /// The longest allowed.
        max: usize,
    },
    /// A VM name used twice, or a device name used twice within a VM.
    #[error("{name:?} is already the name of {first}")]
    DuplicateName {
        /// The name.
        name: String,
        /// The field path of its first use.
        first: String,
    },
    /// RAM size out of range or odd.
    #[error("{0} must be even, {min}..={max}", min = devices::vm_config::MIN_RAM_MIB, max = devices::vm_config::MAX_RAM_MIB)]
    BadRam(u32),
    /// A vCPU count other than the supported one.
    #[error("{0} vCPUs are not supported yet (only {supported})", supported = devices::vm_config::SUPPORTED_VCPUS)]
    UnsupportedVcpus(u32),
    /// None or several of `elf`, `realmode`, `linux`.
    #[error("needs exactly one guest: `elf`, `realmode` or `linux` (found {found})")]
    GuestCount {
        /// What was found (`none`, `elf and realmode`, ...).
        found: String,
    },
    /// `builtin:NAME` with an unknown name.
    #[error("unknown built-in guest {name:?} (built in: {known})")]
    UnknownBuiltin {
        /// The name asked for.
        name: String,
        /// The names there are, comma-separated.
        known: String,
    },
    /// A guest file that is not there.
    #[error("guest file {given:?} ({}) does not exist", resolved.display())]
    MissingFile {
        /// As written.
        given: String,
        /// Resolved against the configuration file's directory.
        resolved: PathBuf,
    },
    /// A real-mode load address outside conventional memory.
    #[error(
        "{address:#x} is outside {lowest:#x}..{end:#x} (above the IVT and BIOS data area, below 640 KiB)"
    )]
    RealModeAddress {
        /// The address.
        address: u32,
        /// Lowest allowed.
        lowest: u32,
        /// End (exclusive).
        end: u32,
    },
    /// A real-mode image that runs past the end of conventional memory or of RAM.
    #[error("{size} bytes at {address:#x} run past {end:#x}")]
    RealModeTooBig {
        /// Image size in bytes.
        size: u64,
        /// Load address.
        address: u32,
        /// The first address it may not reach.
        end: u64,
    },
    /// A field the device's kind, method or action requires is missing.
    #[error("required for {by}")]
    Required {
        /// `kind "uart16550"`, `method "mediated"` or `action "rewrite"`.
        by: String,
    },
    /// A field the kind (or method) does not have.
    #[error("not a field of {of}")]
    NotAField {
        /// `kind "debug-exit"` or `method "emulated"`.
        of: String,
    },
    /// A number out of its range.
    #[error("{value} is out of range ({range})")]
    OutOfRange {
        /// The value, as printed (ports and addresses in hex).
        value: String,
        /// The range allowed, in words.
        range: &'static str,
    },
    /// An address or length that is not a multiple of 4 KiB.
    #[error("{0:#x} is not a multiple of 4 KiB (EPT maps whole pages)")]
    Unaligned(u64),
    /// A device's resources run past the end of the port or address space, or are empty.
    #[error("the device's {what} would be empty or run past the end of the address space")]
    BadRange {
        /// `ports` or `memory`.
        what: &'static str,
    },
    /// A method that does not fit the device kind.
    #[error("{reason}")]
    MethodMismatch {
        /// Why.
        reason: &'static str,
    },
    /// The host device is the wrong kind for the method.
    #[error("{reason}")]
    WrongHost {
        /// Why.
        reason: &'static str,
    },
    /// Passthrough and mediation map guest resources 1:1 onto the host's.
    #[error("{method} maps {guest} 1:1 onto the host, so it must equal the host device's {host}")]
    NotIdentity {
        /// The method.
        method: &'static str,
        /// The guest resources.
        guest: String,
        /// The host resources.
        host: String,
    },
    /// Passthrough or mediation of something the hypervisor uses.
    #[error("{method} of {range} would take {owner_range} ({owner}) from the hypervisor")]
    HypervisorOwned {
        /// The method.
        method: &'static str,
        /// The host resources asked for.
        range: String,
        /// What the hypervisor uses there.
        owner: &'static str,
        /// Where that is.
        owner_range: String,
    },
    /// A device on the resources of an always-present PC device.
    #[error("{range} overlap the always-present {device} ({device_range})")]
    OverlapsPlatform {
        /// The device's resources.
        range: String,
        /// The PC device.
        device: &'static str,
        /// Its resources.
        device_range: String,
    },
    /// A memory-mapped device inside guest RAM.
    #[error("{range} overlaps guest RAM (0..{ram_mib} MiB)")]
    OverlapsRam {
        /// The device's memory.
        range: String,
        /// The VM's RAM size.
        ram_mib: u32,
    },
    /// Two devices of one VM on the same resources.
    #[error("{range} overlap {other} ({other_range})")]
    OverlapsDevice {
        /// This device's resources.
        range: String,
        /// The other device (path and name).
        other: String,
        /// Its resources.
        other_range: String,
    },
    /// Ports the VMM reserves in this VM: a virtio function's I/O window, or (with
    /// `acpi = true`) the ACPI PM registers.
    #[error("{range} overlap {what} ({what_range})")]
    OverlapsReserved {
        /// The device's ports.
        range: String,
        /// What is there (`the I/O window of virtio device `disk` (slot 3)`).
        what: String,
        /// Its ports.
        what_range: String,
    },
    /// The ACPI SCI's line, taken by a configured device in a VM with ACPI tables.
    #[error(
        "IRQ {irq} is the ACPI SCI's (the VM has `acpi = true`; the FADT's SCI_INT); use another line"
    )]
    SciIrq {
        /// The line.
        irq: u8,
    },
    /// An interrupt line an always-present device drives.
    #[error("IRQ {irq} is the always-present {device}'s")]
    PlatformIrq {
        /// The line.
        irq: u8,
        /// The PC device.
        device: &'static str,
    },
    /// Two devices of one VM on the same interrupt line.
    #[error("IRQ {irq} is already driven by {other}")]
    SharedIrq {
        /// The line.
        irq: u8,
        /// The other device (path and name).
        other: String,
    },
    /// A host device given to one VM alone that another device already uses.
    #[error(
        "host {host} is already used by {other} ({other_method}); passthrough and mediation need a host device for one VM alone"
    )]
    HostDeviceTaken {
        /// The host device and its resources.
        host: String,
        /// The other device (path and VM name).
        other: String,
        /// The other device's method.
        other_method: &'static str,
    },
    /// A policy rule with `last < first`, or outside the device's ports.
    #[error("{first:#x}-{last:#x} must be a range inside the device's {device_range}")]
    RuleOutsideDevice {
        /// First port.
        first: u16,
        /// Last port.
        last: u16,
        /// The device's ports.
        device_range: String,
    },
    /// Two CPUID overrides for the same leaf and sub-leaf.
    #[error("leaf {leaf:#x} sub-leaf {subleaf} is already overridden by {first}")]
    DuplicateCpuid {
        /// The leaf.
        leaf: u32,
        /// The sub-leaf, or `any`.
        subleaf: String,
        /// The field path of the first override.
        first: String,
    },
    /// A CPUID override offering VMX.
    #[error("bit 5 (VMX) cannot be offered: the hypervisor does not nest VT-x")]
    CpuidVmx,
    /// A guest file name that cannot be a ramdisk member.
    #[error("{0:?} is not UTF-8")]
    FileNameNotUtf8(PathBuf),
    /// ACPI tables asked for without the APICs they describe.
    #[error("ACPI tables need `apic = true` (the MADT describes the local APIC and I/O APIC)")]
    AcpiNeedsApic,
    /// `debian:NAME` with an unknown name.
    #[error("unknown Debian guest file {name:?} (there are: {known})")]
    UnknownDebianFile {
        /// The name asked for.
        name: String,
        /// The names there are, comma-separated.
        known: String,
    },
    /// A `debian:` file could not be fetched or built.
    #[error("Debian guest file {name:?}: {message}")]
    DebianFile {
        /// The name asked for.
        name: String,
        /// Why it failed (the fetch error names the command that does it by hand).
        message: String,
    },
    /// A disk image whose size is not a non-zero whole number of sectors, or too large.
    #[error(
        "disk image {} is {size} bytes: a disk must be a non-zero multiple of {sector} bytes, at most {max} bytes (1 GiB)",
        path.display(),
        sector = super::disks::SECTOR_BYTES,
        max = super::disks::MAX_DISK_BYTES
    )]
    BadDiskSize {
        /// The disk image.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
    },
    /// A disk named by `builtin:` or `debian:` rather than by path.
    #[error(
        "{given:?} is a file this tool provides: a disk image is a path relative to the configuration (the guest's writes go back into it)"
    )]
    DiskNotAPath {
        /// As written.
        given: String,
    },
    /// A file given as a disk that is already a disk or guest file of this configuration.
    #[error(
        "{} is already used by {first}; a disk image belongs to one device (what the guest writes is written back into it)",
        path.display()
    )]
    DiskInUse {
        /// The file.
        path: PathBuf,
        /// The field that named it first.
        first: String,
    },
    /// The disks do not fit the largest hypervisor heap (the kernel keeps each disk there).
    #[error(
        "the disks so far need a {needed} MiB hypervisor heap ({base} MiB + {disks} MiB of disks + {headroom} MiB), more than heap_mib allows ({max} MiB)",
        base = super::disks::DEFAULT_HEAP_MIB,
        headroom = super::disks::HEAP_HEADROOM_MIB,
        max = super::disks::MAX_HEAP_MIB
    )]
    DisksTooBig {
        /// The heap the disks need, in MiB.
        needed: u64,
        /// The disks' total size, in MiB (rounded up).
        disks: u64,
    },
    /// Two PCI devices of one VM in one slot.
    #[error("slot {slot} is already taken by {other}")]
    SlotTaken {
        /// The PCI device number.
        slot: u8,
        /// The other device (path and name).
        other: String,
    },
    /// A non-PCI device on the ISA line a PCI device's INTx pin drives.
    #[error(
        "IRQ {irq} is the INTx line of {other} (PCI {bdf}, pin INTA# through the PIRQ swizzle); use another line"
    )]
    PciIrq {
        /// The line.
        irq: u8,
        /// The PCI device (path and name).
        other: String,
        /// Its PCI address.
        bdf: String,
    },
}
