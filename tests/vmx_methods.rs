//! The four ways to build a device, and several VMs at once (issue 6), under the hypervisor in
//! Bochs (emulated VT-x). Every run boots a configuration file from `tests/configs/` through
//! [`RunConfig::with_vm_config`] (what `cargo run -- --config FILE` does), with the guests of
//! `tests/guests/` named as `builtin:NAME`. One test per method shows its defining property:
//!
//! - **passthrough** (`passthrough.toml`, guest `com2_passthrough`): the guest's line reaches
//!   the machine's real COM2 (Bochs writes it to a file) and no exit was counted on the
//!   passed-through ports, by the hypervisor (`VM pass: com2: 0 exits on passed-through ports
//!   0x2f8-0x2ff`) nor by the guest's own `EXIT_COUNT` hypercall;
//! - **mediated** (`mediated.toml`, guest `com2_mediated`): the denied scratchpad write never
//!   reaches the device (the guest reads the real register back) and is logged
//!   (`VM mediated: com2: out port 0x02ff …`), the allowed line reaches the COM2 file;
//! - **host-backed** (`host_backed.toml`, guest `chatter`): two VMs print long lines at the same
//!   time through the one real COM1 and every line arrives whole, tagged, in order;
//! - **full emulation**: every earlier Bochs test (`vmx_guests.rs`, `vmx_interrupts.rs`), and
//!   the emulated COM1 of `passthrough.toml`.
//!
//! Plus: memory isolation while time-sliced (`isolation.toml`), crash containment
//! (`crash.toml`), the documented refusals of bad configuration files (`bad_*.toml`, checked
//! with [`load_config`], no emulator), and the example configurations in `boot/configs/`.

use std::fs;
use std::path::{Path, PathBuf};

use boot::vm_config::{ConfigError, Invalid, Problem, load_config};
use boot::{RunConfig, Verdict};
use hv_tests::{Outcome, bochs, boot};

/// The hypervisor's exit status when some VM did not exit with status 0 (README, "Exit
/// status").
const STATUS_VM_FAILED: u32 = 5;

/// `tests/configs/NAME`.
fn test_config(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("configs")
        .join(name)
}

/// `boot/configs/NAME`: the examples `cargo run -- --config` documents.
fn example_config(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../boot/configs")
        .join(name)
}

/// A file under the system's temporary directory, removed when dropped.
struct TempFile {
    path: PathBuf,
}

impl TempFile {
    /// A fresh path `hv-tests-<pid>-<name>` (nothing is created).
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("hv-tests-{}-{name}", std::process::id()));
        // A leftover from an earlier run with the same process id would only confuse the check.
        let _ = fs::remove_file(&path);
        TempFile { path }
    }

    /// What the file holds, line ends normalised (`\r` dropped).
    fn text(&self) -> String {
        let bytes = fs::read(&self.path)
            .unwrap_or_else(|error| panic!("reading {}: {error}", self.path.display()));
        String::from_utf8_lossy(&bytes).replace('\r', "")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Boots the hypervisor under Bochs with the configuration at `path` (and COM2 written to
/// `com2`, if given), and prints how long the emulator ran.
fn run_config(path: &Path, com2: Option<&TempFile>) -> Outcome {
    let config = bochs("")
        .with_vm_config(path)
        .unwrap_or_else(|error| panic!("{} must be accepted: {error}", path.display()));
    let config: RunConfig = match com2 {
        Some(file) => config.with_com2_file(&file.path),
        None => config,
    };
    let outcome = boot(config);
    println!(
        "{}: {} in {:.2} s",
        path.display(),
        outcome.outcome.verdict,
        outcome.outcome.duration.as_secs_f64()
    );
    outcome
}

/// The console, for failure messages.
fn console(outcome: &Outcome) -> String {
    outcome.outcome.serial_tail(80).join("\n")
}

/// No console line may contain `needle`.
fn expect_no_line(outcome: &Outcome, needle: &str) {
    let offending: Vec<&str> = outcome
        .outcome
        .serial
        .lines()
        .filter(|line| line.contains(needle))
        .collect();
    assert!(
        offending.is_empty(),
        "no console line may contain `{needle}`, found:\n{}\n--- console ---\n{}",
        offending.join("\n"),
        console(outcome)
    );
}

/// The index of the first console line containing `needle`.
fn first_line(outcome: &Outcome, needle: &str) -> usize {
    outcome
        .outcome
        .serial
        .lines()
        .position(|line| line.contains(needle))
        .unwrap_or_else(|| {
            panic!(
                "no console line contains `{needle}`\n--- console ---\n{}",
                console(outcome)
            )
        })
}

/// The index of the last console line containing `needle`.
fn last_line(outcome: &Outcome, needle: &str) -> usize {
    let lines: Vec<&str> = outcome.outcome.serial.lines().collect();
    lines
        .iter()
        .rposition(|line| line.contains(needle))
        .unwrap_or_else(|| {
            panic!(
                "no console line contains `{needle}`\n--- console ---\n{}",
                console(outcome)
            )
        })
}

/// The console lines VM `vm` printed, without their `[vm] ` tag, in order.
fn vm_lines<'a>(outcome: &'a Outcome, vm: &str) -> Vec<&'a str> {
    let tag = format!("[{vm}] ");
    outcome
        .outcome
        .serial
        .lines()
        .filter_map(|line| line.strip_prefix(tag.as_str()))
        .collect()
}

/// The `summary:` line of VM `vm`: `summary: VM <name> <end> <n> exits <t> us CPU`.
fn summary_of<'a>(outcome: &'a Outcome, vm: &str) -> &'a str {
    outcome
        .outcome
        .serial
        .lines()
        .find(|line| {
            let mut words = line.split_whitespace();
            words.next() == Some("summary:")
                && words.next() == Some("VM")
                && words.next() == Some(vm)
        })
        .unwrap_or_else(|| {
            panic!(
                "no summary line for VM {vm}\n--- console ---\n{}",
                console(outcome)
            )
        })
}

// ---------------------------------------------------------------------------------------------
// Method 1: passthrough.

/// What `com2_passthrough` sends through COM2.
const PASSTHROUGH_LINE: &str = "passthrough: this line went straight to the host's COM2";

#[test]
fn passthrough_com2_output_reaches_the_real_port_with_zero_exits_on_its_ports() {
    let com2 = TempFile::new("passthrough-com2.txt");
    let outcome = run_config(&test_config("passthrough.toml"), Some(&com2));
    outcome.expect_guest_checks_pass("pass");
    outcome
        .expect_line("[pass] ok: COM2 scratchpad keeps the value written (the real device): 0x5a")
        .expect_line("[pass] ok: COM2 took every byte of the line and drained")
        .expect_line(" COM2 accesses caused 0 I/O exits")
        .expect_line("VM pass: com2: 0 exits on passed-through ports 0x2f8-0x2ff")
        .expect_success();
    let written = com2.text();
    assert_eq!(
        written.lines().collect::<Vec<_>>(),
        [PASSTHROUGH_LINE],
        "the COM2 file must hold exactly the guest's line\n--- console ---\n{}",
        console(&outcome)
    );
}

// ---------------------------------------------------------------------------------------------
// Method 2: mediated passthrough.

/// What `com2_mediated` sends through COM2.
const MEDIATED_LINE: &str = "mediated: this line passed the policy to the host's COM2";
/// The decision record of the denied scratchpad write (`devices::mediated::AccessRecord`'s
/// `Display`): port, width, the guest's value, nothing reaching the device, rule 0 of
/// `mediated.toml`.
const DENIED_SCRATCH_RECORD: &str =
    "VM mediated: com2: out port 0x02ff size 1 value 0xa5 -> - (Deny by rule 0)";

#[test]
fn mediated_com2_logs_and_drops_the_denied_write_and_passes_the_allowed_line() {
    let com2 = TempFile::new("mediated-com2.txt");
    let outcome = run_config(&test_config("mediated.toml"), Some(&com2));
    outcome.expect_guest_checks_pass("mediated");
    outcome
        .expect_line("[mediated] ok: COM2 scratchpad reads 0x")
        .expect_line(", not the denied write's 0xa5")
        .expect_line("[mediated] ok: COM2 took every byte of the line and drained (allowed)")
        .expect_line(" I/O exits (each one trapped)")
        .expect_line(DENIED_SCRATCH_RECORD)
        .expect_success();
    let records: Vec<&str> = outcome
        .outcome
        .serial
        .lines()
        .filter(|line| line.starts_with("VM mediated: com2: "))
        .collect();
    assert_eq!(
        records,
        [DENIED_SCRATCH_RECORD],
        "only the denied write is logged (plain allows are not recorded)"
    );
    let written = com2.text();
    assert_eq!(
        written.lines().collect::<Vec<_>>(),
        [MEDIATED_LINE],
        "the COM2 file must hold exactly the allowed line\n--- console ---\n{}",
        console(&outcome)
    );
}

// ---------------------------------------------------------------------------------------------
// Method 3: host-driver backed.

/// Lines `chatter` prints before its last one.
const CHATTER_LINES: u64 = 40;
/// Letters after each chatter line's header.
const CHATTER_FILLER_LEN: u64 = 80;
/// Letters the filler cycles through.
const ALPHABET_LEN: u64 = 26;

/// Every line the `chatter` guest of a VM with `ram_mib` MiB prints, in order (the rule in
/// `tests/guests/src/bin/chatter.rs`).
fn chatter_lines(ram_mib: u64) -> Vec<String> {
    let mut lines: Vec<String> = (0..CHATTER_LINES)
        .map(|line| {
            let filler: String = (0..CHATTER_FILLER_LEN)
                .map(|index| {
                    let letter = (ram_mib + line + index) % ALPHABET_LEN;
                    char::from(b'a' + u8::try_from(letter).unwrap_or(0))
                })
                .collect();
            format!("chatter {ram_mib} MiB line {line}/{CHATTER_LINES}: {filler}")
        })
        .collect();
    lines.push(format!("chatter done: {CHATTER_LINES} lines"));
    lines
}

#[test]
fn host_backed_com1_carries_two_vms_lines_whole_tagged_and_in_order() {
    let outcome = run_config(&test_config("host_backed.toml"), None);
    let vms = [("north", 32), ("south", 34)];
    for (vm, ram_mib) in vms {
        let printed = vm_lines(&outcome, vm);
        let expected = chatter_lines(ram_mib);
        assert_eq!(
            printed.len(),
            expected.len(),
            "VM {vm}: every line arrives once\n--- console ---\n{}",
            console(&outcome)
        );
        for (number, (got, want)) in printed.iter().zip(&expected).enumerate() {
            assert_eq!(got, want, "VM {vm}, line {number}, arrives whole");
        }
        outcome.expect_line(&format!("VM {vm}: exited with status 0"));
    }
    // A tag anywhere but at the start of a line would be one VM's line inside another's.
    for line in outcome.outcome.serial.lines() {
        let tags = vms
            .iter()
            .map(|(vm, _)| line.matches(&format!("[{vm}]")).count())
            .sum::<usize>();
        let starts_tagged = vms
            .iter()
            .any(|(vm, _)| line.starts_with(&format!("[{vm}] ")));
        assert!(
            tags == usize::from(starts_tagged),
            "a line mixes output: {line:?}"
        );
    }
    // The two VMs printed at the same time: each one's lines began before the other's ended.
    let (north_first, north_last) = (
        first_line(&outcome, "[north] "),
        last_line(&outcome, "[north] "),
    );
    let (south_first, south_last) = (
        first_line(&outcome, "[south] "),
        last_line(&outcome, "[south] "),
    );
    assert!(
        north_first < south_last && south_first < north_last,
        "the VMs' output must overlap in time: north lines {north_first}..={north_last}, south lines {south_first}..={south_last}"
    );
    outcome.expect_line("summary: 2 VM(s)").expect_success();
}

// ---------------------------------------------------------------------------------------------
// Several VMs at once: isolation and crash containment.

/// Checks `ram_pattern` makes: stack clear, coverage, 2 rounds × 2 verifications.
const RAM_PATTERN_CHECKS: u32 = 6;

#[test]
fn isolation_two_vms_verify_their_ram_pattern_while_the_other_scribbles() {
    let outcome = run_config(&test_config("isolation.toml"), None);
    for vm in ["blue", "green"] {
        outcome.expect_guest_checks_pass(vm);
        outcome
            .expect_line(&format!("[{vm}] ok: the pattern covers "))
            .expect_line(&format!(
                "[{vm}] ok: round 2/2 verification 2/2: 0 quadwords differ"
            ))
            .expect_line(&format!("[{vm}] {RAM_PATTERN_CHECKS} passed, 0 failed"));
    }
    // Each VM wrote over its RAM between the other's first pattern and last verification.
    for (vm, other) in [("blue", "green"), ("green", "blue")] {
        let written = first_line(&outcome, &format!("[{vm}] round 1/2: pattern "));
        let verified = last_line(&outcome, &format!("[{vm}] ok: round 2/2 verification 2/2"));
        let other_wrote = last_line(&outcome, &format!("[{other}] round 2/2: pattern "));
        let other_first = first_line(&outcome, &format!("[{other}] round 1/2: pattern "));
        assert!(
            other_first < verified && written < other_wrote,
            "{vm} and {other} must run interleaved\n--- console ---\n{}",
            console(&outcome)
        );
    }
    outcome.expect_success();
}

#[test]
fn crash_two_crashing_vms_are_stopped_and_reported_while_the_third_completes() {
    let outcome = run_config(&test_config("crash.toml"), None);
    outcome
        .expect_line("[crasher] running ")
        .expect_line("[crasher] loading an empty IDT and raising #BP")
        .expect_line("VM crasher: stopped: triple fault")
        .expect_line("[escaper] Write at guest-physical")
        .expect_line("VM escaper: stopped: ")
        .expect_verdict(Verdict::Failure {
            status: STATUS_VM_FAILED,
        });
    expect_no_line(&outcome, "the triple fault returned");
    expect_no_line(&outcome, "VM crasher: exited");
    expect_no_line(&outcome, "VM escaper: exited");
    outcome.expect_guest_checks_pass("survivor");
    // The survivor went on after both crashes and finished last.
    let crashed = first_line(&outcome, "VM crasher: stopped:");
    let escaped = first_line(&outcome, "VM escaper: stopped:");
    let finished = first_line(&outcome, "VM survivor: exited with status 0");
    let last_check = last_line(&outcome, "[survivor] ok: round 2/2 verification 2/2");
    assert!(
        crashed < last_check && escaped < last_check && last_check < finished,
        "the survivor must go on after the crashes: crasher stopped at line {crashed}, escaper at {escaped}, survivor's last check at {last_check}, its exit at {finished}"
    );
    outcome.expect_line("summary: 3 VM(s)");
    for (vm, end) in [
        ("crasher", "stopped"),
        ("escaper", "stopped"),
        ("survivor", "exited 0"),
    ] {
        let summary = summary_of(&outcome, vm);
        assert!(
            summary.contains(end),
            "VM {vm} must be summarised as `{end}`: {summary}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The example configurations.

#[test]
fn demo_config_runs_two_vms_through_one_host_com1_to_status_0() {
    let outcome = run_config(&example_config("demo.toml"), None);
    outcome
        .expect_line("[left] hello from a guest")
        .expect_line("[right] hello from a guest")
        .expect_line("VM left: exited with status 0")
        .expect_line("VM right: exited with status 0")
        .expect_line("summary: 2 VM(s)")
        .expect_success();
}

#[test]
fn four_methods_config_runs_one_vm_per_method_to_status_0() {
    let com2 = TempFile::new("four-methods-com2.txt");
    let outcome = run_config(&example_config("four-methods.toml"), Some(&com2));
    for vm in ["emulated", "backed", "passthrough", "mediated"] {
        outcome
            .expect_line(&format!("[{vm}] hello from a guest"))
            .expect_line(&format!("VM {vm}: exited with status 0"));
    }
    outcome
        .expect_line("VM passthrough: com2: 0 exits on passed-through ports 0x2f8-0x2ff")
        .expect_line("summary: 4 VM(s)")
        .expect_success();
}

// ---------------------------------------------------------------------------------------------
// Bad configuration files: refused by the host tool with the documented message.

/// The refusal `load_config` gives for `tests/configs/NAME`.
fn refusal(name: &str) -> Invalid {
    match load_config(&test_config(name)) {
        Err(ConfigError::Invalid { invalid, .. }) => *invalid,
        Err(other) => panic!("{name}: expected a validation error, got: {other}"),
        Ok(_) => panic!("{name}: must be refused"),
    }
}

#[test]
fn bad_config_one_host_com2_passed_through_to_two_vms_is_refused() {
    let invalid = refusal("bad_com2_twice.toml");
    assert!(matches!(invalid.problem, Problem::HostDeviceTaken { .. }));
    assert_eq!(
        invalid.to_string(),
        r#"vm[1].device[0].host: host COM2 (ports 0x2f8-0x2ff) is already used by vm[0].device[0] (device "com2" of VM "first") (passthrough); passthrough and mediation need a host device for one VM alone"#
    );
}

#[test]
fn bad_config_host_com2_mediated_for_one_vm_and_passed_through_to_another_is_refused() {
    let invalid = refusal("bad_com2_mediated_and_passed_through.toml");
    assert!(matches!(invalid.problem, Problem::HostDeviceTaken { .. }));
    assert_eq!(
        invalid.to_string(),
        r#"vm[1].device[0].host: host COM2 (ports 0x2f8-0x2ff) is already used by vm[0].device[0] (device "com2" of VM "first") (mediated); passthrough and mediation need a host device for one VM alone"#
    );
}

#[test]
fn bad_config_passthrough_of_the_hypervisor_console_com1_is_refused() {
    let invalid = refusal("bad_passthrough_com1.toml");
    assert!(matches!(invalid.problem, Problem::HypervisorOwned { .. }));
    assert_eq!(
        invalid.to_string(),
        "vm[0].device[0].host: passthrough of ports 0x3f8-0x3ff would take ports 0x3f8-0x3ff (COM1, the hypervisor console) from the hypervisor"
    );
}

#[test]
fn bad_config_passthrough_of_the_local_apic_page_is_refused() {
    let invalid = refusal("bad_passthrough_apic.toml");
    assert!(matches!(invalid.problem, Problem::HypervisorOwned { .. }));
    assert_eq!(
        invalid.to_string(),
        "vm[0].device[0].host: passthrough of memory 0xfee00000-0xfee00fff would take memory 0xfee00000-0xfee00fff (local APIC) from the hypervisor"
    );
}

#[test]
fn bad_config_overlapping_ports_within_a_vm_are_refused() {
    let invalid = refusal("bad_overlapping_ports.toml");
    assert!(matches!(invalid.problem, Problem::OverlapsDevice { .. }));
    assert_eq!(
        invalid.to_string(),
        r#"vm[0].device[1].base: ports 0x2fc-0x2ff overlap vm[0].device[0] "com2" (ports 0x2f8-0x2ff)"#
    );
}

#[test]
fn bad_config_mediation_rule_outside_the_devices_ports_is_refused() {
    let invalid = refusal("bad_policy_outside_device.toml");
    assert!(matches!(invalid.problem, Problem::RuleOutsideDevice { .. }));
    assert_eq!(
        invalid.to_string(),
        "vm[0].device[0].policy[0].ports: 0x2f8-0x300 must be a range inside the device's ports 0x2f8-0x2ff"
    );
}

#[test]
fn bad_config_unknown_key_is_a_parse_error_naming_line_and_key() {
    let path = test_config("bad_unknown_key.toml");
    match load_config(&path) {
        Err(ConfigError::Parse { message, .. }) => {
            assert!(message.contains("line 5"), "names the line: {message}");
            assert!(
                message.contains("unknown field `ram`"),
                "names the key: {message}"
            );
        }
        Err(other) => panic!("expected a parse error, got: {other}"),
        Ok(_) => panic!("must be refused"),
    }
}

#[test]
fn every_test_and_example_configuration_that_is_not_bad_is_accepted() {
    let mut checked = Vec::new();
    for dir in [test_config(""), example_config("")] {
        let entries =
            fs::read_dir(&dir).unwrap_or_else(|error| panic!("listing {}: {error}", dir.display()));
        for path in entries.flatten().map(|entry| entry.path()) {
            let name = path
                .file_name()
                .and_then(|name| name.to_str())
                .unwrap_or("")
                .to_string();
            if !name.ends_with(".toml") || name.starts_with("bad_") {
                continue;
            }
            if let Err(error) = load_config(&path) {
                panic!("{} must be accepted: {error}", path.display());
            }
            checked.push(name);
        }
    }
    checked.sort();
    assert_eq!(
        checked,
        [
            "crash.toml",
            "demo.toml",
            "four-methods.toml",
            "host_backed.toml",
            "isolation.toml",
            "linux.toml",
            "mediated.toml",
            "passthrough.toml",
        ]
    );
}
