//! Mediated passthrough (the paper's second way to build a device): the guest's accesses to a
//! range of I/O ports trap, pass through a small deterministic [`Policy`], and only what the
//! policy lets through reaches the real host device, through [`HostPorts`].
//!
//! # Behaviour
//! - **Claim**: [`MediatedPorts`] claims its [`PortRange`] in `install` and releases it in
//!   `remove`. Every rule of its policy must lie inside that range ([`PolicyError`]).
//! - **Decision** (per access, see [`policy`]): the rules are tried in order; the first whose
//!   direction fits and whose port range covers every byte of the access decides; if none
//!   does, the access is denied. A width other than 1, 2 or 4 bytes is denied without
//!   consulting the rules (no `in`/`out` instruction has it).
//! - **Actions**: [`Action::Allow`] passes the access unchanged; [`Action::Log`] passes it and
//!   records it; [`Action::Rewrite`] passes it with the value replaced by
//!   `(value & and_mask) | or_value` cut to the access width (the guest's value on a write,
//!   the host's answer on a read) and records it; [`Action::Deny`] never touches the host: a
//!   write is dropped, a read returns all-ones (as an absent ISA device reads); it is recorded.
//! - **Accounting**: every decision is counted ([`MediationCounters`], plus a hit count per
//!   rule); every access that is not a plain allow is kept in a ring of the last
//!   [`LOG_CAPACITY`] records ([`AccessRecord`], printable with `Display`) that the VMM drains
//!   with [`MediatedPorts::take_log`]; older records are overwritten and counted.
//! - **Wide accesses at the edge of the range**: the bus splits an access whose bytes do not
//!   all belong to this device into 1-byte accesses, one per port, each routed to its own
//!   owner (see [`crate::bus`]); so this device sees only the bytes inside its range, each
//!   decided on its own as a 1-byte access. An access that lies wholly inside the range but
//!   spans two rules matches neither of them (a rule must cover every byte).
//!
//! The VMM keeps a handle to the device (for example through [`crate::shared::Shared`]) to
//! print the log and counters.
//!
//! # Threat note
//! The guest controls the port, width, direction, value and timing of every access. The host
//! device is touched only for an access the policy decided to pass, and only at ports inside
//! the claimed range (every rule lies inside it, and a rule must cover the whole access), at
//! the width the guest used (1, 2 or 4); the kernel's [`HostPorts`] checks its allowed range
//! again. Values are `u32` cut to the access width; the rewrite is two bit operations. Nothing
//! the guest does grows memory: the record ring is fixed at [`LOG_CAPACITY`], the rules at
//! [`MAX_RULES`] (set by the configuration, not the guest), and every counter saturates. What
//! an allowed access does to the real device is the policy author's responsibility.

pub mod log;
pub mod policy;

#[cfg(test)]
mod tests;

pub use log::{AccessLog, AccessRecord, LOG_CAPACITY, MediationCounters};
pub use policy::{AccessKind, AccessSize, Action, Decision, MAX_RULES, Policy, PolicyError, Rule};

use alloc::vec;
use alloc::vec::Vec;

use crate::interface::{Device, DeviceContext, DeviceError, PortRange};
use crate::port_claims::{claim_ports, release_ports};

/// The real device's ports, as the hypervisor reaches them. The kernel implements it with
/// `in`/`out` on the ports it allows this device; a test with a recording fake.
pub trait HostPorts: Send {
    /// Reads `size` (1, 2 or 4) bytes at `port`; the value is zero-extended.
    fn read(&mut self, port: u16, size: u8) -> u32;
    /// Writes the low `size` (1, 2 or 4) bytes of `value` to `port`.
    fn write(&mut self, port: u16, size: u8, value: u32);
}

/// The default decision for an access of a width no instruction has.
const BAD_SIZE: Decision = Decision {
    rule: None,
    action: Action::Deny,
};

/// What a denied read returns, byte by byte.
const DENIED_READ_BYTE: u8 = 0xFF;

/// Bytes of an access's value this device carries (`u32`).
const VALUE_BYTES: usize = 4;

/// A mediated host port range: a [`Device`] that puts a [`Policy`] between the guest and `H`.
pub struct MediatedPorts<H: HostPorts> {
    ports: PortRange,
    policy: Policy,
    host: H,
    counters: MediationCounters,
    rule_hits: Vec<u64>,
    log: AccessLog,
}

impl<H: HostPorts> MediatedPorts<H> {
    /// Mediates `ports` with `policy` in front of `host`. Refuses a policy with a rule outside
    /// `ports`.
    pub fn new(ports: PortRange, policy: Policy, host: H) -> Result<Self, PolicyError> {
        policy.check_within(ports)?;
        let rule_hits = vec![0; policy.rules().len()];
        Ok(MediatedPorts {
            ports,
            policy,
            host,
            counters: MediationCounters::default(),
            rule_hits,
            log: AccessLog::new(),
        })
    }

    /// The claimed ports.
    pub fn ports(&self) -> PortRange {
        self.ports
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Decisions so far, by outcome.
    pub fn counters(&self) -> &MediationCounters {
        &self.counters
    }

    /// How many accesses each rule decided, in rule order.
    pub fn rule_hits(&self) -> &[u64] {
        &self.rule_hits
    }

    /// The recorded accesses not yet drained, oldest first.
    pub fn log(&self) -> &AccessLog {
        &self.log
    }

    /// Drains the recorded accesses, oldest first (at most [`LOG_CAPACITY`]).
    pub fn take_log(&mut self) -> Vec<AccessRecord> {
        self.log.take()
    }

    /// The host side.
    pub fn host(&self) -> &H {
        &self.host
    }

    /// The host side, mutably.
    pub fn host_mut(&mut self) -> &mut H {
        &mut self.host
    }

    /// Decides one access and books it in the counters and per-rule hits.
    fn decide(&mut self, port: u16, size: Option<AccessSize>, write: bool) -> Decision {
        let decision = match size {
            Some(size) => self.policy.decide(port, size, write),
            None => BAD_SIZE,
        };
        self.counters.count(decision, size);
        if let Some(hits) = decision.rule.and_then(|rule| self.rule_hits.get_mut(rule)) {
            *hits = hits.saturating_add(1);
        }
        decision
    }

    /// Records an access unless a plain allow passed it.
    fn record(&mut self, record: AccessRecord) {
        if record.action != Action::Allow && self.log.push(record) {
            self.counters.records_overwritten = self.counters.records_overwritten.saturating_add(1);
        }
    }
}

/// The access's width as recorded: its byte count (at most 8 from the bus), saturating.
fn recorded_size(len: usize) -> u8 {
    u8::try_from(len).unwrap_or(u8::MAX)
}

/// The little-endian value of the first (up to four) bytes of `data`.
fn value_of(data: &[u8]) -> u32 {
    let mut bytes = [0u8; VALUE_BYTES];
    for (slot, byte) in bytes.iter_mut().zip(data) {
        *slot = *byte;
    }
    u32::from_le_bytes(bytes)
}

impl<H: HostPorts> Device for MediatedPorts<H> {
    fn name(&self) -> &str {
        "mediated-ports"
    }

    /// Claims the port range (a context that claims for its devices is accepted).
    fn install(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        claim_ports(ctx, &[self.ports])
    }

    /// Releases the port range.
    fn remove(&mut self, ctx: &mut dyn DeviceContext) -> Result<(), DeviceError> {
        release_ports(ctx, &[self.ports])
    }

    fn pio_read(&mut self, _ctx: &mut dyn DeviceContext, port: u16, data: &mut [u8]) {
        let size = AccessSize::from_len(data.len());
        let decision = self.decide(port, size, false);
        let passed = size.filter(|_| decision.action.reaches_host());
        let (value_in, value_out) = match passed {
            Some(size) => {
                let raw = self.host.read(port, size.bytes()) & size.mask();
                let value = decision.action.apply(raw, size);
                for (slot, byte) in data.iter_mut().zip(value.to_le_bytes()) {
                    *slot = byte;
                }
                (Some(raw), value)
            }
            None => {
                data.fill(DENIED_READ_BYTE);
                (None, value_of(data))
            }
        };
        self.record(AccessRecord {
            port,
            size: recorded_size(data.len()),
            write: false,
            value_in,
            value_out: Some(value_out),
            action: decision.action,
            rule: decision.rule,
        });
    }

    fn pio_write(&mut self, _ctx: &mut dyn DeviceContext, port: u16, data: &[u8]) {
        let size = AccessSize::from_len(data.len());
        let decision = self.decide(port, size, true);
        let value_in = value_of(data);
        let passed = size.filter(|_| decision.action.reaches_host());
        let value_out = passed.map(|size| {
            let value = decision.action.apply(value_in, size);
            self.host.write(port, size.bytes(), value);
            value
        });
        self.record(AccessRecord {
            port,
            size: recorded_size(data.len()),
            write: true,
            value_in: Some(value_in),
            value_out,
            action: decision.action,
            rule: decision.rule,
        });
    }
}
