//! Reading the serial log of a guest that ran [`init_script::marker_test`]: whether userspace
//! came up, the timer interrupt counts of each `/proc/interrupts` copy, the date and `uname -a`
//! lines, and whether init asked for the reboot. Tests judge a Linux boot with it and show the
//! whole log when a judgement fails.
//!
//! `/proc/interrupts` has one line per interrupt source, a label (`0:`, `LOC:`) and then one count
//! per CPU (Linux `fs/proc/interrupts.c`, `arch/x86/kernel/irq.c` `arch_show_interrupts`). The
//! timer ticks on IRQ 0 (PIT through the PIC or IO-APIC) until the kernel moves to the local APIC
//! timer (`LOC:`), so the ticks are the sum of both lines.

use super::init_script::{
    self, DATE_PREFIX, INTERRUPTS_BEGIN, INTERRUPTS_END, REBOOT_MARKER, UNAME_PREFIX,
    USERSPACE_MARKER,
};

/// The `/proc/interrupts` label of the PIT's IRQ 0.
pub const PIT_IRQ_LABEL: &str = "0:";
/// The `/proc/interrupts` label of the local APIC timer.
pub const LAPIC_TIMER_LABEL: &str = "LOC:";
/// Most `/proc/interrupts` copies read from one log.
pub const MAX_INTERRUPT_COPIES: usize = 16;

/// What a marker-test boot printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarkerReport {
    /// [`USERSPACE_MARKER`] was printed.
    pub userspace_up: bool,
    /// Timer ticks (IRQ 0 plus local APIC timer, all CPUs) in each `/proc/interrupts` copy.
    pub timer_ticks: Vec<u64>,
    /// The text after [`DATE_PREFIX`] (`2026-11-26T10:33:07Z`).
    pub date: Option<String>,
    /// The text after [`UNAME_PREFIX`].
    pub uname: Option<String>,
    /// [`REBOOT_MARKER`] was printed.
    pub rebooting: bool,
}

impl MarkerReport {
    /// Reads a serial log (kernel messages and init's output, in any line-ending style).
    pub fn parse(log: &str) -> Self {
        let mut report = Self::default();
        let mut copy: Option<u64> = None;
        for line in log.lines().map(str::trim) {
            if line == USERSPACE_MARKER {
                report.userspace_up = true;
            } else if line == REBOOT_MARKER {
                report.rebooting = true;
            } else if line == INTERRUPTS_BEGIN {
                copy = Some(0);
            } else if line == INTERRUPTS_END {
                if let Some(ticks) = copy.take()
                    && report.timer_ticks.len() < MAX_INTERRUPT_COPIES
                {
                    report.timer_ticks.push(ticks);
                }
            } else if let Some(date) = line.strip_prefix(DATE_PREFIX) {
                report.date = Some(date.to_string());
            } else if let Some(uname) = line.strip_prefix(UNAME_PREFIX) {
                report.uname = Some(uname.to_string());
            } else if let Some(ticks) = copy.as_mut() {
                *ticks = ticks.saturating_add(timer_count(line));
            }
        }
        report
    }

    /// Whether the timer ticked between the first and the last `/proc/interrupts` copy.
    pub fn timer_ticked(&self) -> bool {
        matches!((self.timer_ticks.first(), self.timer_ticks.last()),
            (Some(first), Some(last)) if last > first)
    }

    /// Whether the whole marker test ran: userspace, a ticking timer, a date, `uname`, reboot.
    pub fn complete(&self) -> bool {
        self.userspace_up
            && self.timer_ticked()
            && self.date.is_some()
            && self.uname.is_some()
            && self.rebooting
    }
}

/// The summed per-CPU counts of a `/proc/interrupts` line if it is a timer line, else 0.
fn timer_count(line: &str) -> u64 {
    let mut words = line.split_whitespace();
    match words.next() {
        Some(PIT_IRQ_LABEL | LAPIC_TIMER_LABEL) => words
            .map_while(|word| word.parse::<u64>().ok())
            .fold(0, u64::saturating_add),
        _ => 0,
    }
}

/// A ready judgement for the default `/init`: `Ok` with the report if the marker test completed,
/// else `Err` with what was missing followed by the whole log.
pub fn judge_marker_test(log: &str) -> Result<MarkerReport, String> {
    let report = MarkerReport::parse(log);
    if report.complete() {
        return Ok(report);
    }
    let mut missing = Vec::new();
    if !report.userspace_up {
        missing.push(format!("`{}`", init_script::USERSPACE_MARKER));
    }
    if !report.timer_ticked() {
        missing.push(format!("a ticking timer (counts {:?})", report.timer_ticks));
    }
    if report.date.is_none() {
        missing.push("the date".to_string());
    }
    if report.uname.is_none() {
        missing.push("uname".to_string());
    }
    if !report.rebooting {
        missing.push(format!("`{}`", init_script::REBOOT_MARKER));
    }
    Err(format!(
        "the Linux marker test is missing {}; guest log:\n{log}",
        missing.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Init's output from a bare QEMU boot of Debian's 6.1 cloud kernel, shortened.
    const QEMU_LOG: &str = "\
[    1.1] Run /init as init process
HV-LINUX-MARKER: userspace up
HV-LINUX-INTERRUPTS-BEGIN
           CPU0
  0:        113   IO-APIC   2-edge      timer
  1:          9   IO-APIC   1-edge      i8042
  8:          1   IO-APIC   8-edge      rtc0
LOC:        255   Local timer interrupts
SPU:          0   Spurious interrupts
HV-LINUX-INTERRUPTS-END
HV-LINUX-INTERRUPTS-BEGIN
           CPU0
  0:        113   IO-APIC   2-edge      timer
  1:          9   IO-APIC   1-edge      i8042
LOC:        268   Local timer interrupts
HV-LINUX-INTERRUPTS-END
HV-LINUX-DATE: 2026-11-26T10:33:07Z
HV-LINUX-UNAME: Linux (none) 6.1.0-56-cloud-amd64 #1 SMP PREEMPT_DYNAMIC x86_64 GNU/Linux
HV-LINUX-MARKER: rebooting
[    1.68] reboot: Restarting system
";

    #[test]
    fn qemu_log_reports_every_marker_and_lapic_ticks() {
        let report = MarkerReport::parse(QEMU_LOG);
        assert!(report.userspace_up);
        assert_eq!(report.timer_ticks, vec![113 + 255, 113 + 268]);
        assert!(report.timer_ticked());
        assert_eq!(report.date.as_deref(), Some("2026-11-26T10:33:07Z"));
        assert!(
            report
                .uname
                .as_deref()
                .is_some_and(|u| u.contains("6.1.0-56-cloud-amd64"))
        );
        assert!(report.rebooting);
        assert!(judge_marker_test(QEMU_LOG).is_ok());
    }

    #[test]
    fn pic_only_timer_counts_sum_all_cpus() {
        assert_eq!(timer_count("  0:   2000   17   XT-PIC  timer"), 2017);
        assert_eq!(timer_count(" 10:   5   XT-PIC  eth0"), 0);
        assert_eq!(timer_count("LOC:   7   Local timer interrupts"), 7);
    }

    #[test]
    fn stalled_timer_and_missing_reboot_are_named_with_the_log() {
        let log = QEMU_LOG.replace("LOC:        268", "LOC:        255");
        let log = log.replace("HV-LINUX-MARKER: rebooting\n", "");
        let error = judge_marker_test(&log).expect_err("incomplete");
        assert!(
            error.contains("a ticking timer (counts [368, 368])"),
            "{error}"
        );
        assert!(error.contains("`HV-LINUX-MARKER: rebooting`"), "{error}");
        assert!(error.ends_with(&log), "{error}");
    }

    #[test]
    fn crlf_serial_lines_are_read() {
        let report = MarkerReport::parse(&QEMU_LOG.replace('\n', "\r\n"));
        assert!(report.complete());
    }
}
