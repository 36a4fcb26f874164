//! QEMU command lines (QEMU 7.2 system emulator, `qemu-system-x86_64`).
//!
//! Every run: `-no-reboot` (a triple fault ends QEMU instead of resetting), no display, no
//! monitor, COM1 on stdio, the `isa-debug-exit` device at port 0xF4 for the exit protocol, the
//! disk image as a raw IDE drive. TCG uses `-cpu max`; KVM uses `-accel kvm -cpu host`, which
//! passes VT-x through when the host allows nested virtualisation. UEFI boots OVMF with `-bios`.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use crate::config::{Emulator, Firmware, RunConfig};
use crate::exit::{DEBUG_EXIT_IOSIZE, DEBUG_EXIT_PORT};
use crate::host::{OVMF_IMAGE, QEMU_PROGRAM};
use crate::supervise::SerialSource;

/// The `-device` value for the exit device.
pub fn debug_exit_device() -> String {
    format!("isa-debug-exit,iobase={DEBUG_EXIT_PORT:#x},iosize={DEBUG_EXIT_IOSIZE:#04x}")
}

/// QEMU option values separate sub-options with commas; a literal comma is written twice.
fn escape_option_value(path: &Path) -> OsString {
    let text = path.as_os_str().to_string_lossy();
    OsString::from(text.replace(',', ",,"))
}

/// The arguments of one QEMU run booting `image`.
pub fn qemu_args(config: &RunConfig, image: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    let mut push = |parts: &[&str]| args.extend(parts.iter().map(OsString::from));
    push(&["-no-reboot", "-display", "none", "-monitor", "none"]);
    push(&["-serial", "stdio"]);
    push(&["-device", &debug_exit_device()]);
    push(&["-m", &format!("{}M", config.memory_mib)]);
    push(&["-smp", &config.cpus.to_string()]);
    match config.emulator {
        Emulator::QemuKvm => push(&["-accel", "kvm", "-cpu", "host"]),
        Emulator::Qemu | Emulator::Bochs => push(&["-accel", "tcg", "-cpu", "max"]),
    }
    if config.firmware == Firmware::Uefi {
        push(&["-bios", OVMF_IMAGE]);
    }
    if let Some(com2) = &config.com2_file {
        args.push(OsString::from("-serial"));
        let mut value = OsString::from("file:");
        value.push(com2.as_os_str());
        args.push(value);
    }
    args.push(OsString::from("-drive"));
    let mut drive = OsString::from("format=raw,if=ide,file=");
    drive.push(escape_option_value(image));
    args.push(drive);
    args
}

/// The QEMU command for `config` booting `image`, and where its COM1 output appears.
pub fn qemu_command(config: &RunConfig, image: &Path) -> (Command, SerialSource) {
    let mut command = Command::new(QEMU_PROGRAM);
    command.args(qemu_args(config, image));
    (command, SerialSource::Stdout)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn strings(args: &[OsString]) -> Vec<String> {
        args.iter()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect()
    }

    fn value_after(args: &[String], flag: &str) -> Vec<String> {
        args.windows(2)
            .filter(|pair| pair[0] == flag)
            .map(|pair| pair[1].clone())
            .collect()
    }

    #[test]
    fn tcg_bios_run_has_exit_device_and_no_reboot() {
        let mut config = RunConfig::new(Emulator::Qemu);
        config.memory_mib = 512;
        config.cpus = 2;
        let args = strings(&qemu_args(&config, Path::new("/tmp/run/bios.img")));
        assert!(args.contains(&"-no-reboot".to_owned()));
        assert_eq!(
            value_after(&args, "-device"),
            vec!["isa-debug-exit,iobase=0xf4,iosize=0x04"]
        );
        assert_eq!(value_after(&args, "-serial"), vec!["stdio"]);
        assert_eq!(value_after(&args, "-display"), vec!["none"]);
        assert_eq!(value_after(&args, "-m"), vec!["512M"]);
        assert_eq!(value_after(&args, "-smp"), vec!["2"]);
        assert_eq!(value_after(&args, "-accel"), vec!["tcg"]);
        assert_eq!(value_after(&args, "-cpu"), vec!["max"]);
        assert!(value_after(&args, "-bios").is_empty());
        assert_eq!(
            value_after(&args, "-drive"),
            vec!["format=raw,if=ide,file=/tmp/run/bios.img"]
        );
    }

    #[test]
    fn kvm_run_uses_host_cpu() {
        let config = RunConfig::new(Emulator::QemuKvm);
        let args = strings(&qemu_args(&config, Path::new("x.img")));
        assert_eq!(value_after(&args, "-accel"), vec!["kvm"]);
        assert_eq!(value_after(&args, "-cpu"), vec!["host"]);
    }

    #[test]
    fn uefi_run_loads_ovmf() {
        let config = RunConfig::new(Emulator::Qemu).with_firmware(Firmware::Uefi);
        let args = strings(&qemu_args(&config, Path::new("uefi.img")));
        assert_eq!(value_after(&args, "-bios"), vec![OVMF_IMAGE]);
    }

    #[test]
    fn com2_file_becomes_second_serial_port() {
        let mut config = RunConfig::new(Emulator::Qemu);
        config.com2_file = Some(PathBuf::from("/tmp/com2.txt"));
        let args = strings(&qemu_args(&config, Path::new("x.img")));
        assert_eq!(
            value_after(&args, "-serial"),
            vec!["stdio", "file:/tmp/com2.txt"]
        );
    }

    #[test]
    fn comma_in_image_path_is_doubled() {
        let config = RunConfig::new(Emulator::Qemu);
        let args = strings(&qemu_args(&config, Path::new("/tmp/a,b/x.img")));
        assert_eq!(
            value_after(&args, "-drive"),
            vec!["format=raw,if=ide,file=/tmp/a,,b/x.img"]
        );
    }
}
