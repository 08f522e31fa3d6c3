//! 政策找人: compare what each household looks eligible for with what it
//! receives. Pure; the store feeds households in and stores the findings.

use crate::{Rule, Scope};

/// A policy ready to run: its compiled rules and how receipt is recorded.
pub struct CompiledPolicy {
    pub id: i64,
    pub code: String,
    pub name: String,
    /// A category code or ledger kind present in `hh.receives` when the
    /// household receives this policy.
    pub receipt_key: String,
    /// Receipt keys that must not be received together with this one.
    pub excludes: Vec<String>,
    pub eligibility: Rule,
    pub amount: Option<Rule>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingKind {
    /// Looks eligible, does not receive it (应保未保).
    Missed,
    /// Receives it, looks ineligible (不应保而保).
    Excessive,
    /// Receives two things that exclude each other (重复享受).
    Duplicate,
    /// The rule failed on this household; reported, the run goes on.
    Error,
}

impl FindingKind {
    pub fn code(self) -> &'static str {
        match self {
            FindingKind::Missed => "missed",
            FindingKind::Excessive => "excessive",
            FindingKind::Duplicate => "duplicate",
            FindingKind::Error => "error",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            FindingKind::Missed => "疑似应享未享",
            FindingKind::Excessive => "疑似不符合仍在享受",
            FindingKind::Duplicate => "疑似重复享受",
            FindingKind::Error => "规则计算出错",
        }
    }
    pub fn from_code(s: &str) -> Option<FindingKind> {
        [
            FindingKind::Missed,
            FindingKind::Excessive,
            FindingKind::Duplicate,
            FindingKind::Error,
        ]
        .into_iter()
        .find(|k| k.code() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub policy_id: i64,
    pub kind: FindingKind,
    /// Why, in Chinese: the failed condition, the conflicting item, the error.
    pub reason: String,
    /// Estimated monthly (or one-off) amount in fen for a missed benefit.
    pub amount_fen: Option<i64>,
}

/// Runs every policy on one household (already in `scope`, whose
/// `hh.receives` is `receives`).
pub fn check_household(
    policies: &[CompiledPolicy],
    scope: &Scope,
    receives: &[String],
) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in policies {
        let gets = receives.iter().any(|r| *r == p.receipt_key);
        match p.eligibility.eval_bool(scope) {
            Err(e) => out.push(Finding {
                policy_id: p.id,
                kind: FindingKind::Error,
                reason: format!("资格规则：{e}"),
                amount_fen: None,
            }),
            // Receiving something that excludes this policy (特困 for 低保)
            // is not a missed benefit.
            Ok(true) if !gets && !p.excludes.iter().any(|e| receives.contains(e)) => {
                let amount = match &p.amount {
                    None => Ok(None),
                    Some(rule) => rule.eval_amount(scope).map(Some),
                };
                match amount {
                    Ok(amount_fen) => out.push(Finding {
                        policy_id: p.id,
                        kind: FindingKind::Missed,
                        reason: "符合全部资格条件，但未享受".into(),
                        amount_fen,
                    }),
                    Err(e) => out.push(Finding {
                        policy_id: p.id,
                        kind: FindingKind::Error,
                        reason: format!("金额公式：{e}"),
                        amount_fen: None,
                    }),
                }
            }
            Ok(false) if gets => {
                let why = p
                    .eligibility
                    .first_failed(scope)
                    .map(|c| {
                        let names = |code: &str| {
                            policies
                                .iter()
                                .find(|o| o.receipt_key == code)
                                .map(|o| o.name.clone())
                        };
                        match c.result {
                            Ok(_) => crate::describe::failed_condition(&c.text, scope, &names),
                            Err(e) => format!(
                                "条件无法计算（{}）：{e}",
                                crate::describe::failed_condition(&c.text, scope, &names)
                            ),
                        }
                    })
                    .unwrap_or_else(|| "不满足资格条件".into());
                out.push(Finding {
                    policy_id: p.id,
                    kind: FindingKind::Excessive,
                    reason: why,
                    amount_fen: None,
                });
            }
            Ok(_) => {}
        }
        if gets {
            for ex in &p.excludes {
                if !receives.contains(ex) {
                    continue;
                }
                let other = policies.iter().find(|o| o.receipt_key == *ex);
                // Report each conflicting pair once: from the policy whose
                // receipt key sorts first when both list each other.
                let mutual = other.is_some_and(|o| o.excludes.contains(&p.receipt_key));
                if mutual && p.receipt_key > *ex {
                    continue;
                }
                let other_name = match other {
                    Some(o) => o.name.clone(),
                    None => category_label(ex),
                };
                out.push(Finding {
                    policy_id: p.id,
                    kind: FindingKind::Duplicate,
                    reason: format!("同时享受“{}”与“{}”，两者不得同时享受", p.name, other_name),
                    amount_fen: None,
                });
            }
        }
    }
    out
}

/// A receipt key shown to people: the category's name when it is one.
fn category_label(key: &str) -> String {
    use doudi_domain::Coded;
    doudi_domain::household::Category::from_code(key)
        .map_or(key.to_string(), |c| c.label().to_string())
}
