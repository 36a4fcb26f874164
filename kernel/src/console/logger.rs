//! The `log` facade backend: every record goes to the console sinks as `[LEVEL] message`.

use log::{LevelFilter, Log, Metadata, Record};

struct ConsoleLogger;

static LOGGER: ConsoleLogger = ConsoleLogger;

impl Log for ConsoleLogger {
    fn enabled(&self, _metadata: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        crate::println!("[{:<5}] {}", record.level(), record.args());
    }

    fn flush(&self) {}
}

/// Install the logger (idempotent).
pub fn init(level: LevelFilter) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}
