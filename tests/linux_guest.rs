//! An unmodified Debian Linux kernel (linux-image-*-cloud-amd64, fetched with `apt-get
//! download` into a cache by the host tool) boots under the hypervisor to a busybox init that
//! prints a marker, shows the timer ticking in /proc/interrupts, prints the date from the RTC
//! and ends the VM with `reboot -f`. Under Bochs always; under QEMU+KVM where /dev/kvm offers
//! nested VT-x (skipped with a message otherwise). A second Bochs run gives the VM APICs and ACPI
//! tables. A third, configured by a TOML file, gives Linux a virtio-blk disk (an ext2 image built
//! on the host) and a virtio console: the guest reads a file, writes one, and the host finds the
//! written file in its image after the run (disk write-back).
//!
//! Host packages: the disk test builds and reads its image with `mke2fs` and `debugfs`
//! (e2fsprogs: installed like the emulators when missing and running as root, and by `.ci/run`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use boot::disk_writeback::WriteBack;
use boot::host::{Probe, Requirement};
use boot::linux::init_script::{self, REBOOT_MARKER, USERSPACE_MARKER};
use boot::linux::initramfs::VIRTIO_ORDER_FILE;
use boot::linux::{self, InitramfsSpec, MarkerReport};
use boot::{Emulator, HostProbe, RunConfig};
use hv_tests::boot as run;

/// Bochs boots this kernel to the marker in ~15 s bare; under the hypervisor (every port
/// access and timer interrupt an exit) it takes a few minutes on a loaded 2-core machine.
const LINUX_TIMEOUT: Duration = Duration::from_secs(900);
/// Machine memory for the run (the VM gets 256 MiB of it).
const MACHINE_MIB: u32 = 1024;

/// The guest's console lines (tagged `[debian]` on the hypervisor console), untagged.
fn guest_log(serial: &str) -> String {
    serial
        .lines()
        .filter_map(|line| line.strip_prefix("[debian] "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn linux_run(
    emulator: Emulator,
    options: &str,
    kernel_cmdline: &str,
) -> (hv_tests::Outcome, Result<MarkerReport, String>) {
    let assets = linux::assets(&linux::default_cache_dir()).expect("Debian kernel and busybox");
    let dir = tempfile::tempdir().expect("temporary directory");
    let initrd = dir.path().join("debian.initrd");
    linux::initramfs(&assets, &InitramfsSpec::default(), &initrd).expect("initramfs");
    let cmdline = dir.path().join("debian.cmdline");
    std::fs::write(&cmdline, kernel_cmdline).expect("command line file");
    let mut config = RunConfig::new(emulator)
        .with_cmdline(format!("vms=debian.bzimage vm_ram_mib=256 {options}"))
        .with_file("debian.bzimage", &assets.bzimage)
        .with_file("debian.initrd", &initrd)
        .with_file("debian.cmdline", &cmdline)
        .with_timeout(LINUX_TIMEOUT);
    config.memory_mib = MACHINE_MIB;
    let outcome = run(config);
    let report = linux::judge_marker_test(&guest_log(&outcome.outcome.serial));
    (outcome, report)
}

fn check(outcome: &hv_tests::Outcome, report: Result<MarkerReport, String>) {
    let report =
        report.unwrap_or_else(|missing| panic!("Linux did not finish its init script: {missing}"));
    assert!(report.userspace_up && report.rebooting);
    assert!(
        report.timer_ticked(),
        "timer interrupts did not advance: {:?}",
        report.timer_ticks
    );
    assert!(
        report.date.is_some_and(|date| date.starts_with("20")),
        "no date from the RTC"
    );
    outcome
        .expect_line("VM debian: reset by the guest")
        .expect_success();
}

#[test]
fn debian_linux_boots_to_userspace_under_bochs() {
    let (outcome, report) = linux_run(Emulator::Bochs, "", linux::DEFAULT_CMDLINE);
    check(&outcome, report);
}

/// Kernel messages that mean the virtual machine gave Linux something it does not accept: an
/// MSR access without `rdmsr_safe` that faulted, ACPI tables or AML it rejects, a CPU feature it
/// probes through MSRs we do not emulate, an oops.
const FORBIDDEN_MESSAGES: [&str; 7] = [
    "unchecked MSR access",
    "ACPI BIOS Error",
    "ACPI Error",
    "Invalid MSRs",
    "XSAVE consistency problem",
    "Call Trace",
    "BUG:",
];

/// `console=ttyS0` with warnings shown (`loglevel=5`: KERN_WARNING and more severe), so the
/// test sees every warning the boot produces.
const WARNINGS_CMDLINE: &str = "console=ttyS0 loglevel=5";

/// With a local APIC, an I/O APIC and the hypervisor's ACPI tables (MADT, FADT with the PM
/// blocks, DSDT), Linux runs its ACPI interpreter, routes its interrupts through the I/O APIC
/// and ticks on the local APIC timer — without an MSR or ACPI warning on the way.
#[test]
fn debian_linux_uses_the_madt_ioapic_and_lapic_timer_under_bochs() {
    let (outcome, report) = linux_run(Emulator::Bochs, "vm_apic=on vm_acpi=on", WARNINGS_CMDLINE);
    check(&outcome, report);
    let log = guest_log(&outcome.outcome.serial);
    for message in FORBIDDEN_MESSAGES {
        outcome.expect(
            !log.contains(message),
            &format!("no `{message}` in the kernel log"),
        );
    }
    outcome.expect_line("IO-APIC").expect_line("LOC:");
    let local_timer = outcome.line_with("LOC:");
    let ticks: u64 = local_timer
        .split_whitespace()
        .nth(2)
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no count in `{local_timer}`"));
    assert!(
        ticks > 0,
        "the local APIC timer did not tick: {local_timer}"
    );
}

#[test]
fn debian_linux_boots_to_userspace_under_qemu_kvm() {
    if !HostProbe::detect().nested_vmx() {
        eprintln!("skipped: /dev/kvm does not offer nested VT-x on this machine");
        return;
    }
    let (outcome, report) = linux_run(Emulator::QemuKvm, "", linux::DEFAULT_CMDLINE);
    check(&outcome, report);
}

/// What the host puts into `/hello.txt` of the guest's disk.
const HELLO_TEXT: &str = "hello from the host, read through virtio-blk\n";
/// What the guest writes into `/written.txt` of its disk.
const WRITTEN_TEXT: &str = "written by Linux through virtio-blk";
/// Starts the guest's line with the SHA-256 of `/hello.txt` as it read it.
const SHA256_PREFIX: &str = "HV-LINUX-SHA256: ";
/// Starts the guest's line with the SHA-256 of the raw second disk (`/dev/vdb`) as it read it.
const RAW_SHA256_PREFIX: &str = "HV-LINUX-VDB-SHA256: ";
/// Bytes per sector of a virtio disk.
const SECTOR_BYTES: usize = 512;
/// Sectors of the raw second disk (64 KiB).
const RAW_DISK_SECTORS: usize = 128;
/// What the guest writes to `/dev/hvc0` (the virtio console).
const HVC_TEXT: &str = "HV-LINUX-HVC: hello over virtio-console";
/// Printed by the guest when the disk did not mount.
const MOUNT_FAILED: &str = "HV-LINUX-DISK: mount failed";
/// The disk image: 2048 blocks of 1 KiB (2 MiB).
const DISK_BLOCKS: &str = "2048";
/// The Debian package with `mke2fs` and `debugfs`.
const E2FSPROGS_PACKAGE: &str = "e2fsprogs";
/// Where Debian keeps e2fsprogs' programs (not on a non-root user's `PATH`).
const SBIN_DIRS: [&str; 2] = ["/usr/sbin", "/sbin"];

/// `name` on `PATH` or in an sbin directory.
fn find_e2fsprogs(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(SBIN_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// `name` from e2fsprogs, which the host tool's installer adds when missing (as root; otherwise
/// the panic names the command to run).
fn e2fsprogs(name: &'static str) -> PathBuf {
    if let Some(found) = find_e2fsprogs(name) {
        return found;
    }
    let requirement = Requirement {
        probe: Probe::Program(name),
        package: E2FSPROGS_PACKAGE,
    };
    if let Err(error) = boot::host::ensure(&[requirement]) {
        panic!("`{name}` is missing: {error}");
    }
    find_e2fsprogs(name).unwrap_or_else(|| panic!("`{name}` is missing: apt-get install e2fsprogs"))
}

/// Runs `command`, panicking with its output when it fails; its standard output.
fn output_of(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("running {command:?}: {error}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// An ext2 image at `image` holding `/hello.txt`.
fn ext2_disk(dir: &Path, image: &Path) {
    let content = dir.join("content");
    std::fs::create_dir(&content).expect("content directory");
    std::fs::write(content.join("hello.txt"), HELLO_TEXT).expect("hello.txt");
    output_of(
        Command::new(e2fsprogs("mke2fs"))
            .args(["-q", "-F", "-t", "ext2", "-b", "1024", "-d"])
            .arg(&content)
            .arg(image)
            .arg(DISK_BLOCKS),
    );
}

/// The SHA-256 of `path`, as `sha256sum` prints it.
fn sha256_of(path: &Path) -> String {
    output_of(Command::new("sha256sum").arg(path))
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_string()
}

/// The disk test's `/init`: load the virtio modules, wait for both disks and the console port,
/// read `/hello.txt`, write `/written.txt`, hash the raw second disk, say hello on `/dev/hvc0`,
/// show `/proc/interrupts`, reboot.
fn disk_test_script() -> String {
    init_script::script(&format!(
        "echo '{USERSPACE_MARKER}'
{modules}for device in /dev/vda /dev/vdb /dev/hvc0; do
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
        [ -e \"$device\" ] && break
        sleep 0.5
    done
done
if mount -t ext4 /dev/vda /mnt || mount -t ext2 /dev/vda /mnt; then
    echo \"{SHA256_PREFIX}$(sha256sum /mnt/hello.txt | cut -d ' ' -f 1)\"
    echo '{WRITTEN_TEXT}' > /mnt/written.txt
    sync
    umount /mnt
else
    echo '{MOUNT_FAILED}'
fi
echo \"{RAW_SHA256_PREFIX}$(dd if=/dev/vdb bs={SECTOR_BYTES} count={RAW_DISK_SECTORS} 2>/dev/null | sha256sum | cut -d ' ' -f 1)\"
echo '{HVC_TEXT}' > /dev/hvc0
cat /proc/interrupts
echo '{REBOOT_MARKER}'
reboot -f
",
        modules = init_script::load_modules(&format!("/{VIRTIO_ORDER_FILE}")),
    ))
}

/// The configuration of the disk test: VM `debian` (256 MiB; 8259A + PIT only, or with
/// `apic_acpi` the APICs and ACPI tables too), its console on an emulated COM1, the ext2 disk in
/// slot 3, a virtio console in slot 4 and a raw disk in slot 7 — whose INTx A shares ISA/GSI
/// line 11 with slot 3 (the swizzle), so both disks' interrupts travel one wired-OR line.
fn disk_test_config(kernel: &Path, apic_acpi: bool) -> String {
    format!(
        r#"[[vm]]
name = "debian"
ram_mib = 256
apic = {apic_acpi}
acpi = {apic_acpi}
linux = {{ kernel = "{kernel}", initrd = "debian.initrd", cmdline = "{cmdline}" }}

[[vm.device]]
name = "com1"
kind = "uart16550"
base = 0x3f8
irq = 4

[[vm.device]]
name = "disk"
kind = "virtio-blk"
slot = 3
disk = "disk.img"

[[vm.device]]
name = "hvc"
kind = "virtio-console"
slot = 4

[[vm.device]]
name = "raw"
kind = "virtio-blk"
slot = 7
disk = "raw.img"
"#,
        kernel = kernel.display(),
        cmdline = linux::DEFAULT_CMDLINE,
    )
}

#[test]
fn debian_linux_reads_and_writes_a_virtio_disk_under_bochs() {
    virtio_disk_test(false);
}

/// The same with the APICs and ACPI: Linux finds the virtio functions through the DSDT's PCI
/// root bridge and takes their INTx through its `_PRT` and the I/O APIC (level, active low).
#[test]
fn debian_linux_uses_virtio_through_acpi_pci_routing_under_bochs() {
    let outcome = virtio_disk_test(true);
    let serial = &outcome.outcome.serial;
    outcome.expect(
        serial
            .lines()
            .any(|line| line.contains("IO-APIC") && line.contains("virtio")),
        "a virtio interrupt line on the I/O APIC in /proc/interrupts",
    );
}

/// Boots the disk test (with or without APICs + ACPI), checks everything, returns the run.
fn virtio_disk_test(apic_acpi: bool) -> hv_tests::Outcome {
    let assets = linux::assets(&linux::default_cache_dir()).expect("Debian kernel and busybox");
    let dir = tempfile::tempdir().expect("temporary directory");
    let disk = dir.path().join("disk.img");
    ext2_disk(dir.path(), &disk);
    let hello_sha256 = sha256_of(&dir.path().join("content/hello.txt"));
    let raw = dir.path().join("raw.img");
    let pattern: Vec<u8> = (0..RAW_DISK_SECTORS * SECTOR_BYTES)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    std::fs::write(&raw, &pattern).expect("raw disk image");
    let raw_sha256 = sha256_of(&raw);
    let spec = InitramfsSpec::new(disk_test_script()).with_virtio_modules();
    linux::initramfs(&assets, &spec, &dir.path().join("debian.initrd")).expect("initramfs");
    let config_path = dir.path().join("disk.toml");
    std::fs::write(&config_path, disk_test_config(&assets.bzimage, apic_acpi))
        .expect("configuration");
    let mut config = RunConfig::new(Emulator::Bochs)
        .with_vm_config(&config_path)
        .expect("the disk test configuration")
        .with_timeout(LINUX_TIMEOUT);
    config.memory_mib = MACHINE_MIB;
    let outcome = run(config);

    let log = guest_log(&outcome.outcome.serial);
    outcome
        .expect_line(USERSPACE_MARKER)
        .expect(
            !outcome
                .outcome
                .serial_contains(init_script::INSMOD_FAILED_PREFIX),
            "every virtio module loads",
        )
        .expect(!log.contains(MOUNT_FAILED), "/dev/vda mounts as ext2")
        .expect_line(&format!("{SHA256_PREFIX}{hello_sha256}"))
        .expect_line(&format!("{RAW_SHA256_PREFIX}{raw_sha256}"))
        .expect_line(HVC_TEXT)
        .expect_line(REBOOT_MARKER)
        .expect_line("HV-DISK debian disk begin")
        .expect_success();
    let written: Vec<&WriteBack> = outcome
        .outcome
        .disk_write_back
        .iter()
        .filter(|write_back| write_back.is_written())
        .collect();
    outcome.expect(
        matches!(written.as_slice(), [WriteBack::Written { path, sectors, .. }] if *path == disk && *sectors > 0),
        &format!(
            "the disk is written back once: {:?}",
            outcome.outcome.disk_write_back
        ),
    );
    let read_back = output_of(
        Command::new(e2fsprogs("debugfs"))
            .args(["-R", "cat /written.txt"])
            .arg(&disk),
    );
    outcome.expect(
        read_back.trim_end() == WRITTEN_TEXT,
        &format!("debugfs reads back what the guest wrote, got {read_back:?}"),
    );
    outcome
}
