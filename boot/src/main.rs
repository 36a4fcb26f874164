//! `boot`: the command-line host tool. `cargo run` at the workspace root builds the kernel, makes a
//! disk image and runs the hypervisor in an emulator; `boot images` writes USB-stick images.
//! The process exits with the hypervisor's status (0 on success; see [`boot::exit`] for the rest).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use boot::config::LINUX_CONFIG_PATH;
use boot::image::write_images;
use boot::{
    BootError, DEFAULT_CPUS, DEFAULT_MEMORY_MIB, DEFAULT_TIMEOUT, Emulator, Firmware, HostProbe,
    KERNEL_PATH, RunConfig, run_cancellable,
};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Exit code when the tool itself failed (bad option, missing tools, I/O error).
const EXIT_TOOL_ERROR: u8 = 2;
/// Exit code after Ctrl-C / SIGTERM (128 + SIGINT, as shells report it).
const EXIT_CANCELLED: u8 = 130;

/// Set by SIGINT/SIGTERM; the supervisor then kills the emulator and cleans up.
static CANCEL: AtomicBool = AtomicBool::new(false);

/// Builds and runs the hypervisor in an emulator, or writes bootable disk images.
#[derive(Debug, Parser)]
#[command(name = "boot", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Boot the hypervisor in an emulator (the default).
    Run(RunArgs),
    /// Write bios.img and uefi.img for a USB stick or another machine.
    Images(ImagesArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EmulatorArg {
    /// QEMU on KVM when the host offers nested VT-x, else Bochs.
    Auto,
    /// QEMU with TCG (no VT-x: boot paths only).
    Qemu,
    /// QEMU on KVM with the host CPU (needs nested VT-x).
    QemuKvm,
    /// Bochs, which emulates VT-x with EPT (BIOS only).
    Bochs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FirmwareArg {
    /// Legacy BIOS, MBR image.
    Bios,
    /// UEFI (OVMF under QEMU), GPT image.
    Uefi,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Which emulator runs the hypervisor.
    #[arg(long, value_enum, default_value_t = EmulatorArg::Auto)]
    emulator: EmulatorArg,
    /// Which firmware boots it.
    #[arg(long, value_enum, default_value_t = FirmwareArg::Bios)]
    firmware: FirmwareArg,
    /// Machine memory in MiB [default: 256, or what a configuration needs rounded up to whole
    /// GiB when that is more].
    #[arg(long, value_name = "MIB")]
    memory: Option<u32>,
    /// Number of virtual CPUs.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CPUS)]
    cpus: u32,
    /// Kill the emulator after this many seconds [default: 60, or 3600 when a configuration
    /// boots Linux: its shell waits on the console].
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
    /// The kernel command line (written into the ramdisk), e.g. "test=exceptions".
    #[arg(long, default_value = "")]
    cmdline: String,
    /// Also write COM2's output to this file.
    #[arg(long, value_name = "FILE")]
    com2: Option<PathBuf>,
    /// Put a file into the boot ramdisk under NAME (guest images), e.g. `hello.elf=path/to/elf`.
    #[arg(long = "file", value_name = "NAME=PATH", value_parser = parse_file_arg)]
    files: Vec<(String, PathBuf)>,
    /// Run the VMs of this configuration file (TOML; see boot/configs/), e.g.
    /// `boot/configs/demo.toml`.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Boot Debian's packaged Linux kernel (fetched with `apt-get download` into a cache)
    /// with a busybox initramfs to a shell prompt on the console: the configuration
    /// `boot/configs/linux.toml`.
    #[arg(long, conflicts_with = "config")]
    linux: bool,
    /// Do not copy COM1 to the terminal while the guest runs.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct ImagesArgs {
    /// Directory for bios.img and uefi.img.
    #[arg(long, value_name = "DIR", default_value = "target/images")]
    out: PathBuf,
    /// The kernel command line baked into the images' ramdisk.
    #[arg(long, default_value = "")]
    cmdline: String,
    /// Bake the VMs of this configuration file (TOML) into the images' ramdisk.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Images(args)) => images(&args),
        Some(Command::Run(args)) => run(&args),
        None => run(&cli.run),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(BootError::Cancelled) => {
            eprintln!("boot: cancelled");
            ExitCode::from(EXIT_CANCELLED)
        }
        Err(error) => {
            eprintln!("boot: error: {error}");
            ExitCode::from(EXIT_TOOL_ERROR)
        }
    }
}

fn run(args: &RunArgs) -> Result<u8, BootError> {
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, &CANCEL)
            .map_err(|error| BootError::io("installing the signal handler", error))?;
    }
    let emulator = match args.emulator {
        EmulatorArg::Auto => {
            let picked = HostProbe::detect().pick_emulator();
            eprintln!("boot: --emulator auto picked {picked}");
            picked
        }
        EmulatorArg::Qemu => Emulator::Qemu,
        EmulatorArg::QemuKvm => Emulator::QemuKvm,
        EmulatorArg::Bochs => Emulator::Bochs,
    };
    let mut config = RunConfig::new(emulator);
    config.firmware = match args.firmware {
        FirmwareArg::Bios => Firmware::Bios,
        FirmwareArg::Uefi => Firmware::Uefi,
    };
    config.memory_mib = args.memory.unwrap_or(DEFAULT_MEMORY_MIB);
    config.cpus = args.cpus;
    config.cmdline.clone_from(&args.cmdline);
    config.com2_file.clone_from(&args.com2);
    config.files.clone_from(&args.files);
    // `--linux` is the configuration boot/configs/linux.toml.
    let config_path = if args.linux {
        Some(Path::new(LINUX_CONFIG_PATH))
    } else {
        args.config.as_deref()
    };
    if let Some(path) = config_path {
        config = config
            .with_vm_config(path)
            .map_err(|error| BootError::Unsupported(error.to_string()))?;
    }
    // With nothing asked for, a machine with VT-x runs the demo: two VMs (boot/configs/demo.toml).
    if config.cmdline.is_empty() && config.files.is_empty() && emulator != Emulator::Qemu {
        config = config
            .with_vm_config(Path::new(boot::config::DEMO_CONFIG_PATH))
            .map_err(|error| BootError::Unsupported(error.to_string()))?;
    }
    // Without --memory, a configuration that needs more than the default gets whole GiB.
    if args.memory.is_none()
        && let Some(needed) = config.memory_needed_mib()
        && needed > u64::from(config.memory_mib)
    {
        config.memory_mib = whole_gib(needed);
    }
    config.timeout = match args.timeout {
        Some(seconds) => Duration::from_secs(seconds),
        // A Linux guest's shell waits on the console: only a generous limit ends the run.
        None if runs_linux(&config) => LINUX_SHELL_TIMEOUT,
        None => DEFAULT_TIMEOUT,
    };
    config.stream = !args.quiet;
    eprintln!(
        "boot: {} {} run, {} MiB, {} CPU(s), timeout {} s, cmdline {:?}",
        config.emulator,
        config.firmware,
        config.memory_mib,
        config.cpus,
        config.timeout.as_secs(),
        config.cmdline
    );
    let outcome = run_cancellable(&config, &CANCEL)?;
    for write_back in &outcome.disk_write_back {
        eprintln!("boot: {write_back}");
    }
    if outcome.verdict.is_success() {
        eprintln!(
            "boot: {} in {:.2} s",
            outcome.verdict,
            outcome.duration.as_secs_f64()
        );
    } else if config.stream {
        // COM1 is already on the terminal: add only the verdict and the emulator's view.
        eprintln!(
            "boot: {} run: {} after {:.2} s",
            outcome.emulator,
            outcome.verdict,
            outcome.duration.as_secs_f64()
        );
        if !outcome.emulator_log.trim().is_empty() {
            eprint!("--- emulator diagnostics ---\n{}", outcome.emulator_log);
        }
    } else {
        eprint!("boot: {}", outcome.failure_report());
    }
    Ok(outcome.verdict.process_exit_code())
}

/// How long a run whose configuration boots Linux may take without `--timeout`: its shell
/// waits on the console.
const LINUX_SHELL_TIMEOUT: Duration = Duration::from_secs(3600);
/// MiB in a GiB: machine memory chosen for a configuration is a whole number of these.
const GIB_MIB: u64 = 1024;

/// `mib` rounded up to whole GiB, as machine memory (saturating: the runner refuses sizes past
/// its maximum with a message).
fn whole_gib(mib: u64) -> u32 {
    u32::try_from(mib.div_ceil(GIB_MIB).saturating_mul(GIB_MIB)).unwrap_or(u32::MAX)
}

/// Whether the run's VM configuration boots a Linux guest.
fn runs_linux(config: &RunConfig) -> bool {
    config
        .vm_config
        .as_deref()
        .and_then(|bytes| devices::vm_config::decode(bytes).ok())
        .is_some_and(|machine| {
            machine
                .vms
                .iter()
                .any(|vm| matches!(vm.guest, devices::vm_config::Guest::Linux { .. }))
        })
}

/// `NAME=PATH` of `--file`.
fn parse_file_arg(text: &str) -> Result<(String, PathBuf), String> {
    let (name, path) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not NAME=PATH"))?;
    if name.is_empty() || path.is_empty() {
        return Err(format!("`{text}` is not NAME=PATH"));
    }
    Ok((name.to_string(), PathBuf::from(path)))
}

fn images(args: &ImagesArgs) -> Result<u8, BootError> {
    let mut run = RunConfig::new(Emulator::Qemu).with_cmdline(args.cmdline.clone());
    if let Some(path) = &args.config {
        run = run
            .with_vm_config(path)
            .map_err(|error| BootError::Unsupported(error.to_string()))?;
    }
    let ramdisk = run.ramdisk();
    let (bios, uefi) = write_images(std::path::Path::new(KERNEL_PATH), &ramdisk, &args.out)?;
    println!("wrote {}", bios.display());
    println!("wrote {}", uefi.display());
    println!();
    println!("Write one to a USB stick (this erases /dev/sdX; check the name with `lsblk`):");
    println!(
        "  BIOS/CSM machines: sudo dd if={} of=/dev/sdX bs=4M conv=fsync",
        bios.display()
    );
    println!(
        "  UEFI machines:     sudo dd if={} of=/dev/sdX bs=4M conv=fsync",
        uefi.display()
    );
    println!(
        "The machine needs VT-x enabled in its firmware settings; output goes to the screen and COM1."
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chosen_machine_memory_is_whole_gib() {
        assert_eq!(whole_gib(1), 1024);
        assert_eq!(whole_gib(306), 1024);
        assert_eq!(whole_gib(1024), 1024);
        assert_eq!(whole_gib(1025), 2048);
        assert_eq!(whole_gib(u64::MAX), u32::MAX);
    }

    #[test]
    fn linux_is_a_configuration_and_excludes_another() {
        let cli = Cli::try_parse_from(["boot", "--linux"]).expect("--linux alone");
        assert!(cli.run.linux && cli.run.config.is_none());
        assert!(Cli::try_parse_from(["boot", "--linux", "--config", "x.toml"]).is_err());
        assert!(Path::new(LINUX_CONFIG_PATH).is_file());
    }
}
