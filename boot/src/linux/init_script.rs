//! The `/init` scripts the initramfs can carry. The kernel runs `/init` as process 1 (Linux
//! `Documentation/filesystems/ramfs-rootfs-initramfs.rst`); ours are busybox `sh` scripts that
//! first install busybox's applet links and mount `proc`, `sysfs` and `devtmpfs` (the Debian
//! kernel does not mount devtmpfs by itself: `CONFIG_DEVTMPFS_MOUNT` is off), then run a body.
//!
//! The lines the scripts print begin with `HV-LINUX-` so a test can find them in the serial log
//! among the kernel's messages. `reboot -f` ends the VM through the i8042 reset line (the kernel's
//! default `reboot=` method falls back to the keyboard controller), which the hypervisor reports
//! as success; `poweroff -f` would only halt without ACPI.

/// Printed once userspace runs: the boot reached `/init`.
pub const USERSPACE_MARKER: &str = "HV-LINUX-MARKER: userspace up";
/// Printed before the first copy of `/proc/interrupts`.
pub const INTERRUPTS_BEGIN: &str = "HV-LINUX-INTERRUPTS-BEGIN";
/// Printed after each copy of `/proc/interrupts`.
pub const INTERRUPTS_END: &str = "HV-LINUX-INTERRUPTS-END";
/// Starts the line with the RTC's date (`date -u`, ISO 8601).
pub const DATE_PREFIX: &str = "HV-LINUX-DATE: ";
/// Starts the line with `uname -a`.
pub const UNAME_PREFIX: &str = "HV-LINUX-UNAME: ";
/// Printed just before `reboot -f`.
pub const REBOOT_MARKER: &str = "HV-LINUX-MARKER: rebooting";
/// Printed by the virtio snippet for a module `insmod` refused; the module's path follows.
pub const INSMOD_FAILED_PREFIX: &str = "HV-LINUX-INSMOD-FAILED: ";
/// Where busybox is in the initramfs; the scripts' interpreter.
pub const BUSYBOX_IN_ARCHIVE: &str = "/bin/busybox";
/// Guest-time pause between the two copies of `/proc/interrupts` in [`marker_test`], in seconds
/// (busybox `sleep` takes fractions): long enough for dozens of timer ticks at `HZ=250`.
pub const TICK_PAUSE_SECONDS: &str = "0.2";

/// What every script runs first: applet links, then the kernel's virtual file systems.
const PRELUDE: &str = "\
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
";

/// `body` as a complete `/init`: the busybox interpreter line and the prelude first.
pub fn script(body: &str) -> String {
    format!("#!{BUSYBOX_IN_ARCHIVE} sh\n{PRELUDE}{body}")
}

/// The test init: prints [`USERSPACE_MARKER`], `/proc/interrupts` twice around a short sleep (the
/// timer line must grow between them), the date from the RTC after [`DATE_PREFIX`], `uname -a`
/// after [`UNAME_PREFIX`], then [`REBOOT_MARKER`] and reboots.
pub fn marker_test() -> String {
    script(&format!(
        "echo '{USERSPACE_MARKER}'
echo '{INTERRUPTS_BEGIN}'
cat /proc/interrupts
echo '{INTERRUPTS_END}'
sleep {TICK_PAUSE_SECONDS}
echo '{INTERRUPTS_BEGIN}'
cat /proc/interrupts
echo '{INTERRUPTS_END}'
echo \"{DATE_PREFIX}$(date -u +%Y-%m-%dT%H:%M:%SZ)\"
echo \"{UNAME_PREFIX}$(uname -a)\"
echo '{REBOOT_MARKER}'
reboot -f
"
    ))
}

/// The interactive init for `cargo run`: prints [`USERSPACE_MARKER`], gives the console a login
/// shell with job control (`setsid cttyhack`), and reboots (ending the VM) when it exits.
pub fn interactive_shell() -> String {
    script(&format!(
        "echo '{USERSPACE_MARKER}'
echo 'busybox shell on the console; exit or `reboot -f` ends the VM'
setsid cttyhack sh -l
echo '{REBOOT_MARKER}'
reboot -f
"
    ))
}

/// Shell lines loading the modules listed in `order_file` (absolute paths, one per line, in
/// dependency order) with `insmod`, printing [`INSMOD_FAILED_PREFIX`] for each refusal.
pub fn load_modules(order_file: &str) -> String {
    format!(
        "for module in $(cat {order_file}); do
    insmod \"$module\" || echo \"{INSMOD_FAILED_PREFIX}$module\"
done
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_start_with_the_busybox_interpreter_and_mount_devtmpfs() {
        for text in [marker_test(), interactive_shell(), script("true\n")] {
            assert!(text.starts_with("#!/bin/busybox sh\n/bin/busybox --install -s\n"));
            assert!(text.contains("mount -t devtmpfs devtmpfs /dev\n"));
        }
    }

    #[test]
    fn marker_test_prints_markers_in_order_and_ends_with_reboot() {
        let text = marker_test();
        let at = |needle: &str| text.find(needle).expect(needle);
        assert!(at(USERSPACE_MARKER) < at("cat /proc/interrupts"));
        assert!(at("sleep 0.2") < text.rfind("cat /proc/interrupts").expect("second copy"));
        assert!(at(DATE_PREFIX) < at(UNAME_PREFIX));
        assert!(at(UNAME_PREFIX) < at(REBOOT_MARKER));
        assert!(text.ends_with("reboot -f\n"));
        assert_eq!(text.matches(INTERRUPTS_BEGIN).count(), 2);
    }

    #[test]
    fn module_loader_reads_the_order_file() {
        assert_eq!(
            load_modules("/lib/modules/virtio.order"),
            "for module in $(cat /lib/modules/virtio.order); do\n    insmod \"$module\" || echo \"HV-LINUX-INSMOD-FAILED: $module\"\ndone\n"
        );
    }
}
