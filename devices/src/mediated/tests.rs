//! The mediation behaviour, one test per documented rule, with a recording fake host.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::bus::{Access, Bus};
use crate::interface::Device;
use crate::interface::Region;
use crate::shared::Shared;
use crate::testing::FakeContext;

/// COM2's eight ports, the range every test mediates.
const BASE: u16 = 0x2F8;
const PORT_COUNT: u16 = 8;
/// Offset of COM2's transmit register and of its scratch register.
const THR: u16 = BASE;
const SCRATCH: u16 = BASE + 7;
/// What the fake host device answers every read with.
const HOST_ANSWER: u32 = 0x1234_5678;

/// One access that reached the fake host device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostAccess {
    Read { port: u16, size: u8 },
    Write { port: u16, size: u8, value: u32 },
}

/// Records every access and answers reads with [`HOST_ANSWER`] cut to the width.
#[derive(Default)]
struct FakeHost {
    accesses: Vec<HostAccess>,
}

impl HostPorts for FakeHost {
    fn read(&mut self, port: u16, size: u8) -> u32 {
        self.accesses.push(HostAccess::Read { port, size });
        HOST_ANSWER
    }
    fn write(&mut self, port: u16, size: u8, value: u32) {
        self.accesses.push(HostAccess::Write { port, size, value });
    }
}

fn range() -> PortRange {
    PortRange::new(BASE, PORT_COUNT).unwrap()
}

fn rule(first: u16, len: u16, access: AccessKind, action: Action) -> Rule {
    Rule {
        ports: PortRange::new(first, len).unwrap(),
        access,
        action,
    }
}

fn mediated(rules: Vec<Rule>) -> (MediatedPorts<FakeHost>, FakeContext) {
    let policy = Policy::new(rules).unwrap();
    let mut device = MediatedPorts::new(range(), policy, FakeHost::default()).unwrap();
    let mut ctx = FakeContext::new();
    device.install(&mut ctx).unwrap();
    (device, ctx)
}

#[test]
fn denied_write_never_reaches_the_host_and_is_recorded() {
    let (mut device, mut ctx) = mediated(vec![rule(THR, 1, AccessKind::Write, Action::Deny)]);
    device.pio_write(&mut ctx, THR, b"X");
    assert!(device.host().accesses.is_empty());
    assert_eq!(
        device.take_log(),
        [AccessRecord {
            port: THR,
            size: 1,
            write: true,
            value_in: Some(u32::from(b'X')),
            value_out: None,
            action: Action::Deny,
            rule: Some(0),
        }]
    );
    assert_eq!(device.counters().denied, 1);
}

#[test]
fn allowed_write_and_read_reach_the_host_unchanged_and_are_not_recorded() {
    let (mut device, mut ctx) = mediated(vec![rule(BASE, 8, AccessKind::Both, Action::Allow)]);
    device.pio_write(&mut ctx, THR, b"A");
    device.pio_write(&mut ctx, BASE + 2, &0xBEEFu16.to_le_bytes());
    let mut dword = [0u8; 4];
    device.pio_read(&mut ctx, BASE + 4, &mut dword);
    assert_eq!(u32::from_le_bytes(dword), HOST_ANSWER);
    let mut byte = [0u8; 1];
    device.pio_read(&mut ctx, SCRATCH, &mut byte);
    assert_eq!(byte, [0x78]);
    assert_eq!(
        device.host().accesses,
        [
            HostAccess::Write {
                port: THR,
                size: 1,
                value: 0x41
            },
            HostAccess::Write {
                port: BASE + 2,
                size: 2,
                value: 0xBEEF
            },
            HostAccess::Read {
                port: BASE + 4,
                size: 4
            },
            HostAccess::Read {
                port: SCRATCH,
                size: 1
            },
        ]
    );
    assert!(device.log().records().is_empty());
    assert_eq!(device.counters().allowed, 4);
}

#[test]
fn no_matching_rule_denies_and_a_denied_read_returns_all_ones() {
    let (mut device, mut ctx) = mediated(vec![rule(THR, 1, AccessKind::Write, Action::Allow)]);
    let mut word = [0u8; 2];
    device.pio_read(&mut ctx, THR, &mut word);
    assert_eq!(word, [0xFF, 0xFF]);
    device.pio_write(&mut ctx, SCRATCH, &[1]);
    assert!(device.host().accesses.is_empty());
    let log = device.take_log();
    assert_eq!(log.len(), 2);
    assert_eq!(
        (log[0].rule, log[0].value_in, log[0].value_out),
        (None, None, Some(0xFFFF))
    );
    assert_eq!((log[1].rule, log[1].value_out), (None, None));
    assert_eq!(
        (device.counters().denied, device.counters().unmatched),
        (2, 2)
    );
}

#[test]
fn rewrite_applies_and_mask_then_or_value_on_writes_and_reads() {
    let rewrite = Action::Rewrite {
        and_mask: 0x0F,
        or_value: 0x80,
    };
    let (mut device, mut ctx) = mediated(vec![rule(BASE + 4, 1, AccessKind::Both, rewrite)]);
    device.pio_write(&mut ctx, BASE + 4, &[0x3B]);
    let mut byte = [0u8; 1];
    device.pio_read(&mut ctx, BASE + 4, &mut byte);
    // Write: (0x3B & 0x0F) | 0x80 = 0x8B. Read: host 0x78 → (0x78 & 0x0F) | 0x80 = 0x88.
    assert_eq!(byte, [0x88]);
    assert_eq!(
        device.host().accesses[0],
        HostAccess::Write {
            port: BASE + 4,
            size: 1,
            value: 0x8B
        }
    );
    let log = device.take_log();
    assert_eq!(
        (log[0].value_in, log[0].value_out),
        (Some(0x3B), Some(0x8B))
    );
    assert_eq!(
        (log[1].value_in, log[1].value_out),
        (Some(0x78), Some(0x88))
    );
    assert_eq!(device.counters().rewritten, 2);
}

#[test]
fn rewrite_result_is_cut_to_the_access_width() {
    let set_high = Action::Rewrite {
        and_mask: u32::MAX,
        or_value: 0xFFFF_0000,
    };
    let (mut device, mut ctx) = mediated(vec![rule(BASE, 8, AccessKind::Write, set_high)]);
    device.pio_write(&mut ctx, BASE, &0x1234u16.to_le_bytes());
    assert_eq!(
        device.host().accesses,
        [HostAccess::Write {
            port: BASE,
            size: 2,
            value: 0x1234
        }]
    );
}

#[test]
fn first_matching_rule_wins() {
    let (mut device, mut ctx) = mediated(vec![
        rule(THR, 1, AccessKind::Write, Action::Log),
        rule(BASE, 8, AccessKind::Both, Action::Deny),
    ]);
    device.pio_write(&mut ctx, THR, b"o");
    device.pio_write(&mut ctx, BASE + 1, &[0x0F]);
    assert_eq!(
        device.host().accesses,
        [HostAccess::Write {
            port: THR,
            size: 1,
            value: u32::from(b'o')
        }]
    );
    assert_eq!(device.rule_hits(), [1, 1]);
}

#[test]
fn rule_direction_limits_what_it_matches() {
    let (mut device, mut ctx) = mediated(vec![rule(BASE, 8, AccessKind::Read, Action::Allow)]);
    let mut byte = [0u8; 1];
    device.pio_read(&mut ctx, BASE + 5, &mut byte);
    device.pio_write(&mut ctx, BASE + 5, &[0]);
    assert_eq!(
        device.host().accesses,
        [HostAccess::Read {
            port: BASE + 5,
            size: 1
        }]
    );
    assert_eq!(device.counters().unmatched, 1);
}

#[test]
fn log_action_passes_the_access_and_records_it() {
    let (mut device, mut ctx) = mediated(vec![rule(THR, 1, AccessKind::Both, Action::Log)]);
    device.pio_write(&mut ctx, THR, b"L");
    assert_eq!(device.host().accesses.len(), 1);
    let log = device.take_log();
    assert_eq!(
        log,
        [AccessRecord {
            port: THR,
            size: 1,
            write: true,
            value_in: Some(u32::from(b'L')),
            value_out: Some(u32::from(b'L')),
            action: Action::Log,
            rule: Some(0),
        }]
    );
    assert!(device.take_log().is_empty());
}

#[test]
fn access_spanning_two_rules_matches_neither_and_is_denied() {
    let (mut device, mut ctx) = mediated(vec![
        rule(BASE, 1, AccessKind::Write, Action::Allow),
        rule(BASE + 1, 1, AccessKind::Write, Action::Allow),
    ]);
    device.pio_write(&mut ctx, BASE, &0x0101u16.to_le_bytes());
    assert!(device.host().accesses.is_empty());
    assert_eq!(device.counters().unmatched, 1);
}

#[test]
fn width_other_than_one_two_or_four_is_denied_without_the_rules() {
    let (mut device, mut ctx) = mediated(vec![rule(BASE, 8, AccessKind::Both, Action::Allow)]);
    let mut qword = [0u8; 8];
    device.pio_read(&mut ctx, BASE, &mut qword);
    assert_eq!(qword, [0xFF; 8]);
    device.pio_write(&mut ctx, BASE, &[0; 3]);
    assert!(device.host().accesses.is_empty());
    let counters = device.counters();
    assert_eq!((counters.denied, counters.bad_size), (2, 2));
    assert_eq!(device.rule_hits(), [0]);
}

#[test]
fn log_ring_keeps_the_last_64_records_and_counts_the_overwritten() {
    let (mut device, mut ctx) = mediated(vec![rule(SCRATCH, 1, AccessKind::Write, Action::Log)]);
    let extra = 10;
    for value in 0..LOG_CAPACITY + extra {
        device.pio_write(&mut ctx, SCRATCH, &[value as u8]);
    }
    assert_eq!(device.log().records().len(), LOG_CAPACITY);
    assert_eq!(device.counters().records_overwritten, extra as u64);
    let log = device.take_log();
    assert_eq!(log[0].value_in, Some(extra as u32));
    assert_eq!(
        log[LOG_CAPACITY - 1].value_in,
        Some((LOG_CAPACITY + extra - 1) as u32)
    );
    assert_eq!(device.host().accesses.len(), LOG_CAPACITY + extra);
}

#[test]
fn counters_count_every_decision_once() {
    let (mut device, mut ctx) = mediated(vec![
        rule(BASE, 1, AccessKind::Both, Action::Allow),
        rule(BASE + 1, 1, AccessKind::Both, Action::Log),
        rule(
            BASE + 2,
            1,
            AccessKind::Both,
            Action::Rewrite {
                and_mask: 0,
                or_value: 1,
            },
        ),
        rule(BASE + 3, 1, AccessKind::Both, Action::Deny),
    ]);
    for port in BASE..BASE + PORT_COUNT {
        device.pio_write(&mut ctx, port, &[0]);
    }
    assert_eq!(
        *device.counters(),
        MediationCounters {
            allowed: 1,
            logged: 1,
            rewritten: 1,
            denied: 5,
            unmatched: 4,
            bad_size: 0,
            records_overwritten: 0,
        }
    );
    assert_eq!(device.counters().total(), u64::from(PORT_COUNT));
    assert_eq!(device.rule_hits(), [1, 1, 1, 1]);
}

#[test]
fn policy_refuses_a_rule_outside_the_range_and_too_many_rules() {
    let outside = Policy::new(vec![
        rule(BASE, 1, AccessKind::Both, Action::Allow),
        rule(BASE + 6, 4, AccessKind::Both, Action::Allow),
    ])
    .unwrap();
    assert_eq!(
        MediatedPorts::new(range(), outside, FakeHost::default()).map(|_| ()),
        Err(PolicyError::RuleOutsideRange { rule: 1 })
    );
    let many = vec![rule(BASE, 1, AccessKind::Both, Action::Allow); MAX_RULES + 1];
    assert_eq!(
        Policy::new(many),
        Err(PolicyError::TooManyRules {
            given: MAX_RULES + 1
        })
    );
}

#[test]
fn install_claims_the_range_and_remove_releases_it() {
    let (mut device, mut ctx) = mediated(Vec::new());
    assert_eq!(ctx.claims(), [Region::Pio(range())]);
    device.remove(&mut ctx).unwrap();
    assert!(ctx.claims().is_empty());
}

#[test]
fn bus_splits_an_access_straddling_the_range_into_single_bytes() {
    let mut vm = FakeContext::new();
    let mut bus = Bus::default();
    let policy = Policy::new(vec![rule(BASE, 8, AccessKind::Both, Action::Log)]).unwrap();
    let device = Shared::new(MediatedPorts::new(range(), policy, FakeHost::default()).unwrap());
    let id = bus.register(&mut vm, Box::new(device.clone())).unwrap();
    bus.power_on(&mut vm, id).unwrap();
    // A 16-bit write at the last port: its second byte (0x300) is outside the range.
    bus.pio_write(&mut vm, SCRATCH, &0xAA55u16.to_le_bytes());
    let mut word = [0u8; 2];
    assert_eq!(bus.pio_read(&mut vm, SCRATCH, &mut word), Access::Split);
    assert_eq!(word, [0x78, 0xFF]);
    assert_eq!(
        device.lock().host().accesses,
        [
            HostAccess::Write {
                port: SCRATCH,
                size: 1,
                value: 0x55
            },
            HostAccess::Read {
                port: SCRATCH,
                size: 1
            },
        ]
    );
}

#[test]
fn record_prints_direction_port_values_and_decision() {
    let record = AccessRecord {
        port: THR,
        size: 1,
        write: true,
        value_in: Some(0x41),
        value_out: None,
        action: Action::Deny,
        rule: None,
    };
    assert_eq!(
        alloc::format!("{record}"),
        "out port 0x02f8 size 1 value 0x41 -> - (Deny: no rule)"
    );
}
