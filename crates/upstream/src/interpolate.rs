//! `${VAR}` / `${env:VAR}` substitution in config strings.
//!
//! Secrets (API keys, tokens) stay in the gateway's environment; the config file only names
//! them. Substitution happens once, at load time, and an unset variable is an error: a
//! literal `${...}` must never reach an upstream server as if it were a value.

/// Why a string could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpandError {
    /// `${NAME}` names a variable the environment does not have.
    Unset(String),
    /// `${input:..}`, `${workspaceFolder}`-style editor variables: we are not an editor.
    Unsupported(String),
    /// `${` without a closing `}`, or `${}`.
    Malformed,
}

impl std::error::Error for ExpandError {}

impl std::fmt::Display for ExpandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpandError::Unset(name) => write!(f, "environment variable `{name}` is not set"),
            ExpandError::Unsupported(expr) => write!(
                f,
                "`${{{expr}}}` is an editor variable the gateway cannot fill; \
                 use `${{NAME}}` or `${{env:NAME}}` with an environment variable"
            ),
            ExpandError::Malformed => {
                write!(
                    f,
                    "malformed `${{...}}`: expected `${{NAME}}` or `${{env:NAME}}`"
                )
            }
        }
    }
}

/// Replaces every `${NAME}` and `${env:NAME}` in `text` with `lookup(NAME)`.
///
/// Public so that every config section that names secrets (`mcpServers`, `openapi`) fills
/// them by the same rule.
pub fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(ExpandError::Malformed)?;
        let expr = after[..end].trim();
        let name = match expr.split_once(':') {
            Some(("env", name)) => name.trim(),
            Some(_) => return Err(ExpandError::Unsupported(expr.to_owned())),
            None if is_editor_variable(expr) => {
                return Err(ExpandError::Unsupported(expr.to_owned()))
            }
            None => expr,
        };
        if name.is_empty() {
            return Err(ExpandError::Malformed);
        }
        let value = lookup(name).ok_or_else(|| ExpandError::Unset(name.to_owned()))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// VS Code's predefined variables: reporting them as "unset environment variables" would send
/// the user looking in the wrong place.
fn is_editor_variable(name: &str) -> bool {
    matches!(
        name,
        "workspaceFolder"
            | "workspaceFolderBasename"
            | "userHome"
            | "file"
            | "fileDirname"
            | "cwd"
            | "pathSeparator"
            | "/"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cret".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn fills_both_spellings() {
        assert_eq!(
            expand("Bearer ${TOKEN}/${env:TOKEN}", &env).as_deref(),
            Ok("Bearer s3cret/s3cret")
        );
        assert_eq!(expand("a${EMPTY}b", &env).as_deref(), Ok("ab"));
        assert_eq!(
            expand("no vars $HOME {x}", &env).as_deref(),
            Ok("no vars $HOME {x}")
        );
    }

    #[test]
    fn unset_variable_is_named() {
        assert_eq!(
            expand("x ${MISSING} y", &env),
            Err(ExpandError::Unset("MISSING".to_owned()))
        );
        assert_eq!(
            expand("${env:ALSO_MISSING}", &env),
            Err(ExpandError::Unset("ALSO_MISSING".to_owned()))
        );
    }

    #[test]
    fn malformed_and_editor_variables_are_errors() {
        assert_eq!(expand("${TOKEN", &env), Err(ExpandError::Malformed));
        assert_eq!(expand("${}", &env), Err(ExpandError::Malformed));
        assert_eq!(
            expand("${input:api-key}", &env),
            Err(ExpandError::Unsupported("input:api-key".to_owned()))
        );
        assert_eq!(
            expand("${workspaceFolder}/x", &env),
            Err(ExpandError::Unsupported("workspaceFolder".to_owned()))
        );
    }
}
