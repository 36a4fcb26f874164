//! A tally of a guest's checks: each check prints one line (`ok: …` or `FAIL: …`), and the
//! guest's exit status says whether all passed. A failing run thus reads as a list of what
//! held and what did not, on the hypervisor's console as `[<vm>] ok: …`.

use core::fmt;

use crate::{STATUS_FAILURE, STATUS_SUCCESS, println};

/// Counts passed and failed checks.
#[derive(Debug, Default)]
pub struct Checks {
    passed: u32,
    failed: u32,
}

impl Checks {
    /// No checks yet.
    pub const fn new() -> Self {
        Checks {
            passed: 0,
            failed: 0,
        }
    }

    /// Records `held` for the check `what`, printing `ok: what` or `FAIL: what`.
    pub fn check(&mut self, held: bool, what: fmt::Arguments<'_>) -> bool {
        self.record(held);
        if held {
            println!("ok: {what}");
        } else {
            println!("FAIL: {what}");
        }
        held
    }

    /// Counts a check that printed its own report.
    pub fn record(&mut self, held: bool) {
        if held {
            self.passed = self.passed.saturating_add(1);
        } else {
            self.failed = self.failed.saturating_add(1);
        }
    }

    /// Checks `actual == expected`, printing both on failure.
    pub fn equal<T: PartialEq + fmt::LowerHex>(
        &mut self,
        what: &str,
        actual: T,
        expected: T,
    ) -> bool {
        let held = actual == expected;
        self.check(
            held,
            format_args!("{what}: {actual:#x} (expected {expected:#x})"),
        )
    }

    /// Checks passed so far.
    pub const fn passed(&self) -> u32 {
        self.passed
    }

    /// Checks failed so far.
    pub const fn failed(&self) -> u32 {
        self.failed
    }

    /// Prints the summary line `<passed> passed, <failed> failed` and returns the exit status:
    /// success only if nothing failed and something was checked.
    pub fn finish(&self) -> u32 {
        println!("{} passed, {} failed", self.passed, self.failed);
        if self.failed == 0 && self.passed > 0 {
            STATUS_SUCCESS
        } else {
            STATUS_FAILURE
        }
    }
}
