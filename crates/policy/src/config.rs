//! The config's `policy` object, read strictly: a typo in a policy must not silently allow
//! what the operator meant to deny.

use serde_json::Value;

use crate::{Action, Policy, Rule};

/// What is wrong with a `policy` object; the message names the place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("`policy` must be an object with `default` and `rules`")]
    NotAnObject,
    #[error("`policy.{field}` is not a field of policy (expected `default`, `rules`)")]
    UnknownField { field: String },
    #[error("`policy.default` must be \"allow\", \"deny\" or \"ask\", not {found}")]
    BadDefault { found: String },
    #[error("`policy.rules` must be an array of rules")]
    RulesNotArray,
    #[error("`policy.rules[{index}]`: {reason}")]
    BadRule { index: usize, reason: String },
    #[error("a tool pattern is empty")]
    EmptyPattern,
    #[error("tool pattern {pattern:?} is not a glob: {reason}")]
    BadPattern { pattern: String, reason: String },
}

pub(crate) fn parse(value: &Value) -> Result<Policy, PolicyError> {
    let object = value.as_object().ok_or(PolicyError::NotAnObject)?;
    if let Some(field) = object
        .keys()
        .find(|k| !["default", "rules"].contains(&k.as_str()))
    {
        return Err(PolicyError::UnknownField {
            field: field.clone(),
        });
    }
    let default = match object.get("default") {
        None => Action::Allow,
        Some(Value::String(text)) => {
            Action::parse(text).ok_or_else(|| PolicyError::BadDefault {
                found: format!("{text:?}"),
            })?
        }
        Some(other) => {
            return Err(PolicyError::BadDefault {
                found: other.to_string(),
            })
        }
    };
    let rules = match object.get("rules") {
        None => Vec::new(),
        Some(Value::Array(rules)) => rules
            .iter()
            .enumerate()
            .map(|(index, rule)| {
                parse_rule(rule).map_err(|reason| PolicyError::BadRule { index, reason })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(PolicyError::RulesNotArray),
    };
    Ok(Policy {
        default,
        rules,
        read_only: false,
    })
}

fn parse_rule(value: &Value) -> Result<Rule, String> {
    let object = value
        .as_object()
        .ok_or("a rule is an object: {\"tools\": \"ns.*\", \"action\": \"deny\"}")?;
    if let Some(field) = object
        .keys()
        .find(|k| !["tools", "action", "maxCalls"].contains(&k.as_str()))
    {
        return Err(format!(
            "`{field}` is not a field of a rule (expected `tools`, `action`, `maxCalls`)"
        ));
    }
    let patterns: Vec<&str> = match object.get("tools") {
        Some(Value::String(pattern)) => vec![pattern.as_str()],
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|item| {
                item.as_str()
                    .ok_or_else(|| format!("`tools` items must be strings, not {item}"))
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(format!(
            "`tools` must be a glob such as \"github.*\" or a non-empty array of them, not {other}"
        ))
        }
        None => return Err("`tools` is missing (a glob such as \"github.*\")".into()),
    };
    let action = match object.get("action") {
        Some(Value::String(text)) => Action::parse(text).ok_or_else(|| {
            format!("`action` must be \"allow\", \"deny\" or \"ask\", not {text:?}")
        })?,
        Some(other) => {
            return Err(format!(
                "`action` must be \"allow\", \"deny\" or \"ask\", not {other}"
            ))
        }
        None => return Err("`action` is missing (\"allow\", \"deny\" or \"ask\")".into()),
    };
    let mut rule = Rule::new(&patterns, action).map_err(|error| error.to_string())?;
    match object.get("maxCalls") {
        None => {}
        Some(value) => {
            let max = value
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| format!("`maxCalls` must be a whole number ≥ 0, not {value}"))?;
            rule = rule.with_max_calls(max);
        }
    }
    Ok(rule)
}
