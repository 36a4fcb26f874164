//! The hub that owns the host's one real serial port: it writes whole lines for the VMs and
//! routes what the host types to the one VM selected to receive it.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use spin::Mutex;

use super::HostSerial;
use super::backend::HostBackedUart;

/// VMs one hub serves.
pub const MAX_VMS: usize = 16;
/// Longest VM name, in bytes (it tags every line).
pub const MAX_NAME_BYTES: usize = 32;
/// Host input bytes held for one VM before further ones are dropped.
pub const INPUT_QUEUE_CAPACITY: usize = 256;
/// Host bytes read per [`SharedHostSerial::pump`] (bounds the time spent inside the critical
/// section with interrupts held off).
pub const PUMP_BURST: usize = 64;

/// The bracket characters that delimit the tag, not allowed in a name.
pub(super) const TAG_OPEN: u8 = b'[';
pub(super) const TAG_CLOSE: u8 = b']';

/// Why the hub refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostSerialError {
    /// A name that is empty, longer than [`MAX_NAME_BYTES`], or holds a byte other than
    /// printable ASCII without space and brackets.
    BadName(String),
    /// A VM of that name is already attached.
    DuplicateName(String),
    /// [`MAX_VMS`] are attached already.
    TooManyVms,
    /// No VM of that name is attached.
    UnknownVm(String),
}

/// What the hub counted for one VM.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VmSerialStats {
    /// Lines written to the host serial.
    pub lines_written: u64,
    /// Of `lines_written`: lines cut because the guest filled the line buffer without a newline.
    pub lines_split: u64,
    /// Bytes written to the host serial, tag and newline included.
    pub bytes_written: u64,
    /// Host input bytes handed to the VM's UART.
    pub input_delivered: u64,
    /// Host input bytes routed to the VM but dropped because its queue was full.
    pub input_dropped: u64,
    /// Critical-section operations that failed (the line was still written, under the hub's
    /// lock only).
    pub section_failures: u64,
}

/// One attached VM.
struct VmPort {
    name: String,
    input: VecDeque<u8>,
    stats: VmSerialStats,
}

/// What the lock protects.
struct Hub {
    host: Box<dyn HostSerial>,
    vms: Vec<VmPort>,
    selected: Option<usize>,
    unrouted_input: u64,
}

impl Hub {
    /// Reads up to [`PUMP_BURST`] host bytes into the selected VM's queue; returns how many
    /// were read.
    fn pump(&mut self) -> usize {
        let mut read = 0;
        while read < PUMP_BURST {
            let Some(byte) = self.host.read_byte() else {
                break;
            };
            read += 1;
            match self.selected.and_then(|slot| self.vms.get_mut(slot)) {
                Some(vm) if vm.input.len() < INPUT_QUEUE_CAPACITY => vm.input.push_back(byte),
                Some(vm) => vm.stats.input_dropped = vm.stats.input_dropped.saturating_add(1),
                None => self.unrouted_input = self.unrouted_input.saturating_add(1),
            }
        }
        read
    }

    fn pop(&mut self, slot: usize) -> Option<u8> {
        let vm = self.vms.get_mut(slot)?;
        let byte = vm.input.pop_front()?;
        vm.stats.input_delivered = vm.stats.input_delivered.saturating_add(1);
        Some(byte)
    }

    fn slot_of(&self, name: &str) -> Option<usize> {
        self.vms.iter().position(|vm| vm.name == name)
    }
}

/// Whether `name` can tag lines: 1..=[`MAX_NAME_BYTES`] printable ASCII bytes, no space, no
/// brackets.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != TAG_OPEN && b != TAG_CLOSE)
}

/// The host's serial port shared by several VMs: a cheap handle (clones share one hub).
/// The hub's spin lock protects its Rust data (queues, counters, the [`HostSerial`]) and is
/// held for one line or one pump at a time.
#[derive(Clone)]
pub struct SharedHostSerial {
    hub: Arc<Mutex<Hub>>,
}

impl SharedHostSerial {
    /// A hub around the host's port; no VM attached, none selected for input.
    pub fn new(host: impl HostSerial + 'static) -> Self {
        SharedHostSerial {
            hub: Arc::new(Mutex::new(Hub {
                host: Box::new(host),
                vms: Vec::new(),
                selected: None,
                unrouted_input: 0,
            })),
        }
    }

    /// Attaches a VM and returns the UART back end for its emulated 16550. The first VM
    /// attached is selected for input if none is.
    pub fn attach(&self, name: &str) -> Result<HostBackedUart, HostSerialError> {
        if !valid_name(name) {
            return Err(HostSerialError::BadName(String::from(name)));
        }
        let slot = {
            let mut hub = self.hub.lock();
            if hub.slot_of(name).is_some() {
                return Err(HostSerialError::DuplicateName(String::from(name)));
            }
            if hub.vms.len() >= MAX_VMS {
                return Err(HostSerialError::TooManyVms);
            }
            hub.vms.push(VmPort {
                name: String::from(name),
                input: VecDeque::with_capacity(INPUT_QUEUE_CAPACITY),
                stats: VmSerialStats::default(),
            });
            let slot = hub.vms.len() - 1;
            if hub.selected.is_none() {
                hub.selected = Some(slot);
            }
            slot
        };
        Ok(HostBackedUart::new(self.clone(), slot, name))
    }

    /// Routes host input to `name` from now on (what other VMs' queues hold stays theirs).
    pub fn select(&self, name: &str) -> Result<(), HostSerialError> {
        let mut hub = self.hub.lock();
        let slot = hub
            .slot_of(name)
            .ok_or_else(|| HostSerialError::UnknownVm(String::from(name)))?;
        hub.selected = Some(slot);
        Ok(())
    }

    /// Routes host input to no VM: it is read and dropped (counted in
    /// [`SharedHostSerial::unrouted_input`]).
    pub fn deselect(&self) {
        self.hub.lock().selected = None;
    }

    /// Selects the VM attached after the selected one (wrapping; the first if none is) and
    /// returns its name; `None` with no VM attached. For a host-side "switch console" key.
    pub fn select_next(&self) -> Option<String> {
        let mut hub = self.hub.lock();
        let count = hub.vms.len();
        if count == 0 {
            return None;
        }
        let next = hub.selected.map_or(0, |slot| (slot + 1) % count);
        hub.selected = Some(next);
        hub.vms.get(next).map(|vm| vm.name.clone())
    }

    /// The VM receiving host input now.
    pub fn selected(&self) -> Option<String> {
        let hub = self.hub.lock();
        hub.selected
            .and_then(|slot| hub.vms.get(slot))
            .map(|vm| vm.name.clone())
    }

    /// The attached VMs, in attach order.
    pub fn vm_names(&self) -> Vec<String> {
        self.hub
            .lock()
            .vms
            .iter()
            .map(|vm| vm.name.clone())
            .collect()
    }

    /// Reads up to [`PUMP_BURST`] bytes from the host port and routes them to the selected
    /// VM's queue; returns how many were read. The VMs' back ends call this (inside their
    /// critical section) when their queue runs dry; the VMM may call it too.
    pub fn pump(&self) -> usize {
        self.hub.lock().pump()
    }

    /// What the hub counted for `name`.
    pub fn stats(&self, name: &str) -> Option<VmSerialStats> {
        let hub = self.hub.lock();
        hub.slot_of(name)
            .and_then(|slot| hub.vms.get(slot))
            .map(|vm| vm.stats)
    }

    /// Host input bytes waiting in `name`'s queue.
    pub fn pending_input(&self, name: &str) -> Option<usize> {
        let hub = self.hub.lock();
        hub.slot_of(name)
            .and_then(|slot| hub.vms.get(slot))
            .map(|vm| vm.input.len())
    }

    /// Host input bytes read while no VM was selected.
    pub fn unrouted_input(&self) -> u64 {
        self.hub.lock().unrouted_input
    }

    /// Writes `line` (tag and newline already in it) to the host port in one call.
    pub(super) fn write_line(&self, slot: usize, line: &[u8], split: bool) {
        let mut hub = self.hub.lock();
        hub.host.write_bytes(line);
        if let Some(vm) = hub.vms.get_mut(slot) {
            let stats = &mut vm.stats;
            stats.lines_written = stats.lines_written.saturating_add(1);
            stats.lines_split = stats.lines_split.saturating_add(u64::from(split));
            let bytes = u64::try_from(line.len()).unwrap_or(u64::MAX);
            stats.bytes_written = stats.bytes_written.saturating_add(bytes);
        }
    }

    /// The next byte of the VM's queue, without touching the host port.
    pub(super) fn pop_input(&self, slot: usize) -> Option<u8> {
        self.hub.lock().pop(slot)
    }

    /// Pumps the host port, then takes the next byte of the VM's queue.
    pub(super) fn pump_and_pop(&self, slot: usize) -> Option<u8> {
        let mut hub = self.hub.lock();
        hub.pump();
        hub.pop(slot)
    }

    /// Counts a failed critical-section operation for the VM.
    pub(super) fn count_section_failure(&self, slot: usize) {
        if let Some(vm) = self.hub.lock().vms.get_mut(slot) {
            vm.stats.section_failures = vm.stats.section_failures.saturating_add(1);
        }
    }
}
