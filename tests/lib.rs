//! Shared helpers for the integration tests: boot the hypervisor with a command line, and
//! judge the run with the serial output shown whenever a check fails.

use std::time::Duration;

use boot::{Emulator, Firmware, RunConfig, RunOutcome, Verdict};

/// A QEMU TCG run is ~1 s; the limit only catches hangs.
pub const QEMU_TIMEOUT: Duration = Duration::from_secs(120);
/// A Bochs run is a few seconds; the limit only catches hangs.
pub const BOCHS_TIMEOUT: Duration = Duration::from_secs(240);

/// Boot the hypervisor once and return what happened; a run that could not even start
/// (missing emulator, image failure) fails the test.
pub fn boot(config: RunConfig) -> Outcome {
    let description = format!(
        "{} {} `{}`",
        config.emulator, config.firmware, config.cmdline
    );
    match boot::run(&config) {
        Ok(outcome) => Outcome {
            description,
            outcome,
        },
        Err(error) => panic!("{description}: could not run: {error}"),
    }
}

/// A QEMU TCG BIOS run with `cmdline`.
pub fn qemu(cmdline: &str) -> RunConfig {
    RunConfig::new(Emulator::Qemu)
        .with_cmdline(cmdline)
        .with_timeout(QEMU_TIMEOUT)
}

/// A QEMU TCG UEFI run with `cmdline`.
pub fn qemu_uefi(cmdline: &str) -> RunConfig {
    qemu(cmdline).with_firmware(Firmware::Uefi)
}

/// A Bochs (emulated VT-x) run with `cmdline`.
pub fn bochs(cmdline: &str) -> RunConfig {
    RunConfig::new(Emulator::Bochs)
        .with_cmdline(cmdline)
        .with_timeout(BOCHS_TIMEOUT)
}

/// How the guest kit's `Checks` ends when every check passed: `<n> passed, 0 failed`.
pub const NOTHING_FAILED: &str = " passed, 0 failed";

/// One finished run, with assertions that show the console when they fail.
pub struct Outcome {
    description: String,
    pub outcome: RunOutcome,
}

impl Outcome {
    fn context(&self) -> String {
        format!(
            "{}: verdict {}\n--- last serial lines ---\n{}\n--- emulator ---\n{}",
            self.description,
            self.outcome.verdict,
            self.outcome.serial_tail(40).join("\n"),
            self.outcome
                .emulator_log
                .lines()
                .rev()
                .take(15)
                .collect::<Vec<_>>()
                .join("\n")
        )
    }

    /// The run must end with this verdict.
    pub fn expect_verdict(&self, verdict: Verdict) -> &Self {
        assert_eq!(self.outcome.verdict, verdict, "{}", self.context());
        self
    }

    /// `condition` must hold; `what` says what it means.
    pub fn expect(&self, condition: bool, what: &str) -> &Self {
        assert!(condition, "expected: {what}\n{}", self.context());
        self
    }

    /// The run must succeed.
    pub fn expect_success(&self) -> &Self {
        self.expect_verdict(Verdict::Success)
    }

    /// Some console line must contain `needle`.
    pub fn expect_line(&self, needle: &str) -> &Self {
        assert!(
            self.outcome
                .serial
                .lines()
                .any(|line| line.contains(needle)),
            "expected a console line containing `{needle}`\n{}",
            self.context()
        );
        self
    }

    /// A guest that reports its checks with the guest kit's `Checks` passed them all: no
    /// `[vm] FAIL:` line, its own `[vm] <n> passed, 0 failed` line, and `VM vm: exited with
    /// status 0`.
    pub fn expect_guest_checks_pass(&self, vm: &str) -> &Self {
        let failed = format!("[{vm}] FAIL:");
        let failures: Vec<&str> = self
            .outcome
            .serial
            .lines()
            .filter(|line| line.contains(&failed))
            .collect();
        assert!(
            failures.is_empty(),
            "{vm}: failed checks:\n{}\n{}",
            failures.join("\n"),
            self.context()
        );
        let tag = format!("[{vm}] ");
        assert!(
            self.outcome
                .serial
                .lines()
                .any(|line| line.starts_with(&tag) && line.ends_with(NOTHING_FAILED)),
            "VM {vm} must report `<n>{NOTHING_FAILED}`\n{}",
            self.context()
        );
        self.expect_line(&format!("VM {vm}: exited with status 0"))
    }

    /// The first console line containing `needle`.
    pub fn line_with(&self, needle: &str) -> &str {
        self.outcome
            .serial
            .lines()
            .find(|line| line.contains(needle))
            .unwrap_or_else(|| panic!("no console line containing `{needle}`\n{}", self.context()))
    }
}
