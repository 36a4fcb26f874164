//! The wire format itself (see [`super::encoding`]): the exact bytes of a small machine, unknown
//! tags, length prefixes over their caps, every truncation point, and hostile input that must
//! never panic.

use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use super::tests::{encoded, every_variant, raw_encoding};
use super::*;
use crate::test_random::XorShift64;

/// One VM exercising a Linux guest without initrd, a mediated port range with one rewrite rule
/// and one CPUID override with a sub-leaf.
fn small_machine() -> Machine {
    Machine {
        vms: vec![VmDesc {
            name: "v".to_string(),
            ram_mib: 32,
            vcpus: 1,
            apic: true,
            acpi: false,
            guest: Guest::Linux {
                kernel: "k".to_string(),
                initrd: None,
                cmdline: "c".to_string(),
            },
            devices: vec![DeviceDesc {
                name: "d".to_string(),
                kind: DeviceKind::PortRange {
                    base: 0x2F8,
                    len: 8,
                },
                method: Method::Mediated {
                    host: HostDevice::Ports {
                        base: 0x2F8,
                        len: 8,
                    },
                    policy: vec![PolicyRule {
                        ports: PortSpan {
                            first: 0x2F8,
                            last: 0x2FF,
                        },
                        access: Access::Both,
                        action: Action::Rewrite {
                            and_mask: 0x0F,
                            or_value: 0x80,
                        },
                    }],
                },
            }],
            cpuid_overrides: vec![CpuidOverride {
                leaf: 1,
                subleaf: Some(0),
                eax: 2,
                ebx: 3,
                ecx: 4,
                edx: 5,
            }],
        }],
    }
}

/// `small_machine()` byte for byte, as the format documentation lays it out.
const SMALL_MACHINE_BYTES: &[u8] = &[
    b'H', b'V', b'M', b'C', 3, 0, // magic, version 3
    1, 0, // one VM
    1, 0, b'v', // name
    32, 0, 0, 0, // ram_mib
    1, 0, 0, 0, // vcpus
    1, // apic
    0, // no acpi
    2, // guest: Linux
    1, 0, b'k', // kernel
    0,    // no initrd
    1, 0, b'c', // cmdline
    1, 0, // one device
    1, 0, b'd', // name
    3, 0xF8, 0x02, 8, 0, // kind: port range 0x2F8, 8 ports
    3, // method: mediated
    2, 0xF8, 0x02, 8, 0, // host: ports 0x2F8, 8 ports
    1, 0, // one rule
    0xF8, 0x02, 0xFF, 0x02, // ports 0x2F8..=0x2FF
    2,    // access: both
    3, 0x0F, 0, 0, 0, 0x80, 0, 0, 0, // action: rewrite (& 0x0F) | 0x80
    1, 0, // one CPUID override
    1, 0, 0, 0, // leaf
    1, 0, 0, 0, 0, // sub-leaf: some 0
    2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, // eax, ebx, ecx, edx
];

// Offsets of tag, presence and length bytes in `SMALL_MACHINE_BYTES`.
const APIC_AT: usize = 19;
const ACPI_AT: usize = 20;
const GUEST_TAG_AT: usize = 21;
const INITRD_PRESENCE_AT: usize = 25;
const CMDLINE_LEN_AT: usize = 26;
const DEVICE_NAME_LEN_AT: usize = 31;
const KIND_TAG_AT: usize = 34;
const METHOD_TAG_AT: usize = 39;
const HOST_TAG_AT: usize = 40;
const POLICY_LEN_AT: usize = 45;
const ACCESS_AT: usize = 51;
const ACTION_AT: usize = 52;
const SUBLEAF_PRESENCE_AT: usize = 67;

#[test]
fn small_machine_encodes_to_the_documented_bytes() {
    assert_eq!(encoded(&small_machine()), SMALL_MACHINE_BYTES);
    assert_eq!(decode(SMALL_MACHINE_BYTES), Ok(small_machine()));
}

#[test]
fn machine_with_every_variant_and_both_option_states_round_trips() {
    let mut machine = every_variant();
    machine.vms.extend(small_machine().vms);
    machine.vms[3].name = "small".to_string();
    let bytes = encoded(&machine);
    assert_eq!(decode(&bytes), Ok(machine));
}

#[test]
fn unknown_enum_tags_and_presence_bytes_are_malformed() {
    let first_unknown = [
        (APIC_AT, 2),
        (ACPI_AT, 2),
        (GUEST_TAG_AT, 3),
        (INITRD_PRESENCE_AT, 2),
        (KIND_TAG_AT, 7),
        (METHOD_TAG_AT, 4),
        (HOST_TAG_AT, 4),
        (ACCESS_AT, 3),
        (ACTION_AT, 4),
        (SUBLEAF_PRESENCE_AT, 2),
    ];
    for (at, unknown) in first_unknown {
        for value in [unknown, 0xFF] {
            let mut bytes = SMALL_MACHINE_BYTES.to_vec();
            bytes[at] = value;
            assert_eq!(
                decode(&bytes),
                Err(DecodeError::Malformed),
                "byte {at} = {value}"
            );
        }
    }
}

#[test]
fn file_name_that_is_not_utf8_is_malformed() {
    let mut bytes = SMALL_MACHINE_BYTES.to_vec();
    bytes[INITRD_PRESENCE_AT - 1] = 0xC0; // "k" becomes a lone UTF-8 lead byte
    assert_eq!(decode(&bytes), Err(DecodeError::Malformed));
}

/// `SMALL_MACHINE_BYTES` with the `u16` length prefix at `at` replaced by `len` and everything
/// after the prefix cut off: a decoder that read or allocated before checking would answer
/// `Truncated`.
fn prefix_then_nothing(at: usize, len: u16) -> Vec<u8> {
    let mut bytes = SMALL_MACHINE_BYTES[..at].to_vec();
    bytes.extend_from_slice(&len.to_le_bytes());
    bytes
}

#[test]
fn length_prefixes_over_their_caps_are_refused_before_reading_on() {
    let limit = |limit, vm, device, found| {
        Err(DecodeError::Limit(LimitError {
            limit,
            vm,
            device,
            found,
        }))
    };
    assert_eq!(
        decode(&prefix_then_nothing(HEADER_LEN, u16::MAX)),
        limit(Limit::Vms, None, None, usize::from(u16::MAX))
    );
    assert_eq!(
        decode(&prefix_then_nothing(CMDLINE_LEN_AT, 4097)),
        limit(Limit::Cmdline, Some(0), None, MAX_CMDLINE_LEN + 1)
    );
    assert_eq!(
        decode(&prefix_then_nothing(DEVICE_NAME_LEN_AT, 33)),
        limit(Limit::DeviceName, Some(0), Some(0), MAX_NAME_LEN + 1)
    );
    assert_eq!(
        decode(&prefix_then_nothing(POLICY_LEN_AT, 33)),
        limit(Limit::PolicyRules, Some(0), Some(0), MAX_POLICY_RULES + 1)
    );
    // At the cap itself the prefix is accepted and the missing bytes are the error.
    assert_eq!(
        decode(&prefix_then_nothing(CMDLINE_LEN_AT, 4096)),
        Err(DecodeError::Truncated)
    );
}

#[test]
fn every_prefix_of_an_encoding_is_truncated() {
    for machine in [small_machine(), every_variant()] {
        let bytes = encoded(&machine);
        for len in MAGIC.len()..bytes.len() {
            assert_eq!(
                decode(&bytes[..len]),
                Err(DecodeError::Truncated),
                "prefix of {len} of {} bytes",
                bytes.len()
            );
        }
    }
}

#[test]
fn string_too_long_for_its_prefix_is_refused_by_the_writer() {
    let mut machine = small_machine();
    if let Guest::Linux { cmdline, .. } = &mut machine.vms[0].guest {
        *cmdline = "x".repeat(usize::from(u16::MAX) + 1);
    }
    assert!(matches!(encode(&machine), Err(EncodeError::Limit(_))));
    assert_eq!(
        encoding::encode_unchecked(&machine),
        Err(EncodeError::Serialize)
    );
}

#[test]
fn over_cap_machine_from_the_raw_writer_is_refused_with_its_place() {
    let mut machine = small_machine();
    machine.vms[0].cpuid_overrides = vec![machine.vms[0].cpuid_overrides[0]; 33];
    assert_eq!(
        decode(&raw_encoding(&machine)).map_err(|error| error.to_string()),
        Err("vm[0].cpuid: 33 entries, at most 32".to_string())
    );
}

/// Decoding `bytes` returns (it must not panic); whatever it accepts re-encodes to exactly
/// `bytes`, since every value has one encoding.
fn decode_is_total_and_canonical(bytes: &[u8]) {
    if let Ok(machine) = decode(bytes) {
        assert_eq!(encode(&machine).as_deref(), Ok(bytes));
    }
}

#[test]
fn random_bytes_never_panic_and_accepted_input_is_canonical() {
    let mut random = XorShift64::new(0x9E37_79B9_7F4A_7C15);
    for _ in 0..2000 {
        // Past the header, so the payload decoder sees the noise; small counts reach deeper.
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&[random.byte() % 3, 0]);
        let len = random.below(200);
        bytes.extend((0..len).map(|_| random.byte()));
        decode_is_total_and_canonical(&bytes);
        // Raw noise, header included.
        let noise: Vec<u8> = (0..random.below(64)).map(|_| random.byte()).collect();
        decode_is_total_and_canonical(&noise);
    }
}

#[test]
fn mutated_encodings_never_panic_and_accepted_input_is_canonical() {
    let mut random = XorShift64::new(0x0123_4567_89AB_CDEF);
    let originals = [encoded(&every_variant()), SMALL_MACHINE_BYTES.to_vec()];
    let mut accepted = 0usize;
    for round in 0..4000 {
        let mut bytes = originals[round % originals.len()].clone();
        for _ in 0..=random.below(3) {
            let at = HEADER_LEN + random.below(bytes.len() - HEADER_LEN);
            bytes[at] = random.byte();
        }
        if random.below(4) == 0 {
            bytes.truncate(HEADER_LEN + random.below(bytes.len() - HEADER_LEN));
        }
        if decode(&bytes).is_ok() {
            accepted += 1;
        }
        decode_is_total_and_canonical(&bytes);
    }
    // Changed numbers still decode: the loop did exercise the accepting path.
    assert!(accepted > 100, "only {accepted} mutants decoded");
}
