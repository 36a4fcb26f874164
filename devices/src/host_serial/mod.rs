//! Host-driver-backed serial (the paper's third way to build a device): every VM sees its own
//! emulated 16550 ([`crate::uart16550::Uart16550`]), and the work is done by the hypervisor's
//! driver for the host's one real UART, shared by all of them.
//!
//! # Behaviour
//! - **The hub** ([`SharedHostSerial`], a cloneable handle) owns the host port through
//!   [`HostSerial`] (the kernel implements it with its COM1 driver) and one bounded input queue
//!   per attached VM ([`SharedHostSerial::attach`], at most [`MAX_VMS`], names validated).
//! - **Output**: each VM's back end ([`HostBackedUart`]) gathers the guest's bytes into a line
//!   of at most [`LINE_CAPACITY`] bytes. A newline, or a full line, writes `[name] text\n` to
//!   the host in **one** [`HostSerial::write_bytes`] call, so lines from several VMs never
//!   interleave. A full line is cut and the rest continues on a new tagged line. `\r` is
//!   dropped (a guest's `\r\n` ends one line); tab is kept; every other control byte (escape
//!   sequences included) becomes [`CONTROL_REPLACEMENT`]. [`HostBackedUart::flush`] writes a
//!   partial line when the VM stops.
//! - **Input**: host bytes go to the queue of the one selected VM only
//!   ([`SharedHostSerial::select`]; the first VM attached starts selected;
//!   [`SharedHostSerial::select_next`] cycles; [`SharedHostSerial::deselect`] routes to
//!   nobody). A VM's UART polls its back end; the back end hands out a queued byte, or with
//!   its queue empty pumps up to [`PUMP_BURST`] bytes from the host port into the selected
//!   VM's queue first. Bytes for a full queue ([`INPUT_QUEUE_CAPACITY`]) or with no VM
//!   selected are dropped and counted ([`VmSerialStats`], [`SharedHostSerial::unrouted_input`]).
//! - **Two locks, two jobs.** The hub's spin lock protects its Rust data and makes each line
//!   one call. Around every touch of the hardware (a line write, a pump) the back end also
//!   enters its critical section (operations 18–20, created lazily on first use with
//!   [`DeviceContext::create_critical_section`](crate::interface::DeviceContext::create_critical_section)
//!   and kept): the paper's mechanism for guarding a resource shared by instances of a device
//!   in several VMs. In the kernel a section is a hypervisor-wide spinlock that also holds
//!   interrupts off on the CPU, so the scheduler tick cannot preempt a line half-written.
//!   Each VM's instance creates its own section through its own context (the interface has no
//!   way to open another device's section), so across VMs it is the hub's lock that orders
//!   the writes; should creating or entering the section fail, the line is still written
//!   under the hub's lock and the failure counted.
//!
//! # Threat note
//! The guest controls the bytes it transmits and when, and whether its UART polls for input.
//! Its line is capped at [`LINE_CAPACITY`] bytes (allocated once, never grown); its control
//! bytes are neutralised, so it cannot forge another VM's tag at the start of a host line or
//! move the host terminal's cursor (it can print `[other]` after its own tag). Its input
//! queue is capped at [`INPUT_QUEUE_CAPACITY`]; a pump reads at most [`PUMP_BURST`] bytes, so
//! the time spent with interrupts held off is bounded. A guest cannot choose which VM gets
//! host input (only the VMM calls `select`). A guest that never sends a newline still gets
//! its text out, one full line at a time. Every counter saturates.

mod backend;
mod hub;

#[cfg(test)]
mod tests;

pub use backend::{CONTROL_REPLACEMENT, HostBackedUart, LINE_CAPACITY, sanitize};
pub use hub::{
    HostSerialError, INPUT_QUEUE_CAPACITY, MAX_NAME_BYTES, MAX_VMS, PUMP_BURST, SharedHostSerial,
    VmSerialStats,
};

/// The host's real serial port, as the hypervisor's driver offers it. The kernel implements it
/// with its `uart_16550` COM1 driver; tests with a recording fake.
pub trait HostSerial: Send {
    /// Sends `bytes` in order (blocking until the transmitter has taken them).
    fn write_bytes(&mut self, bytes: &[u8]);
    /// A byte the host port has received, if one is waiting (never blocks).
    fn read_byte(&mut self) -> Option<u8>;
}
