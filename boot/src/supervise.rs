//! Runs one emulator process to its end: starts it in its own process group, collects COM1
//! (from its stdout or from a file it writes), streams COM1 to the terminal when asked, enforces
//! the timeout, and kills the whole process group on timeout, cancellation or error.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};

use crate::error::BootError;
use crate::exit::EmulatorEnd;
use crate::serial::SerialLog;

/// How often the supervisor looks at the child and the serial file.
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// How long the emulator may keep running after the exit line before it is killed.
pub const EXIT_GRACE: Duration = Duration::from_secs(3);

/// Time limits of a supervised run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The child is killed when it runs longer than this.
    pub timeout: Duration,
    /// The child is killed when it runs this long after the exit line.
    pub exit_grace: Duration,
}

impl Limits {
    /// `timeout` with the standard [`EXIT_GRACE`].
    pub const fn with_timeout(timeout: Duration) -> Self {
        Self {
            timeout,
            exit_grace: EXIT_GRACE,
        }
    }
}
/// Size of one read from the serial source.
const READ_CHUNK: usize = 4096;
/// At most this many bytes of the emulator's stderr are kept.
const MAX_STDERR_BYTES: usize = 64 * 1024;

/// Where COM1's bytes come from.
#[derive(Debug)]
pub enum SerialSource {
    /// The child's stdout (QEMU `-serial stdio`).
    Stdout,
    /// A file the child writes (Bochs `com1: mode=file`); it may not exist yet at start.
    File(PathBuf),
}

/// What happened to a supervised child.
#[derive(Debug)]
pub struct Supervised {
    /// How the emulator ended.
    pub end: EmulatorEnd,
    /// COM1, cleaned.
    pub serial: SerialLog,
    /// The emulator's stderr (bounded), when it was captured.
    pub stderr: String,
    /// Wall-clock time from start to end.
    pub duration: Duration,
}

/// A child whose whole process group is killed if it is dropped before being reaped.
struct GroupGuard {
    child: Child,
    reaped: bool,
}

impl GroupGuard {
    fn kill_group(&mut self) {
        // The child leads its own group (`process_group(0)`), so its PID is the group ID.
        // ESRCH (group already gone) is fine: there is nothing left to kill.
        let _ = kill_process_group(Pid::from_child(&self.child), Signal::KILL);
        let _ = self.child.kill();
    }

    fn kill_and_reap(&mut self) -> Result<ExitStatus, BootError> {
        self.kill_group();
        let status = self
            .child
            .wait()
            .map_err(|error| BootError::io("waiting for the killed emulator", error))?;
        self.reaped = true;
        Ok(status)
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill_group();
            let _ = self.child.wait();
        }
    }
}

/// Feeds serial bytes into the log and, when streaming, to the terminal.
struct Collector {
    serial: SerialLog,
    stream: bool,
}

impl Collector {
    fn feed(&mut self, bytes: &[u8]) {
        let visible = self.serial.push(bytes);
        if self.stream && !visible.is_empty() {
            let mut out = io::stdout().lock();
            // The terminal going away must not stop the run.
            let _ = out.write_all(visible.as_bytes());
            let _ = out.flush();
        }
    }
}

/// Reads a growing file from where the last read stopped.
struct FileTail {
    path: PathBuf,
    file: Option<File>,
    offset: u64,
}

impl FileTail {
    fn read_new(&mut self, collector: &mut Collector) -> io::Result<()> {
        if self.file.is_none() {
            match File::open(&self.path) {
                Ok(file) => self.file = Some(file),
                Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(error) => return Err(error),
            }
        }
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        file.seek(SeekFrom::Start(self.offset))?;
        let mut buffer = [0u8; READ_CHUNK];
        loop {
            let count = file.read(&mut buffer)?;
            if count == 0 {
                return Ok(());
            }
            // `count` is at most READ_CHUNK, far below u64::MAX.
            self.offset = self.offset.saturating_add(count as u64);
            collector.feed(&buffer[..count]);
        }
    }
}

/// The serial reader in use.
enum Reader {
    Pipe {
        chunks: Receiver<Vec<u8>>,
        thread: JoinHandle<()>,
    },
    File(FileTail),
}

/// Starts `command` and supervises it to its end, feeding COM1 into `serial`.
pub fn supervise(
    mut command: Command,
    source: SerialSource,
    serial: SerialLog,
    limits: Limits,
    stream: bool,
    cancel: &AtomicBool,
) -> Result<Supervised, BootError> {
    let program = command.get_program().to_string_lossy().into_owned();
    command.process_group(0).stdin(Stdio::null());
    if matches!(source, SerialSource::Stdout) {
        command.stdout(Stdio::piped());
    }
    command.stderr(Stdio::piped());
    let start = Instant::now();
    let child = command
        .spawn()
        .map_err(|source| BootError::Spawn { program, source })?;
    let mut guard = GroupGuard {
        child,
        reaped: false,
    };
    let stderr_thread = guard.child.stderr.take().map(spawn_stderr_reader);
    let mut reader = match source {
        SerialSource::Stdout => {
            let Some(stdout) = guard.child.stdout.take() else {
                return Err(BootError::io(
                    "capturing the emulator's stdout",
                    io::Error::other("no stdout pipe"),
                ));
            };
            let (sender, chunks) = mpsc::channel();
            let thread = thread::spawn(move || pump(stdout, &sender));
            Reader::Pipe { chunks, thread }
        }
        SerialSource::File(path) => Reader::File(FileTail {
            path,
            file: None,
            offset: 0,
        }),
    };

    let mut collector = Collector { serial, stream };
    let mut exit_line_at: Option<Instant> = None;
    let end = loop {
        let disconnected = match &mut reader {
            Reader::Pipe { chunks, .. } => match chunks.recv_timeout(POLL_INTERVAL) {
                Ok(chunk) => {
                    collector.feed(&chunk);
                    false
                }
                Err(RecvTimeoutError::Timeout) => false,
                Err(RecvTimeoutError::Disconnected) => true,
            },
            Reader::File(tail) => {
                tail.read_new(&mut collector)
                    .map_err(|error| BootError::io("reading the COM1 file", error))?;
                false
            }
        };
        if collector.serial.exit_status().is_some() && exit_line_at.is_none() {
            exit_line_at = Some(Instant::now());
        }
        if let Some(status) = guard
            .child
            .try_wait()
            .map_err(|error| BootError::io("polling the emulator", error))?
        {
            guard.reaped = true;
            // Anything the emulator left behind in its group (a helper still holding the
            // serial pipe open) goes too. The group ID stays reserved while members exist.
            let _ = kill_process_group(Pid::from_child(&guard.child), Signal::KILL);
            break EmulatorEnd::Exited {
                code: status.code(),
            };
        }
        if cancel.load(Ordering::Relaxed) {
            guard.kill_and_reap()?;
            return Err(BootError::Cancelled);
        }
        if exit_line_at.is_some_and(|at| at.elapsed() >= limits.exit_grace) {
            guard.kill_and_reap()?;
            break EmulatorEnd::KilledAfterExitLine;
        }
        if start.elapsed() >= limits.timeout {
            guard.kill_and_reap()?;
            break if exit_line_at.is_some() {
                EmulatorEnd::KilledAfterExitLine
            } else {
                EmulatorEnd::TimedOut
            };
        }
        if disconnected || matches!(reader, Reader::File(_)) {
            thread::sleep(POLL_INTERVAL);
        }
    };
    let duration = start.elapsed();

    // Collect what the emulator wrote before it ended.
    match reader {
        Reader::Pipe { chunks, thread } => {
            for chunk in chunks.iter() {
                collector.feed(&chunk);
            }
            let _ = thread.join();
        }
        Reader::File(mut tail) => tail
            .read_new(&mut collector)
            .map_err(|error| BootError::io("reading the COM1 file", error))?,
    }
    let mut serial = collector.serial;
    serial.finish();
    let stderr = stderr_thread
        .and_then(|thread| thread.join().ok())
        .unwrap_or_default();
    Ok(Supervised {
        end,
        serial,
        stderr,
        duration,
    })
}

/// Copies a pipe into a channel in chunks until end of file.
fn pump(mut pipe: impl Read, sender: &mpsc::Sender<Vec<u8>>) {
    let mut buffer = [0u8; READ_CHUNK];
    loop {
        match pipe.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(count) => {
                if sender.send(buffer[..count].to_vec()).is_err() {
                    return;
                }
            }
        }
    }
}

/// Collects up to [`MAX_STDERR_BYTES`] of the child's stderr in a thread (draining the rest).
fn spawn_stderr_reader(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buffer = [0u8; READ_CHUNK];
        loop {
            match pipe.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(count) => {
                    let room = MAX_STDERR_BYTES.saturating_sub(kept.len());
                    kept.extend_from_slice(&buffer[..count.min(room)]);
                }
            }
        }
        String::from_utf8_lossy(&kept).into_owned()
    })
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use super::*;

    fn shell(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    fn limits(timeout_ms: u64, grace_ms: u64) -> Limits {
        Limits {
            timeout: Duration::from_millis(timeout_ms),
            exit_grace: Duration::from_millis(grace_ms),
        }
    }

    fn no_cancel() -> AtomicBool {
        AtomicBool::new(false)
    }

    #[test]
    fn stdout_serial_and_exit_code_are_collected() {
        let run = supervise(
            shell("printf 'boot\\r\\nHV-EXIT status=0\\n'; exit 1"),
            SerialSource::Stdout,
            SerialLog::new(),
            limits(10_000, 10_000),
            false,
            &no_cancel(),
        )
        .expect("sh runs");
        assert_eq!(run.end, EmulatorEnd::Exited { code: Some(1) });
        assert_eq!(run.serial.exit_status(), Some(0));
        assert_eq!(run.serial.text(), "boot\nHV-EXIT status=0\n");
    }

    #[test]
    fn stderr_is_kept_for_diagnostics() {
        let run = supervise(
            shell("echo 'qemu: bad option' >&2"),
            SerialSource::Stdout,
            SerialLog::new(),
            limits(10_000, 10_000),
            false,
            &no_cancel(),
        )
        .expect("sh runs");
        assert_eq!(run.stderr, "qemu: bad option\n");
    }

    #[test]
    fn growing_file_is_tailed_from_its_first_byte() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let com1 = dir.path().join("com1.txt");
        let script = format!(
            "printf '\\000one\\n' > {0}; sleep 0.2; printf 'HV-EXIT status=2\\n' >> {0}",
            com1.display()
        );
        let run = supervise(
            shell(&script),
            SerialSource::File(com1),
            SerialLog::new(),
            limits(10_000, 10_000),
            false,
            &no_cancel(),
        )
        .expect("sh runs");
        assert_eq!(run.serial.text(), "one\nHV-EXIT status=2\n");
        assert_eq!(run.serial.exit_status(), Some(2));
    }

    #[test]
    fn timeout_kills_the_child() {
        let run = supervise(
            shell("echo started; exec sleep 30"),
            SerialSource::Stdout,
            SerialLog::new(),
            limits(300, 10_000),
            false,
            &no_cancel(),
        )
        .expect("sh runs");
        assert_eq!(run.end, EmulatorEnd::TimedOut);
        assert!(run.duration < Duration::from_secs(10));
        assert_eq!(run.serial.tail(1), vec!["started"]);
    }

    #[test]
    fn child_lingering_after_exit_line_is_killed_after_grace() {
        let run = supervise(
            shell("echo 'HV-EXIT status=5'; exec sleep 30"),
            SerialSource::Stdout,
            SerialLog::new(),
            limits(20_000, 200),
            false,
            &no_cancel(),
        )
        .expect("sh runs");
        assert_eq!(run.end, EmulatorEnd::KilledAfterExitLine);
        assert_eq!(run.serial.exit_status(), Some(5));
        assert!(run.duration < Duration::from_secs(10));
    }

    #[test]
    fn timeout_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let pid_file = dir.path().join("pid");
        let script = format!("sleep 30 & echo $! > {}; wait", pid_file.display());
        let run = supervise(
            shell(&script),
            SerialSource::Stdout,
            SerialLog::new(),
            // Generous: on a loaded machine `sh` may take a while to write the pid.
            limits(3_000, 10_000),
            false,
            &no_cancel(),
        )
        .expect("sh runs");
        assert_eq!(run.end, EmulatorEnd::TimedOut);
        let pid = fs::read_to_string(&pid_file).expect("pid written");
        let stat = Path::new("/proc").join(pid.trim()).join("stat");
        // Gone, or a zombie waiting for init to reap it. SIGKILL is delivered asynchronously,
        // so give the kernel a moment (bounded) to act on it.
        let dead = |state: &str| state.is_empty() || state.contains(") Z ");
        let mut state = fs::read_to_string(&stat).unwrap_or_default();
        for _ in 0..50 {
            if dead(&state) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
            state = fs::read_to_string(&stat).unwrap_or_default();
        }
        assert!(dead(&state), "grandchild alive: {state}");
    }

    #[test]
    fn helper_holding_the_pipe_does_not_block_the_end() {
        let run = supervise(
            shell("sleep 30 & echo 'HV-EXIT status=0'; exit 1"),
            SerialSource::Stdout,
            SerialLog::new(),
            limits(20_000, 10_000),
            false,
            &no_cancel(),
        )
        .expect("sh runs");
        assert_eq!(run.end, EmulatorEnd::Exited { code: Some(1) });
        assert!(run.duration < Duration::from_secs(10));
    }

    #[test]
    fn cancel_flag_kills_and_reports_cancelled() {
        let cancel = AtomicBool::new(true);
        let result = supervise(
            shell("exec sleep 30"),
            SerialSource::Stdout,
            SerialLog::new(),
            limits(20_000, 10_000),
            false,
            &cancel,
        );
        assert!(matches!(result, Err(BootError::Cancelled)));
    }

    #[test]
    fn missing_program_is_a_spawn_error() {
        let result = supervise(
            Command::new("/nonexistent/emulator"),
            SerialSource::Stdout,
            SerialLog::new(),
            limits(1_000, 1_000),
            false,
            &no_cancel(),
        );
        assert!(matches!(result, Err(BootError::Spawn { .. })));
    }
}
