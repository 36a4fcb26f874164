//! The caps on a configuration's size: how many VMs, devices, rules and overrides, and how long
//! names and strings may be. [`check_limits`] enforces them; both [`encode`](super::encode) and
//! [`decode`](super::decode) run it, so the kernel never holds more than these caps allow.

use alloc::format;
use alloc::string::String;
use core::fmt;

use super::schema::{Guest, Machine, Method, VmDesc};

/// Most VMs in one configuration.
pub const MAX_VMS: usize = 16;
/// Longest VM or device name, in bytes.
pub const MAX_NAME_LEN: usize = 32;
/// Longest ramdisk member name a guest may name, in bytes (the boot tool's cpio limit).
pub const MAX_FILE_NAME_LEN: usize = 100;
/// Most devices per VM (besides the always-present PC devices).
pub const MAX_DEVICES: usize = 16;
/// Most rules in one mediation policy (the engine's cap).
pub const MAX_POLICY_RULES: usize = crate::mediated::MAX_RULES;
/// Most CPUID overrides per VM.
pub const MAX_CPUID_OVERRIDES: usize = 32;
/// Longest Linux command line, in bytes (the boot protocol's `cmdline_size` of 2.06+ kernels is
/// 2047 by default; this leaves room for larger ones).
pub const MAX_CMDLINE_LEN: usize = 4096;

/// Which cap was exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// [`MAX_VMS`].
    Vms,
    /// [`MAX_NAME_LEN`] for a VM's name.
    VmName,
    /// [`MAX_DEVICES`].
    Devices,
    /// [`MAX_NAME_LEN`] for a device's name.
    DeviceName,
    /// [`MAX_POLICY_RULES`].
    PolicyRules,
    /// [`MAX_CPUID_OVERRIDES`].
    CpuidOverrides,
    /// [`MAX_FILE_NAME_LEN`].
    FileName,
    /// [`MAX_CMDLINE_LEN`].
    Cmdline,
}

impl Limit {
    /// The cap.
    pub const fn max(self) -> usize {
        match self {
            Limit::Vms => MAX_VMS,
            Limit::VmName | Limit::DeviceName => MAX_NAME_LEN,
            Limit::Devices => MAX_DEVICES,
            Limit::PolicyRules => MAX_POLICY_RULES,
            Limit::CpuidOverrides => MAX_CPUID_OVERRIDES,
            Limit::FileName => MAX_FILE_NAME_LEN,
            Limit::Cmdline => MAX_CMDLINE_LEN,
        }
    }

    /// The field's name in a path (`vm[0].device`).
    pub const fn field(self) -> &'static str {
        match self {
            Limit::Vms => "vm",
            Limit::VmName | Limit::DeviceName => "name",
            Limit::Devices => "device",
            Limit::PolicyRules => "policy",
            Limit::CpuidOverrides => "cpuid",
            Limit::FileName => "file",
            Limit::Cmdline => "cmdline",
        }
    }

    /// What is counted (`bytes` or `entries`).
    pub const fn unit(self) -> &'static str {
        match self {
            Limit::VmName | Limit::DeviceName | Limit::FileName | Limit::Cmdline => "bytes",
            Limit::Vms | Limit::Devices | Limit::PolicyRules | Limit::CpuidOverrides => "entries",
        }
    }
}

/// A cap exceeded, with where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitError {
    /// The cap.
    pub limit: Limit,
    /// The VM's index, if the cap is per VM.
    pub vm: Option<usize>,
    /// The device's index within the VM, if the cap is per device.
    pub device: Option<usize>,
    /// What was found.
    pub found: usize,
}

impl LimitError {
    /// The path of the field over its cap, e.g. `vm[1].device[0].policy`.
    pub fn path(&self) -> String {
        let mut path = String::new();
        if let Some(vm) = self.vm {
            path.push_str(&format!("vm[{vm}]."));
        }
        if let Some(device) = self.device {
            path.push_str(&format!("device[{device}]."));
        }
        path.push_str(self.limit.field());
        path
    }
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} {}, at most {}",
            self.path(),
            self.found,
            self.limit.unit(),
            self.limit.max()
        )
    }
}

impl core::error::Error for LimitError {}

/// `Err` naming the cap if `found` exceeds it.
fn within(
    limit: Limit,
    found: usize,
    vm: Option<usize>,
    device: Option<usize>,
) -> Result<(), LimitError> {
    if found > limit.max() {
        return Err(LimitError {
            limit,
            vm,
            device,
            found,
        });
    }
    Ok(())
}

fn check_vm(index: usize, vm: &VmDesc) -> Result<(), LimitError> {
    let at = Some(index);
    within(Limit::VmName, vm.name.len(), at, None)?;
    within(Limit::Devices, vm.devices.len(), at, None)?;
    within(Limit::CpuidOverrides, vm.cpuid_overrides.len(), at, None)?;
    for file in vm.guest.files() {
        within(Limit::FileName, file.len(), at, None)?;
    }
    if let Guest::Linux { cmdline, .. } = &vm.guest {
        within(Limit::Cmdline, cmdline.len(), at, None)?;
    }
    for (device_index, device) in vm.devices.iter().enumerate() {
        within(Limit::DeviceName, device.name.len(), at, Some(device_index))?;
        if let Some(file) = device.kind.file() {
            within(Limit::FileName, file.len(), at, Some(device_index))?;
        }
        if let Method::Mediated { policy, .. } = &device.method {
            within(Limit::PolicyRules, policy.len(), at, Some(device_index))?;
        }
    }
    Ok(())
}

/// Checks every cap of `machine`; the first one exceeded is the error.
pub fn check_limits(machine: &Machine) -> Result<(), LimitError> {
    within(Limit::Vms, machine.vms.len(), None, None)?;
    machine
        .vms
        .iter()
        .enumerate()
        .try_for_each(|(index, vm)| check_vm(index, vm))
}
