//! One complete run: check the host, build the disk image in a private temporary directory,
//! start the emulator, supervise it, judge the outcome, and write the guests' disk changes back
//! into the configuration's disk images when the verdict allows it
//! ([`crate::disk_writeback`]). The directory (image, Bochs files) is removed when the run
//! ends, whatever the outcome.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::bochs::{self, BochsFiles};
use crate::config::{Emulator, Firmware, RunConfig};
use crate::disk_writeback::{self, WriteBack};
use crate::error::BootError;
use crate::exit::{EmulatorEnd, Verdict, judge};
use crate::host::ensure_tools;
use crate::image::build_image;
use crate::qemu::qemu_command;
use crate::serial::SerialLog;
use crate::supervise::{Limits, supervise};

/// Most virtual CPUs a run may ask for.
pub const MAX_CPUS: u32 = 64;
/// Least guest memory a run may ask for, in MiB (the bootloader needs room for its page tables).
pub const MIN_MEMORY_MIB: u32 = 32;
/// Most guest memory a run may ask for, in MiB.
pub const MAX_MEMORY_MIB: u32 = 64 * 1024;
/// Serial lines shown when a run fails.
pub const FAILURE_TAIL_LINES: usize = 25;

/// The result of a run that reached a verdict.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The emulator that ran.
    pub emulator: Emulator,
    /// The status from the `HV-EXIT` line, if the kernel printed one.
    pub status: Option<u32>,
    /// The judgement.
    pub verdict: Verdict,
    /// COM1, cleaned (no NULs, carriage returns or escape sequences), one `\n` per line.
    pub serial: String,
    /// The emulator's exit code (`None` when it was killed or ended by a signal).
    pub exit_code: Option<i32>,
    /// Wall-clock time from the emulator's start to its end (image building excluded).
    pub duration: Duration,
    /// The emulator's own diagnostics: QEMU's stderr, or Bochs' stderr and the end of its log.
    pub emulator_log: String,
    /// What became of each disk dump the kernel printed: written back into its image, or
    /// refused (the sector lines themselves are not in [`RunOutcome::serial`]).
    pub disk_write_back: Vec<WriteBack>,
}

impl RunOutcome {
    /// The last `count` lines of COM1.
    pub fn serial_tail(&self, count: usize) -> Vec<&str> {
        let lines: Vec<&str> = self.serial.lines().collect();
        let skip = lines.len().saturating_sub(count);
        lines[skip..].to_vec()
    }

    /// Whether the serial output contains `needle` on some line.
    pub fn serial_contains(&self, needle: &str) -> bool {
        self.serial.lines().any(|line| line.contains(needle))
    }

    /// A multi-line report for a failed run: verdict, last serial lines, emulator diagnostics.
    pub fn failure_report(&self) -> String {
        let mut report = format!(
            "{} run: {} after {:.1} s\n--- last COM1 lines ---\n",
            self.emulator,
            self.verdict,
            self.duration.as_secs_f64()
        );
        for line in self.serial_tail(FAILURE_TAIL_LINES) {
            report.push_str(line);
            report.push('\n');
        }
        for write_back in &self.disk_write_back {
            report.push_str(&format!("boot: {write_back}\n"));
        }
        if !self.emulator_log.trim().is_empty() {
            report.push_str("--- emulator diagnostics ---\n");
            report.push_str(&self.emulator_log);
        }
        report
    }
}

/// Checks what can be checked without running anything.
pub fn validate(config: &RunConfig) -> Result<(), BootError> {
    if config.emulator == Emulator::Bochs && config.firmware == Firmware::Uefi {
        return Err(BootError::Unsupported(
            "Bochs boots BIOS firmware only here (no UEFI firmware for Bochs is packaged); \
             use --firmware bios, or --emulator qemu / qemu-kvm for UEFI"
                .into(),
        ));
    }
    if !(1..=MAX_CPUS).contains(&config.cpus) {
        return Err(BootError::Unsupported(format!(
            "{} CPUs requested; 1 to {MAX_CPUS} are possible",
            config.cpus
        )));
    }
    if !(MIN_MEMORY_MIB..=MAX_MEMORY_MIB).contains(&config.memory_mib) {
        return Err(BootError::Unsupported(format!(
            "{} MiB of memory requested; {MIN_MEMORY_MIB} to {MAX_MEMORY_MIB} MiB are possible",
            config.memory_mib
        )));
    }
    if let Some(needed) = config.memory_needed_mib()
        && needed > u64::from(config.memory_mib)
    {
        let disks = if config.write_back.is_empty() {
            ""
        } else {
            " (the disks are in the ramdisk and in the hypervisor's heap)"
        };
        return Err(BootError::Unsupported(format!(
            "{} MiB of machine memory cannot hold the VMs' RAM, the hypervisor's heap and the \
             ramdisk{disks}: at least {needed} MiB are needed (--memory {needed})",
            config.memory_mib
        )));
    }
    Ok(())
}

/// Runs the hypervisor once as `config` says and judges the run.
pub fn run(config: &RunConfig) -> Result<RunOutcome, BootError> {
    run_cancellable(config, &AtomicBool::new(false))
}

/// As [`run`], but setting `cancel` kills the emulator and returns [`BootError::Cancelled`].
pub fn run_cancellable(config: &RunConfig, cancel: &AtomicBool) -> Result<RunOutcome, BootError> {
    validate(config)?;
    ensure_tools(config.emulator, config.firmware)?;
    let dir = tempfile::Builder::new()
        .prefix(&format!("hv-{}-", config.emulator))
        .tempdir()
        .map_err(|error| BootError::io("creating the run directory", error))?;
    let bochs_files = BochsFiles::in_dir(dir.path(), config.com2_file.clone());
    // The image is built inside the private directory: every run has its own copy.
    build_image(
        &config.kernel,
        config.firmware,
        &config.ramdisk(),
        &bochs_files.image,
    )?;
    let (command, source) = match config.emulator {
        Emulator::Qemu | Emulator::QemuKvm => qemu_command(config, &bochs_files.image),
        Emulator::Bochs => bochs::prepare(config, dir.path(), &bochs_files)?,
    };
    let supervised = supervise(
        command,
        source,
        SerialLog::with_write_back(&config.write_back),
        Limits::with_timeout(config.timeout),
        config.stream,
        cancel,
    )?;
    let mut serial = supervised.serial;
    let status = serial.exit_status();
    let emulator_log = match config.emulator {
        Emulator::Bochs => bochs::diagnostics(&supervised.stderr, &bochs_files),
        Emulator::Qemu | Emulator::QemuKvm => supervised.stderr,
    };
    let exit_code = match supervised.end {
        EmulatorEnd::Exited { code } => code,
        EmulatorEnd::TimedOut | EmulatorEnd::KilledAfterExitLine => None,
    };
    let verdict = judge(config.emulator, status, supervised.end);
    let dumps = serial.take_disk_dumps();
    let disk_write_back = if disk_writeback::run_allows_write_back(verdict) {
        disk_writeback::write_back(dumps, &config.write_back)
    } else {
        disk_writeback::refuse_all(dumps, verdict)
    };
    let outcome = RunOutcome {
        emulator: config.emulator,
        status,
        verdict,
        serial: serial.text(),
        exit_code,
        duration: supervised.duration,
        emulator_log,
        disk_write_back,
    };
    // Removing the directory takes the image copy, Bochs' lock file, script and logs with it.
    dir.close()
        .map_err(|error| BootError::io("removing the run directory", error))?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bochs_with_uefi_is_rejected() {
        let config = RunConfig::new(Emulator::Bochs).with_firmware(Firmware::Uefi);
        let error = validate(&config).expect_err("Bochs has no UEFI here");
        assert!(error.to_string().contains("BIOS firmware only"));
    }

    #[test]
    fn cpu_and_memory_bounds_are_checked() {
        let mut config = RunConfig::new(Emulator::Qemu);
        config.cpus = 0;
        assert!(validate(&config).is_err());
        config.cpus = MAX_CPUS;
        assert!(validate(&config).is_ok());
        config.memory_mib = MIN_MEMORY_MIB - 1;
        assert!(validate(&config).is_err());
    }

    #[test]
    fn machine_memory_must_hold_the_vms_heap_and_ramdisk() {
        let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/demo.toml");
        let mut config = RunConfig::new(Emulator::Bochs)
            .with_vm_config(&demo)
            .expect("demo config");
        assert!(validate(&config).is_ok(), "256 MiB hold two 32 MiB VMs");
        config.memory_mib = 64;
        let error = validate(&config).expect_err("two 32 MiB VMs and a 16 MiB heap");
        assert!(
            error.to_string().contains("at least 97 MiB are needed"),
            "{error}"
        );
    }

    #[test]
    fn serial_tail_returns_last_lines() {
        let outcome = RunOutcome {
            emulator: Emulator::Qemu,
            status: Some(0),
            verdict: Verdict::Success,
            serial: "a\nb\nc\nHV-EXIT status=0\n".into(),
            exit_code: Some(1),
            duration: Duration::from_millis(900),
            emulator_log: String::new(),
            disk_write_back: Vec::new(),
        };
        assert_eq!(outcome.serial_tail(2), vec!["c", "HV-EXIT status=0"]);
        assert!(outcome.serial_contains("HV-EXIT"));
        assert!(outcome.failure_report().contains("qemu run: success"));
    }
}
