//! Disk images of `virtio-blk` devices: their size rules, and the hypervisor heap they need.
//!
//! The kernel keeps each disk in its heap while the VM runs (the guest reads and writes that
//! copy; what changed is printed back to the host at the VM's end, see
//! [`crate::disk_writeback`]). A configuration with disks therefore asks for a heap of
//! [`DEFAULT_HEAP_MIB`] + the disks (MiB, rounded up) + [`HEAP_HEADROOM_MIB`], which must stay
//! within the kernel's `heap_mib` range (`kernel/src/cmdline.rs`: 1..=[`MAX_HEAP_MIB`]).

use std::path::{Path, PathBuf};

use devices::vm_config::{DeviceKind, Machine};

use super::GuestMembers;
use super::error::{Invalid, Problem};

/// Bytes in a sector: virtio-blk addresses its disk in 512-byte sectors whatever the block
/// size (virtio 1.2 §5.2.6, "sector ... is in units of 512 bytes").
pub const SECTOR_BYTES: u64 = 512;
/// Largest disk image accepted: 1 GiB.
pub const MAX_DISK_BYTES: u64 = 1 << 30;
/// The hypervisor heap without `heap_mib=` (`kernel/src/cmdline.rs`), in MiB.
pub const DEFAULT_HEAP_MIB: u64 = 16;
/// Heap added on top of the default and the disks, for the virtio queues and bookkeeping.
pub const HEAP_HEADROOM_MIB: u64 = 4;
/// Largest heap the kernel accepts (`heap_mib` is 1..=1024 in `kernel/src/cmdline.rs`).
pub const MAX_HEAP_MIB: u64 = 1024;
/// The kernel command-line key of the heap size.
pub const HEAP_KEY: &str = "heap_mib";
/// The kernel command-line key that makes the kernel print what the guests wrote to their disks
/// (`kernel/src/cmdline.rs`).
pub const DISK_DUMP_KEY: &str = "disk_dump";
/// [`DISK_DUMP_KEY`]'s value that turns the dump on.
pub const DISK_DUMP_ON: &str = "on";
/// Bytes in a MiB.
const MIB: u64 = 1 << 20;

/// One disk of a validated configuration: where it is in the file and on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// The VM's name.
    pub vm: String,
    /// The device's name.
    pub device: String,
    /// The field naming it (`vm[0].device[1].disk`).
    pub field: String,
    /// The host file (written back after the run).
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
}

/// `bytes` in MiB, rounded up.
pub const fn mib_rounded_up(bytes: u64) -> u64 {
    bytes.div_ceil(MIB)
}

/// The size of the disk image at `path`, if it is a non-zero whole number of sectors of at
/// most [`MAX_DISK_BYTES`].
pub fn disk_size(path: &Path) -> Result<u64, Problem> {
    let size = std::fs::metadata(path).map_or(0, |metadata| metadata.len());
    if size == 0 || !size.is_multiple_of(SECTOR_BYTES) || size > MAX_DISK_BYTES {
        return Err(Problem::BadDiskSize {
            path: path.to_path_buf(),
            size,
        });
    }
    Ok(size)
}

/// The disks of `machine`, in file order, with the host paths `members` gives their members.
pub fn disks(machine: &Machine, members: &GuestMembers) -> Vec<Disk> {
    let mut found = Vec::new();
    for (vm_index, vm) in machine.vms.iter().enumerate() {
        for (index, device) in vm.devices.iter().enumerate() {
            let DeviceKind::VirtioBlk { disk, .. } = &device.kind else {
                continue;
            };
            let Some((_, path)) = members.iter().find(|(member, _)| member == disk) else {
                continue;
            };
            found.push(Disk {
                vm: vm.name.clone(),
                device: device.name.clone(),
                field: format!("vm[{vm_index}].device[{index}].disk"),
                path: path.clone(),
                bytes: std::fs::metadata(path).map_or(0, |metadata| metadata.len()),
            });
        }
    }
    found
}

/// The heap, in MiB, that holds `disks` besides the hypervisor's own needs; `None` without
/// disks (the kernel's default then fits).
pub fn heap_mib(disks: &[Disk]) -> Option<u64> {
    if disks.is_empty() {
        return None;
    }
    let total: u64 = disks.iter().map(|disk| disk.bytes).sum();
    Some(DEFAULT_HEAP_MIB + mib_rounded_up(total) + HEAP_HEADROOM_MIB)
}

/// Refuses disks whose heap would exceed [`MAX_HEAP_MIB`], naming the first disk that does not
/// fit.
pub fn check_heap(disks: &[Disk]) -> Result<(), Invalid> {
    for end in 1..=disks.len() {
        let so_far = disks.get(..end).unwrap_or_default();
        let needed = heap_mib(so_far).unwrap_or(DEFAULT_HEAP_MIB);
        if needed > MAX_HEAP_MIB {
            let field = so_far
                .last()
                .map_or_else(String::new, |disk| disk.field.clone());
            let total: u64 = so_far.iter().map(|disk| disk.bytes).sum();
            return Err(Invalid {
                field,
                problem: Problem::DisksTooBig {
                    needed,
                    disks: mib_rounded_up(total),
                },
            });
        }
    }
    Ok(())
}

/// Whether the kernel command line `cmdline` sets the heap size itself.
pub fn sets_heap(cmdline: &str) -> bool {
    sets_key(cmdline, HEAP_KEY)
}

/// Whether the kernel command line `cmdline` has a `key=value` option.
pub fn sets_key(cmdline: &str, key: &str) -> bool {
    cmdline.split_whitespace().any(|option| {
        option
            .split_once('=')
            .is_some_and(|(option_key, _)| option_key == key)
    })
}

/// The heap the kernel gets with `cmdline`, in MiB (its default when the line does not set it,
/// or sets it to something the kernel would refuse anyway).
pub fn heap_on(cmdline: &str) -> u64 {
    cmdline
        .split_whitespace()
        .filter_map(|option| option.split_once('='))
        .filter(|(key, _)| *key == HEAP_KEY)
        .filter_map(|(_, value)| value.parse().ok())
        .next_back()
        .unwrap_or(DEFAULT_HEAP_MIB)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(bytes: u64, field: &str) -> Disk {
        Disk {
            vm: "vm".to_string(),
            device: "disk".to_string(),
            field: field.to_string(),
            path: PathBuf::from("disk.img"),
            bytes,
        }
    }

    #[test]
    fn heap_is_the_default_plus_the_disks_rounded_up_plus_headroom() {
        assert_eq!(heap_mib(&[]), None);
        assert_eq!(heap_mib(&[disk(2 * 1024 * 1024, "a")]), Some(16 + 2 + 4));
        assert_eq!(
            heap_mib(&[disk(512, "a"), disk(MIB + 512, "b")]),
            Some(16 + 2 + 4),
            "the total is rounded up, not each disk"
        );
    }

    #[test]
    fn disks_beyond_the_largest_heap_are_refused_at_the_first_that_does_not_fit() {
        let disks = [
            disk(900 * MIB, "vm[0].device[0].disk"),
            disk(100 * MIB, "vm[0].device[1].disk"),
            disk(5 * MIB, "vm[1].device[0].disk"),
        ];
        assert_eq!(check_heap(&disks[..2]), Ok(()));
        let refusal = check_heap(&disks).expect_err("a 1025 MiB heap");
        assert_eq!(refusal.field, "vm[1].device[0].disk");
        assert_eq!(
            refusal.to_string(),
            "vm[1].device[0].disk: the disks so far need a 1025 MiB hypervisor heap (16 MiB + 1005 MiB of disks + 4 MiB), more than heap_mib allows (1024 MiB)"
        );
    }

    #[test]
    fn command_line_heap_is_found_by_its_key_only() {
        assert!(sets_heap("log=debug heap_mib=64"));
        assert!(!sets_heap("log=debug xheap_mib=64 heap_mib"));
        assert!(sets_key("disk_dump=off", DISK_DUMP_KEY));
        assert!(!sets_key("disk_dump", DISK_DUMP_KEY));
        assert_eq!(heap_on("heap_mib=64 config=vms.cfg"), 64);
        assert_eq!(heap_on("config=vms.cfg"), DEFAULT_HEAP_MIB);
    }
}
