//! The mediation policy: an ordered list of [`Rule`]s, first match wins, no match denies.
//!
//! A rule matches an access when the direction fits ([`AccessKind`]) and its port range
//! covers **every** byte of the access (`port ..= port + size - 1`). An access that only
//! partly lies in a rule's range does not match it, so a 16-bit write cannot reach a denied
//! port by starting on the allowed port next to it; it falls through to later rules and, if
//! none covers it whole, is denied.

use alloc::vec::Vec;

use crate::interface::PortRange;

/// Most rules one policy holds (the configuration is human-written; a handful is typical).
pub const MAX_RULES: usize = 32;

/// The width of one port access, as `in`/`out` perform it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccessSize {
    /// `inb`/`outb`.
    Byte,
    /// `inw`/`outw`.
    Word,
    /// `inl`/`outl`.
    Dword,
}

impl AccessSize {
    /// The size of a `len`-byte access; `None` for anything but 1, 2 or 4.
    pub const fn from_len(len: usize) -> Option<Self> {
        match len {
            1 => Some(AccessSize::Byte),
            2 => Some(AccessSize::Word),
            4 => Some(AccessSize::Dword),
            _ => None,
        }
    }

    /// Bytes moved: 1, 2 or 4.
    pub const fn bytes(self) -> u8 {
        match self {
            AccessSize::Byte => 1,
            AccessSize::Word => 2,
            AccessSize::Dword => 4,
        }
    }

    /// The bits an access of this size carries (all-ones is also what a denied read returns).
    pub const fn mask(self) -> u32 {
        match self {
            AccessSize::Byte => 0xFF,
            AccessSize::Word => 0xFFFF,
            AccessSize::Dword => 0xFFFF_FFFF,
        }
    }
}

/// Which direction of access a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessKind {
    /// Guest reads (`in`).
    Read,
    /// Guest writes (`out`).
    Write,
    /// Both.
    Both,
}

impl AccessKind {
    /// Whether a read (`write == false`) or write fits this kind.
    pub const fn covers(self, write: bool) -> bool {
        match self {
            AccessKind::Read => !write,
            AccessKind::Write => write,
            AccessKind::Both => true,
        }
    }
}

/// What happens to an access a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Pass it to the host device unchanged; counted, not recorded.
    Allow,
    /// Do not touch the host device: a write is dropped, a read returns all-ones. Counted and
    /// recorded.
    Deny,
    /// Pass it unchanged, counted and recorded.
    Log,
    /// Pass it with the value rewritten to `(value & and_mask) | or_value` (cut to the access
    /// width): the guest's value on a write, the host's on a read. Counted and recorded.
    Rewrite { and_mask: u32, or_value: u32 },
}

impl Action {
    /// Whether the host device is touched.
    pub const fn reaches_host(self) -> bool {
        !matches!(self, Action::Deny)
    }

    /// The value after this action, for an access of `size`.
    pub const fn apply(self, value: u32, size: AccessSize) -> u32 {
        let value = match self {
            Action::Rewrite { and_mask, or_value } => (value & and_mask) | or_value,
            Action::Allow | Action::Deny | Action::Log => value,
        };
        value & size.mask()
    }
}

/// One line of a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rule {
    /// The ports it covers (an access must lie wholly inside).
    pub ports: PortRange,
    /// The direction it covers.
    pub access: AccessKind,
    /// What it does.
    pub action: Action,
}

impl Rule {
    /// Whether this rule decides an access of `size` at `port` in direction `write`.
    pub fn matches(&self, port: u16, size: AccessSize, write: bool) -> bool {
        let last = port.checked_add(u16::from(size.bytes()) - 1);
        self.access.covers(write)
            && self.ports.contains(port)
            && last.is_some_and(|last| self.ports.contains(last))
    }
}

/// Why a policy (or a mediated device built on one) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyError {
    /// More than [`MAX_RULES`] rules.
    TooManyRules { given: usize },
    /// Rule number `rule` (0-based) names ports outside the device's claimed range: it could
    /// never match, so it is a configuration mistake.
    RuleOutsideRange { rule: usize },
}

/// Which rule decided an access, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The index of the matching rule; `None` when no rule matched (the default deny).
    pub rule: Option<usize>,
    /// The action taken.
    pub action: Action,
}

/// What no matching rule means: deny.
const DEFAULT_DENY: Decision = Decision {
    rule: None,
    action: Action::Deny,
};

/// The ordered rules.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    rules: Vec<Rule>,
}

impl Policy {
    /// A policy of `rules`, in priority order. Refuses more than [`MAX_RULES`].
    pub fn new(rules: Vec<Rule>) -> Result<Self, PolicyError> {
        if rules.len() > MAX_RULES {
            return Err(PolicyError::TooManyRules { given: rules.len() });
        }
        Ok(Policy { rules })
    }

    /// The rules, in priority order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The first rule that matches decides; none matching denies.
    pub fn decide(&self, port: u16, size: AccessSize, write: bool) -> Decision {
        self.rules
            .iter()
            .enumerate()
            .find(|(_, rule)| rule.matches(port, size, write))
            .map_or(DEFAULT_DENY, |(index, rule)| Decision {
                rule: Some(index),
                action: rule.action,
            })
    }

    /// Checks every rule lies inside `range`.
    pub fn check_within(&self, range: PortRange) -> Result<(), PolicyError> {
        match self.rules.iter().position(|rule| {
            !(range.contains(rule.ports.first()) && range.contains(rule.ports.last()))
        }) {
            Some(rule) => Err(PolicyError::RuleOutsideRange { rule }),
            None => Ok(()),
        }
    }
}
