//! The boot command line: `key=value` words the host tool puts in the bootloader's ramdisk.
//!
//! | key | values | default |
//! |---|---|---|
//! | `test` | a self-test name (see `selftest`) | none: boot, report, exit |
//! | `timer_hz` | periodic device-tick rate, 1–10000 | 1000 |
//! | `apic` | `xapic`, `x2apic` | `x2apic` where the CPU has it |
//! | `heap_mib` | hypervisor heap size, 1–1024 | 16 |
//! | `expect_cpus` | CPUs the MADT must list (for tests) | not checked |
//! | `log` | `error`, `warn`, `info`, `debug`, `trace` | `info` |
//! | `vms` | guests to run in turn: `NAME.elf` (64-bit ELF) or `NAME.bin@0xADDR` (real mode) | none |
//! | `vm_ram_mib` | RAM per VM in MiB, even, 2–2048 | 32 |
//! | `config` | a ramdisk member holding an encoded VM configuration (`devices::vm_config`) | none |
//! | `vm_apic` | `on`: VMs get a local APIC and an I/O APIC; `off`: the 8259A pair only | `off` |
//! | `vm_acpi` | `on`: VMs with APICs get ACPI tables (RSDP, XSDT, FADT, DSDT, MADT) at 0xE0000; `off`: none | `off` |
//! | `vm_schedule` | `sequential` (one VM after another) or `together` (time-sliced) | `sequential` |
//! | `disk_dump` | `on`: print the sectors each virtio disk's guest wrote when its VM ends (the host tool writes them back into the image; at most 4096 sectors); `off`: only count them | `off` |

use core::fmt;

use log::LevelFilter;

/// The longest `vms=` list accepted.
pub const MAX_VMS_LIST: usize = 1024;
/// The longest self-test name accepted.
pub const MAX_TEST_NAME: usize = 32;

/// Options parsed from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options<'a> {
    pub test: Option<&'a str>,
    pub timer_hz: u64,
    pub prefer_x2apic: bool,
    pub heap_mib: u64,
    pub expect_cpus: Option<u32>,
    pub log_level: LevelFilter,
    pub vms: Option<&'a str>,
    pub vm_ram_mib: u64,
    pub vms_together: bool,
    pub vm_apic: bool,
    pub vm_acpi: bool,
    pub disk_dump: bool,
    pub config: Option<&'a str>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            test: None,
            timer_hz: 1000,
            prefer_x2apic: true,
            heap_mib: 16,
            expect_cpus: None,
            log_level: LevelFilter::Info,
            vms: None,
            vm_ram_mib: 32,
            vms_together: false,
            vm_apic: false,
            vm_acpi: false,
            disk_dump: false,
            config: None,
        }
    }
}

/// A command-line word that could not be used; the text names the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmdlineError<'a> {
    /// A word without `=`.
    NotKeyValue(&'a str),
    /// A key nobody reads.
    UnknownKey(&'a str),
    /// A value out of range or of the wrong form for its key.
    BadValue { key: &'a str, value: &'a str },
}

impl fmt::Display for CmdlineError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CmdlineError::NotKeyValue(word) => write!(f, "`{word}` is not key=value"),
            CmdlineError::UnknownKey(key) => write!(f, "unknown option `{key}`"),
            CmdlineError::BadValue { key, value } => write!(f, "bad value `{value}` for `{key}`"),
        }
    }
}

fn number_in(key: &str, value: &str, range: core::ops::RangeInclusive<u64>) -> Result<u64, ()> {
    let _ = key;
    value
        .parse::<u64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or(())
}

/// Parse the command line.
pub fn parse(text: &str) -> Result<Options<'_>, CmdlineError<'_>> {
    let mut options = Options::default();
    for word in text.split_ascii_whitespace() {
        let (key, value) = word
            .split_once('=')
            .ok_or(CmdlineError::NotKeyValue(word))?;
        let bad = || CmdlineError::BadValue { key, value };
        match key {
            "test" => {
                if value.is_empty() || value.len() > MAX_TEST_NAME {
                    return Err(bad());
                }
                options.test = Some(value);
            }
            "timer_hz" => {
                options.timer_hz = number_in(key, value, 1..=10_000).map_err(|()| bad())?
            }
            "heap_mib" => options.heap_mib = number_in(key, value, 1..=1024).map_err(|()| bad())?,
            "expect_cpus" => {
                options.expect_cpus =
                    Some(number_in(key, value, 1..=4096).map_err(|()| bad())? as u32)
            }
            "apic" => {
                options.prefer_x2apic = match value {
                    "xapic" => false,
                    "x2apic" => true,
                    _ => return Err(bad()),
                }
            }
            "log" => options.log_level = value.parse().map_err(|_| bad())?,
            "vms" => {
                if value.is_empty() || value.len() > MAX_VMS_LIST {
                    return Err(bad());
                }
                options.vms = Some(value);
            }
            "config" => {
                if value.is_empty() || value.len() > MAX_TEST_NAME * 4 {
                    return Err(bad());
                }
                options.config = Some(value);
            }
            "vm_apic" => {
                options.vm_apic = match value {
                    "on" => true,
                    "off" => false,
                    _ => return Err(bad()),
                }
            }
            "vm_acpi" => {
                options.vm_acpi = match value {
                    "on" => true,
                    "off" => false,
                    _ => return Err(bad()),
                }
            }
            "disk_dump" => {
                options.disk_dump = match value {
                    "on" => true,
                    "off" => false,
                    _ => return Err(bad()),
                }
            }
            "vm_schedule" => {
                options.vms_together = match value {
                    "sequential" => false,
                    "together" => true,
                    _ => return Err(bad()),
                }
            }
            "vm_ram_mib" => {
                let mib = number_in(key, value, 2..=2048).map_err(|()| bad())?;
                if mib % 2 != 0 {
                    return Err(bad());
                }
                options.vm_ram_mib = mib;
            }
            _ => return Err(CmdlineError::UnknownKey(key)),
        }
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_line_gives_defaults() {
        assert_eq!(parse("  \n"), Ok(Options::default()));
    }

    #[test]
    fn every_key_is_read() {
        let options =
            parse("test=timer timer_hz=250 apic=xapic heap_mib=32 expect_cpus=2 log=debug\n")
                .unwrap();
        assert_eq!(options.test, Some("timer"));
        assert_eq!(options.timer_hz, 250);
        assert!(!options.prefer_x2apic);
        assert_eq!(options.heap_mib, 32);
        assert_eq!(options.expect_cpus, Some(2));
        assert_eq!(options.log_level, LevelFilter::Debug);
        let vms = parse("vms=a.elf,b.bin@0x7c00 vm_ram_mib=64").unwrap();
        assert!(!vms.vm_acpi);
        assert!(!vms.disk_dump);
        assert!(parse("disk_dump=on").unwrap().disk_dump);
        assert!(parse("disk_dump=maybe").is_err());
        let acpi = parse("vm_apic=on vm_acpi=on").unwrap();
        assert!(acpi.vm_apic && acpi.vm_acpi);
        assert_eq!(
            parse("vm_acpi=yes"),
            Err(CmdlineError::BadValue {
                key: "vm_acpi",
                value: "yes"
            })
        );
        assert_eq!((vms.vms, vms.vm_ram_mib), (Some("a.elf,b.bin@0x7c00"), 64));
    }

    #[test]
    fn errors_name_the_key() {
        assert_eq!(
            parse("timer_hz=0"),
            Err(CmdlineError::BadValue {
                key: "timer_hz",
                value: "0"
            })
        );
        assert_eq!(
            parse("apic=x3"),
            Err(CmdlineError::BadValue {
                key: "apic",
                value: "x3"
            })
        );
        assert_eq!(parse("color=red"), Err(CmdlineError::UnknownKey("color")));
        assert_eq!(parse("verbose"), Err(CmdlineError::NotKeyValue("verbose")));
        assert_eq!(
            parse("vm_ram_mib=3"),
            Err(CmdlineError::BadValue {
                key: "vm_ram_mib",
                value: "3"
            })
        );
        assert_eq!(
            parse("heap_mib=99999999999999999999999"),
            Err(CmdlineError::BadValue {
                key: "heap_mib",
                value: "99999999999999999999999"
            })
        );
    }
}
