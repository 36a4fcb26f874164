//! Several VMs on one CPU: round-robin time slices driven by the host's local APIC tick. A VM
//! runs until its slice ends (an external-interrupt exit at or past the slice's last tick), it
//! halts, or it ends. A halted VM gives up the CPU and is skipped until its device timers or
//! interrupt controller give it something to do; when every live VM is halted the CPU sleeps in
//! `hlt` until the next tick. A VM that crashes is stopped and reported; the others go on.

use core::sync::atomic::{AtomicBool, Ordering};

use alloc::string::String;
use alloc::vec::Vec;

use super::{Slice, Vm, VmEnd, diagnostic};
use crate::arch::x86_64::{lapic, tsc};

/// Host ticks per time slice.
pub const SLICE_TICKS: u64 = 10;

/// What became of one VM.
#[derive(Debug, Clone)]
pub struct Summary {
    pub name: String,
    pub end: VmEnd,
    pub exits: u64,
    pub cpu_cycles: u64,
}

/// Run `vms` together until every one has ended; returns their summaries in the given order.
pub fn run_together(mut vms: Vec<Vm>) -> Vec<Summary> {
    let mut ends: Vec<Option<VmEnd>> = vms.iter().map(|_| None).collect();
    let mut next = 0;
    while ends.iter().any(Option::is_none) {
        let count = vms.len();
        let runnable = (0..count)
            .map(|offset| (next + offset) % count)
            .find(|&index| ends[index].is_none() && (!vms[index].halted || vms[index].wakes()));
        let Some(index) = runnable else {
            // Everyone is halted: sleep until the next host tick.
            x86_64::instructions::interrupts::enable_and_hlt();
            x86_64::instructions::interrupts::disable();
            continue;
        };
        next = (index + 1) % vms.len();
        let vm = &mut vms[index];
        if let Err(fail) = vm.vcpu.switch_in() {
            ends[index] = Some(VmEnd::Stopped(alloc::format!(
                "cannot load its VMCS: {fail}"
            )));
            continue;
        }
        let slice = vm.run_slice(Some(lapic::ticks() + SLICE_TICKS));
        vm.vcpu.switch_out();
        if let Slice::Ended(end) = slice {
            report_end(vm, &end);
            ends[index] = Some(end);
        }
    }
    vms.iter()
        .zip(ends)
        .map(|(vm, end)| Summary {
            name: vm.name.clone(),
            end: end.unwrap_or(VmEnd::Stopped(String::from("never ran"))),
            exits: vm.stats.total(),
            cpu_cycles: vm.cpu_cycles,
        })
        .collect()
}

/// Print how a VM ended, with its state when it was stopped, and its exit statistics.
pub fn report_end(vm: &Vm, end: &VmEnd) {
    match end {
        VmEnd::Exited { status } => crate::println!("VM {}: exited with status {status}", vm.name),
        VmEnd::Reset => crate::println!("VM {}: reset by the guest; stopped", vm.name),
        VmEnd::Stopped(why) => {
            crate::println!("VM {}: stopped: {why}", vm.name);
            diagnostic::print_state(vm);
        }
    }
    vm.stats.print(&vm.name);
    for (device, disk) in &vm.disks {
        report_disk(&vm.name, device, disk.lock().device().backend());
    }
    for passthrough in &vm.passthrough_ports {
        crate::println!(
            "VM {}: {}: {} exits on passed-through ports {:#x}-{:#x}",
            vm.name,
            passthrough.name,
            passthrough.exits,
            passthrough.ports.first(),
            passthrough.ports.last()
        );
    }
}

/// Whether VM ends print the sectors their guests wrote to virtio disks (`disk_dump=on`).
static DISK_DUMP: AtomicBool = AtomicBool::new(false);
/// The most written sectors one dump carries (2 MiB: about 4.3 MB of text, a few minutes at
/// 115200 baud); a disk with more is reported and not dumped, so a guest cannot hold the
/// hypervisor's console for hours.
pub const MAX_DUMP_SECTORS: u64 = 4096;

/// Turn the disk dump at VM ends on or off (the host tool asks for it with `disk_dump=on`
/// when it will write the sectors back into image files).
pub fn set_disk_dump(on: bool) {
    DISK_DUMP.store(on, Ordering::Relaxed);
}

/// What became of a virtio disk: its written sectors on COM1 (see
/// `devices::virtio::tracked_disk`) when asked for and within [`MAX_DUMP_SECTORS`], else a
/// count. Only COM1 carries the dump: the framebuffer gets the one summary line.
fn report_disk(vm: &str, device: &str, disk: &devices::virtio::TrackedDisk) {
    let dirty = disk.dirty_count();
    if dirty == 0 {
        return;
    }
    if !DISK_DUMP.load(Ordering::Relaxed) {
        crate::println!("VM {vm}: {device}: {dirty} sectors written (kept in memory only)");
        return;
    }
    if dirty > MAX_DUMP_SECTORS {
        crate::println!(
            "{} {vm} {device} refused dirty={dirty} max={MAX_DUMP_SECTORS}",
            devices::virtio::tracked_disk::DUMP_PREFIX
        );
        return;
    }
    for line in devices::virtio::dump_lines(vm, device, disk) {
        crate::console::serial_line(&line);
    }
    crate::println!("VM {vm}: {device}: {dirty} written sectors dumped for the host tool");
}

/// Print the end-of-run table: per VM its end, exits and CPU time.
pub fn print_summary(summaries: &[Summary]) {
    crate::println!("summary: {} VM(s)", summaries.len());
    for summary in summaries {
        let end = match &summary.end {
            VmEnd::Exited { status } => alloc::format!("exited {status}"),
            VmEnd::Reset => String::from("reset"),
            VmEnd::Stopped(_) => String::from("stopped"),
        };
        crate::println!(
            "summary: VM {:<16} {:<10} {:>9} exits {:>8} us CPU",
            summary.name,
            end,
            summary.exits,
            tsc::ticks_to_nanos(summary.cpu_cycles) / 1000
        );
    }
}
