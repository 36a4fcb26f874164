//! `boot`: the command-line host tool. `cargo run` at the workspace root builds the kernel, makes a
//! disk image and runs the hypervisor in an emulator; `boot images` writes USB-stick images.
//! The process exits with the hypervisor's status (0 on success; see [`boot::exit`] for the rest).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

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
    /// Guest memory in MiB.
    #[arg(long, value_name = "MIB", default_value_t = DEFAULT_MEMORY_MIB)]
    memory: u32,
    /// Number of virtual CPUs.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CPUS)]
    cpus: u32,
    /// Kill the emulator after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_TIMEOUT.as_secs())]
    timeout: u64,
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
    /// with a busybox initramfs to a shell prompt on the console.
    #[arg(long)]
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
    config.memory_mib = args.memory;
    config.cpus = args.cpus;
    config.timeout = Duration::from_secs(args.timeout);
    config.cmdline.clone_from(&args.cmdline);
    config.com2_file.clone_from(&args.com2);
    config.files.clone_from(&args.files);
    if let Some(path) = &args.config {
        config = config
            .with_vm_config(path)
            .map_err(|error| BootError::Unsupported(error.to_string()))?;
    }
    // Held until the run ends: the initramfs and command-line files live there.
    let _linux_files = if args.linux {
        Some(add_linux_shell(&mut config)?)
    } else {
        None
    };
    // With nothing asked for, a machine with VT-x runs the demo: two VMs (boot/configs/demo.toml).
    if config.cmdline.is_empty() && config.files.is_empty() && emulator != Emulator::Qemu {
        config = config
            .with_vm_config(std::path::Path::new(boot::config::DEMO_CONFIG_PATH))
            .map_err(|error| BootError::Unsupported(error.to_string()))?;
    }
    config.stream = !args.quiet;
    eprintln!(
        "boot: {} {} run, {} MiB, {} CPU(s), timeout {} s, cmdline {:?}",
        config.emulator,
        config.firmware,
        config.memory_mib,
        config.cpus,
        args.timeout,
        config.cmdline
    );
    let outcome = run_cancellable(&config, &CANCEL)?;
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

/// Machine memory for `--linux` (the VM takes 256 MiB of it).
const LINUX_MACHINE_MIB: u32 = 1024;
/// How long a `--linux` shell may run.
const LINUX_SHELL_TIMEOUT: Duration = Duration::from_secs(3600);

/// `--linux`: fetch the Debian kernel and busybox, build an initramfs whose init starts a shell
/// on the console, and run it as VM `debian` (256 MiB; the machine gets at least 1 GiB).
fn add_linux_shell(config: &mut RunConfig) -> Result<tempfile::TempDir, BootError> {
    use boot::linux::{self, InitramfsSpec};
    let fail = |error: linux::LinuxError| BootError::Unsupported(format!("Linux guest: {error}"));
    let assets = linux::assets(&linux::default_cache_dir()).map_err(fail)?;
    let dir = tempfile::tempdir()
        .map_err(|error| BootError::io("creating a directory for the Linux files", error))?;
    let initrd = dir.path().join("debian.initrd");
    linux::initramfs(&assets, &InitramfsSpec::interactive_shell(), &initrd).map_err(fail)?;
    let cmdline = dir.path().join("debian.cmdline");
    std::fs::write(&cmdline, "console=ttyS0")
        .map_err(|error| BootError::io("writing the Linux command line", error))?;
    let base = std::mem::replace(config, RunConfig::new(config.emulator));
    *config = base
        .with_cmdline("vms=debian.bzimage vm_ram_mib=256")
        .with_file("debian.bzimage", &assets.bzimage)
        .with_file("debian.initrd", &initrd)
        .with_file("debian.cmdline", &cmdline);
    config.memory_mib = config.memory_mib.max(LINUX_MACHINE_MIB);
    // An interactive shell: only a generous limit ends the run.
    config.timeout = config.timeout.max(LINUX_SHELL_TIMEOUT);
    Ok(dir)
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
