//! Virtual machines: guest RAM under EPT, one vCPU, the device bus with the PC models, and the
//! run loop that enters the guest, dispatches each exit (`exits`) and resumes.
//!
//! The exit path reads top to bottom: `vmx::entry` returns at a VM exit → [`Vm::run`] reads the
//! reason → `exits::handle` → a handler (port I/O and MMIO go to `devices::bus::Bus`, whose
//! models may raise lines or DMA through [`platform::Platform`]) → back into the guest.

pub mod acpi_builder;
pub mod console;
pub mod critical_sections;
pub mod diagnostic;
pub mod ept_tables;
pub mod exits;
pub mod guest_access;
pub mod guest_paging;
pub mod host_devices;
pub mod interrupts;
pub mod launcher;
pub mod loader;
pub mod machine;
pub mod memory;
pub mod platform;
pub mod scheduler;
pub mod stats;
pub mod vcpu;
pub mod vmcs_setup;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use devices::bus::{Bus, BusError};
use devices::interface::{VmConfig, VmRequest};
use spin::Once;

use crate::arch::x86_64::tsc;
use crate::mm::frames::FrameError;
use crate::vmx::caps::{EptVpidCaps, VmxCapabilities};
use crate::vmx::ept::{Ept, EptError, EptFlags};
use crate::vmx::exit_reason::ExitReasonWord;
use crate::vmx::fields::VmcsField as F;
use crate::vmx::invalidate;
use ept_tables::FrameTables;
use exits::{CpuidOverride, Flow};
use interrupts::Controllers;
use loader::{BootArguments, GuestImage, LoadError};
use memory::GuestMemory;
use platform::Platform;
use stats::ExitStats;
use vcpu::{Vcpu, VcpuError, read};

static CAPABILITIES: Once<VmxCapabilities> = Once::new();

/// The VMX capabilities of this CPU, once VMs may run.
pub fn capabilities() -> Option<&'static VmxCapabilities> {
    CAPABILITIES.get()
}

/// Record the capabilities VMs run with.
pub fn set_capabilities(caps: VmxCapabilities) {
    CAPABILITIES.call_once(|| caps);
}

/// How a VM ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmEnd {
    /// The guest asked to stop (debug-exit port or hypercall) with this status.
    Exited { status: u32 },
    /// The guest asked for a reset (i8042, port 0xCF9): how an OS reboots or powers off a PC
    /// without ACPI. A VM without firmware cannot restart, so this is its orderly end.
    Reset,
    /// The hypervisor stopped the VM; the text says why.
    Stopped(String),
}

/// Why a VM could not be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmError {
    NoVmx,
    Memory(FrameError),
    Ept(EptError),
    Load(LoadError),
    Vcpu(String),
    Devices(String),
    Acpi(acpi_builder::AcpiError),
}

impl core::fmt::Display for VmError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            VmError::NoVmx => write!(f, "VMX is not enabled"),
            VmError::Memory(error) => write!(f, "no host memory for the VM's RAM: {error:?}"),
            VmError::Ept(error) => write!(f, "EPT: {error:?}"),
            VmError::Load(error) => write!(f, "{error}"),
            VmError::Vcpu(error) => write!(f, "{error}"),
            VmError::Devices(error) => write!(f, "devices: {error}"),
            VmError::Acpi(error) => write!(f, "{error}"),
        }
    }
}

impl From<VcpuError> for VmError {
    fn from(error: VcpuError) -> Self {
        VmError::Vcpu(format!("{error}"))
    }
}

impl From<BusError> for VmError {
    fn from(error: BusError) -> Self {
        VmError::Devices(format!("{error:?}"))
    }
}

impl VmEnd {
    /// Whether the VM ended the way a guest ends on purpose: status 0 or its own reset.
    pub fn is_success(&self) -> bool {
        matches!(self, VmEnd::Exited { status: 0 } | VmEnd::Reset)
    }
}

/// What a VM is made of.
#[derive(Debug, Clone)]
pub struct VmSpec<'a> {
    pub name: &'a str,
    pub ram_bytes: u64,
    pub image: GuestImage<'a>,
    pub vpid: u16,
    /// Give the VM a local APIC and an I/O APIC (CPUID then shows the APIC).
    pub apic: bool,
    /// Write ACPI tables describing the APICs into the VM's BIOS area (needs `apic`).
    pub acpi: bool,
    /// The devices beyond the fixed PC set.
    pub devices: machine::DeviceSet<'a>,
    /// CPUID answers the VM's configuration replaces.
    pub cpuid_overrides: Vec<CpuidOverride>,
}

/// One virtual machine.
pub struct Vm {
    pub name: String,
    pub vcpu: Vcpu,
    pub bus: Bus,
    pub platform: Platform,
    ept: Option<Ept<FrameTables>>,
    pub stats: ExitStats,
    pub cpuid_overrides: Vec<CpuidOverride>,
    /// The vCPU executed HLT (with interrupts enabled) and waits for an interrupt.
    pub halted: bool,
    /// TSC cycles this VM's slices took (guest time plus exit handling).
    pub cpu_cycles: u64,
    /// An NMI waits for the guest to unblock NMIs (NMI-window exiting is on meanwhile).
    pub nmi_pending: bool,
    /// Port ranges passed straight through, with the exits they still caused (should be 0).
    pub passthrough_ports: Vec<PassthroughPorts>,
    /// Virtio disks whose written sectors are dumped when the VM ends.
    pub disks: Vec<(String, machine::VirtioDisk)>,
    /// Mediated devices whose decision logs the VMM prints.
    pub mediated: Vec<(
        String,
        devices::shared::Shared<devices::mediated::MediatedPorts<host_devices::HostPortWindow>>,
    )>,
}

/// A passed-through port range and the I/O exits that still hit it.
#[derive(Debug, Clone)]
pub struct PassthroughPorts {
    pub name: String,
    pub ports: devices::interface::PortRange,
    pub exits: u64,
}

/// How a slice of guest execution ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slice {
    /// The VM ended.
    Ended(VmEnd),
    /// The vCPU halted and waits for an interrupt.
    Halted,
    /// The time slice is used up.
    Expired,
}

impl Vm {
    /// Allocate RAM, map it with EPT, load the image, build the vCPU and install the devices.
    pub fn create(spec: &VmSpec<'_>, arguments: BootArguments) -> Result<Self, VmError> {
        let caps = capabilities().ok_or(VmError::NoVmx)?;
        let memory = GuestMemory::allocate(spec.ram_bytes).map_err(VmError::Memory)?;
        let mut ept = Ept::new(FrameTables).map_err(VmError::Ept)?;
        ept.map(0, memory.host_base(), memory.size(), EptFlags::RWX)
            .map_err(VmError::Ept)?;
        let loaded = loader::load(spec.image, &memory, arguments).map_err(VmError::Load)?;
        if spec.acpi {
            install_acpi(spec, &memory)?;
        }
        // Tables and VPIDs are reused from VMs that ran before: drop anything cached for them.
        let eptp = ept.eptp(false);
        invalidate::invept(
            eptp,
            caps.ept_vpid.contains(EptVpidCaps::INVEPT_SINGLE_CONTEXT),
        )
        .map_err(|fail| VmError::Vcpu(format!("INVEPT: {fail}")))?;
        if caps.has_vpid() && caps.ept_vpid.contains(EptVpidCaps::INVVPID_SINGLE_CONTEXT) {
            invalidate::invvpid(spec.vpid)
                .map_err(|fail| VmError::Vcpu(format!("INVVPID: {fail}")))?;
        }
        let vcpu = Vcpu::new(caps, eptp, spec.vpid, &loaded)?;
        let config = VmConfig {
            name: String::from(spec.name),
            ram_bytes: memory.size(),
            vcpus: 1,
        };
        let mut platform = Platform::new(memory, config);
        let mut bus = Bus::default();
        let parts = machine::PlatformParts {
            apic: spec.apic,
            // The tables (and so the PM blocks the FADT names) exist only with the APICs.
            acpi_pm: spec.acpi && spec.apic,
        };
        let installed =
            machine::install_pc_devices(&mut bus, &mut platform, spec.name, parts, spec.devices)?;
        let mut vcpu = vcpu;
        let mut passthrough_ports = Vec::new();
        for (name, ports) in installed.passthrough_ports {
            for port in ports.first()..=ports.last() {
                vcpu.set_port_passthrough(port, true);
            }
            log::info!(
                "VM {}: {name}: ports {:#x}-{:#x} passed through",
                spec.name,
                ports.first(),
                ports.last()
            );
            passthrough_ports.push(PassthroughPorts {
                name,
                ports,
                exits: 0,
            });
        }
        for (name, gpa, hpa, size) in &installed.passthrough_memory {
            ept.map_device(*gpa, *hpa, *size).map_err(VmError::Ept)?;
            log::info!(
                "VM {}: {name}: memory {gpa:#x} passed through to host {hpa:#x}",
                spec.name
            );
        }
        Ok(Vm {
            name: String::from(spec.name),
            vcpu,
            bus,
            platform,
            ept: Some(ept),
            stats: ExitStats::default(),
            cpuid_overrides: spec.cpuid_overrides.clone(),
            halted: false,
            cpu_cycles: 0,
            nmi_pending: false,
            passthrough_ports,
            mediated: installed.mediated,
            disks: installed.disks,
        })
    }

    /// Run the guest until it ends (this VM alone on the CPU; a halted vCPU idles here).
    pub fn run(&mut self) -> VmEnd {
        loop {
            match self.run_slice(None) {
                Slice::Ended(end) => return end,
                Slice::Halted => self.idle(),
                Slice::Expired => {}
            }
        }
    }

    /// Run the guest until it ends, halts, or (with `until_tick`) the host tick count reaches
    /// `until_tick`. The VM's VMCS must be current.
    pub fn run_slice(&mut self, until_tick: Option<u64>) -> Slice {
        let started = tsc::now();
        let slice = loop {
            if self.halted {
                break Slice::Halted;
            }
            x86_64::instructions::interrupts::disable();
            self.prepare_entry();
            if let Err(fail) = self.vcpu.enter() {
                break Slice::Ended(VmEnd::Stopped(format!("VM entry failed: {fail}")));
            }
            let exit_tsc = tsc::now();
            let word = ExitReasonWord::decode(read(F::ExitReason) as u32);
            take_host_interrupts();
            interrupts::requeue_interrupted_event();
            let end = self.handle_exit(word);
            // Exit statistics: cycles from the exit until the guest is about to run again.
            self.stats
                .record(word.basic, tsc::now().wrapping_sub(exit_tsc));
            if let Some(end) = end {
                break Slice::Ended(end);
            }
            if until_tick.is_some_and(|tick| crate::arch::x86_64::lapic::ticks() >= tick) {
                break Slice::Expired;
            }
        };
        self.cpu_cycles = self
            .cpu_cycles
            .saturating_add(tsc::now().wrapping_sub(started));
        slice
    }

    /// Whether a halted vCPU has something to do: run its due device timers, then see whether
    /// its interrupt controller has an interrupt the guest (which halted with IF = 1) takes.
    pub fn wakes(&mut self) -> bool {
        self.run_due_timers();
        let pending = self
            .platform
            .controllers
            .as_ref()
            .is_some_and(Controllers::pending);
        if pending {
            self.halted = false;
        }
        pending
    }

    /// Everything between one exit and the next entry; `Some` when the VM ends.
    fn handle_exit(&mut self, word: ExitReasonWord) -> Option<VmEnd> {
        if let Flow::Stop(end) = exits::handle(self, word) {
            return Some(end);
        }
        match self.platform.take_request() {
            Some(VmRequest::Shutdown { status }) => return Some(VmEnd::Exited { status }),
            Some(VmRequest::Reset) => return Some(VmEnd::Reset),
            None => {}
        }
        self.run_due_timers();
        None
    }

    /// Queue a pending interrupt (or an interrupt-window exit) and aim the preemption timer
    /// at the next device deadline.
    fn prepare_entry(&mut self) {
        if let Some(controllers) = &self.platform.controllers {
            controllers.settle();
            interrupts::inject_pending(controllers, &mut self.nmi_pending);
        }
        if let Some(caps) = capabilities().filter(|caps| caps.has_preemption_timer()) {
            let now = devices::bus::VmServices::now(&self.platform);
            interrupts::arm_preemption_timer(
                now,
                self.bus.next_timer_deadline(),
                caps.preemption_timer_shift,
            );
        }
    }

    fn run_due_timers(&mut self) {
        let now = devices::bus::VmServices::now(&self.platform);
        if self.bus.next_timer_deadline().is_some_and(|due| due <= now) {
            self.bus.run_timers(&mut self.platform, now);
        }
    }

    /// The vCPU is halted: sleep between host ticks, running device timers, until its
    /// interrupt controller has an interrupt the guest will take.
    fn idle(&mut self) {
        loop {
            if self.wakes() {
                return;
            }
            x86_64::instructions::interrupts::enable_and_hlt();
            x86_64::instructions::interrupts::disable();
        }
    }
}

/// Write the ACPI tables of a VM with APICs (and point a Linux zero page at the RSDP); a VM
/// without APICs gets none, since the MADT would describe hardware it lacks.
fn install_acpi(spec: &VmSpec<'_>, memory: &GuestMemory) -> Result<(), VmError> {
    if !spec.apic {
        log::warn!(
            "VM {}: vm_acpi=on needs vm_apic=on (the MADT describes the APICs): no ACPI tables",
            spec.name
        );
        return Ok(());
    }
    let zero_page =
        matches!(spec.image, GuestImage::Linux { .. }).then_some(loader::linux::ZERO_PAGE);
    let rsdp = acpi_builder::install(memory, &acpi_builder::AcpiPlatform::PC, zero_page)
        .map_err(VmError::Acpi)?;
    log::info!("VM {}: ACPI tables, RSDP at {rsdp:#x}", spec.name);
    Ok(())
}

impl Drop for Vm {
    fn drop(&mut self) {
        if let Some(ept) = self.ept.take() {
            ept.release();
        }
    }
}

/// Open a one-instruction window for the host interrupt that caused the exit (`sti` delays
/// delivery by one instruction, so `sti; cli` alone would never take it).
fn take_host_interrupts() {
    // SAFETY: enables interrupts for one `nop`; the host's handlers are installed and do not
    // touch the VMCS.
    unsafe { core::arch::asm!("sti", "nop", "cli", options(nomem, nostack)) };
}
