//! From a configured mediation policy to the engine that enforces it ([`crate::mediated`]).
//!
//! The configuration's rules mean what [`crate::mediated::policy`] does with them: tried in
//! order, the **first** rule whose direction fits and whose ports cover every byte of the
//! access decides; when none does, the access is **denied**. The schema keeps its own
//! types ([`PolicyRule`], [`Access`], [`Action`]) so the wire format does not
//! change when the engine does; this module maps them one to one.

use alloc::vec::Vec;

use super::schema::{Access, Action, PolicyRule, PortSpan};
use crate::interface::{PortRange, RangeError};
use crate::mediated::{self, Policy, PolicyError};

/// Why a configured policy could not become an engine policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyBuildError {
    /// Rule `rule` (0-based) has `last < first`.
    BadSpan {
        /// The rule's index.
        rule: usize,
    },
    /// The engine refused the rules (too many).
    Policy(PolicyError),
}

impl PortSpan {
    /// The span as a port range; an error if `last < first`.
    pub fn to_range(&self) -> Result<PortRange, RangeError> {
        let span = self.last.checked_sub(self.first).ok_or(RangeError::Empty)?;
        let len = span.checked_add(1).ok_or(RangeError::Overflow)?;
        PortRange::new(self.first, len)
    }
}

impl From<Access> for mediated::AccessKind {
    fn from(access: Access) -> Self {
        match access {
            Access::Read => mediated::AccessKind::Read,
            Access::Write => mediated::AccessKind::Write,
            Access::Both => mediated::AccessKind::Both,
        }
    }
}

impl From<Action> for mediated::Action {
    fn from(action: Action) -> Self {
        match action {
            Action::Allow => mediated::Action::Allow,
            Action::Deny => mediated::Action::Deny,
            Action::Log => mediated::Action::Log,
            Action::Rewrite { and_mask, or_value } => {
                mediated::Action::Rewrite { and_mask, or_value }
            }
        }
    }
}

impl PolicyRule {
    /// The engine's rule; an error if the port span is reversed.
    pub fn to_rule(&self) -> Result<mediated::Rule, RangeError> {
        Ok(mediated::Rule {
            ports: self.ports.to_range()?,
            access: self.access.into(),
            action: self.action.into(),
        })
    }
}

/// The engine policy enforcing `rules`, in order.
pub fn build_policy(rules: &[PolicyRule]) -> Result<Policy, PolicyBuildError> {
    let rules = rules
        .iter()
        .enumerate()
        .map(|(index, rule)| {
            rule.to_rule()
                .map_err(|_| PolicyBuildError::BadSpan { rule: index })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Policy::new(rules).map_err(PolicyBuildError::Policy)
}
