use serde_json::json;

use super::*;

fn names<'a>(namespace: &'a str, tool: &'a str) -> ToolNames<'a> {
    ToolNames {
        namespace,
        tool,
        source_namespace: namespace,
        source_tool: tool,
    }
}

fn policy(config: Value) -> Policy {
    Policy::from_config(&config).expect("valid policy")
}

#[test]
fn the_first_matching_rule_wins() {
    let policy = policy(json!({
        "default": "allow",
        "rules": [
            { "tools": "github.delete_*", "action": "deny" },
            { "tools": "github.*", "action": "ask" }
        ]
    }));
    let delete = policy.decide(&names("github", "delete_repo"), None);
    assert_eq!(delete.action, Action::Deny);
    assert_eq!(
        delete.reason,
        Reason::Rule {
            index: 1,
            patterns: vec!["github.delete_*".into()]
        }
    );
    assert_eq!(
        policy.decide(&names("github", "create_issue"), None).action,
        Action::Ask
    );
    assert_eq!(
        policy.decide(&names("slack", "post"), None).reason,
        Reason::Default
    );
}

#[test]
fn globs_match_typescript_or_source_names() {
    let policy = policy(json!({ "rules": [
        { "tools": "my-server.delete-file", "action": "deny" },
        { "tools": ["*.drop_*", "db.truncate"], "action": "ask" }
    ]}));
    let tool = ToolNames {
        namespace: "my_server",
        tool: "delete_file",
        source_namespace: "my-server",
        source_tool: "delete-file",
    };
    assert_eq!(policy.decide(&tool, None).action, Action::Deny);
    assert_eq!(
        policy.decide(&names("db", "drop_table"), None).action,
        Action::Ask
    );
    assert_eq!(
        policy.decide(&names("db", "truncate"), None).action,
        Action::Ask
    );
    assert_eq!(
        policy.decide(&names("db", "select"), None).action,
        Action::Allow
    );
}

#[test]
fn annotations_decide_without_a_rule() {
    let policy = policy(json!({ "default": "deny" }));
    let read = policy.decide(&names("fs", "read"), Some(&json!({"readOnlyHint": true})));
    assert_eq!(
        (read.action, read.reason),
        (Action::Allow, Reason::ReadOnlyHint)
    );
    let wipe = policy.decide(
        &names("fs", "wipe"),
        Some(&json!({"destructiveHint": true})),
    );
    assert_eq!(
        (wipe.action, wipe.reason),
        (Action::Ask, Reason::DestructiveHint)
    );
    let other = policy.decide(&names("fs", "touch"), Some(&json!({"readOnlyHint": false})));
    assert_eq!(
        (other.action, other.reason),
        (Action::Deny, Reason::Default)
    );
}

#[test]
fn a_rule_outranks_annotations() {
    let policy = policy(json!({ "rules": [{ "tools": "fs.wipe", "action": "allow" }] }));
    let wipe = policy.decide(
        &names("fs", "wipe"),
        Some(&json!({"destructiveHint": true})),
    );
    assert_eq!(wipe.action, Action::Allow);
}

#[test]
fn read_only_mode_denies_everything_not_marked_read_only() {
    let policy = policy(json!({ "rules": [{ "tools": "*", "action": "allow" }] })).read_only(true);
    let write = policy.decide(&names("fs", "write"), None);
    assert_eq!(
        (write.action, write.reason.clone()),
        (Action::Deny, Reason::ReadOnlyMode)
    );
    assert!(write.denied_message("fs.write").contains("--read-only"));
    let read = policy.decide(&names("fs", "read"), Some(&json!({"readOnlyHint": true})));
    assert_eq!(read.action, Action::Allow);
}

#[test]
fn max_calls_travels_with_the_decision() {
    let policy =
        policy(json!({ "rules": [{ "tools": "github.*", "action": "allow", "maxCalls": 10 }] }));
    assert_eq!(
        policy.decide(&names("github", "x"), None).max_calls,
        Some(10)
    );
}

#[test]
fn denied_messages_name_the_rule() {
    let policy = policy(json!({ "rules": [{ "tools": "github.delete_*", "action": "deny" }] }));
    let decision = policy.decide(&names("github", "delete_repo"), None);
    assert_eq!(
        decision.denied_message("github.delete_repo"),
        "tools.github.delete_repo is denied by policy rule 1 (github.delete_*)"
    );
}

#[test]
fn bad_policies_say_where() {
    let error = |config: Value| Policy::from_config(&config).unwrap_err().to_string();
    assert!(error(json!([])).contains("must be an object"));
    assert!(error(json!({"defualt": "deny"})).contains("`policy.defualt`"));
    assert!(error(json!({"default": "block"})).contains("\"block\""));
    assert!(error(json!({"rules": [{"tools": "x.*", "action": "nope"}]})).contains("rules[0]"));
    assert!(error(json!({"rules": [{"action": "deny"}]})).contains("`tools` is missing"));
    assert!(error(json!({"rules": [{"tools": "x.[", "action": "deny"}]})).contains("not a glob"));
    assert!(
        error(json!({"rules": [{"tools": "x", "action": "deny", "maxCalls": -1}]}))
            .contains("maxCalls")
    );
    assert!(
        error(json!({"rules": [{"tools": "x", "action": "deny", "max": 1}]})).contains("`max`")
    );
}

#[test]
fn no_policy_is_permissive() {
    assert!(Policy::default().is_permissive());
    assert!(!Policy::default().read_only(true).is_permissive());
}
