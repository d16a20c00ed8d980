//! A newcomer's path: the run command at the top of README.md, end to end, and the README's
//! TypeScript example through it.
//!
//! The command is read from the README's first `sh` block (its first `cargo run` line) so the
//! test follows the README when it changes. `cargo run --release --` is replaced by the binary
//! this test suite built (a second, release build would cost minutes), and the port of
//! `serve --http` by a free one; everything else runs as written, from the repository root.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{codemode, repo_root, run_client, Client, HttpGateway};
use serde_json::json;

fn readme() -> String {
    let path = repo_root().join("README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The first fenced block of `language`.
fn first_block(text: &str, language: &str) -> Option<String> {
    let fence = format!("```{language}");
    let start = text.find(&fence)? + fence.len();
    let body = &text[start..];
    let body = &body[body.find('\n')? + 1..];
    Some(body[..body.find("```")?].to_string())
}

/// The arguments after `cargo run [--release] --` on the README's run line.
fn run_command_args(readme: &str) -> Vec<String> {
    let block = first_block(readme, "sh").expect("README.md opens with a ```sh block of commands");
    let line = block
        .lines()
        .map(|l| l.split(" #").next().unwrap_or_default().trim())
        .find(|l| l.starts_with("cargo run"))
        .expect("README.md's first ```sh block has a `cargo run` line");
    let words: Vec<&str> = line.split_whitespace().collect();
    let separator = words
        .iter()
        .position(|w| *w == "--")
        .expect("the run line passes arguments after `--`");
    words[separator + 1..]
        .iter()
        .map(|w| w.to_string())
        .collect()
}

#[test]
fn the_readme_run_command_works_on_a_fresh_checkout() {
    let readme = readme();
    let args = run_command_args(&readme);
    let example = first_block(&readme, "ts").expect("README.md shows a ```ts example");
    match args.first().map(String::as_str) {
        Some("serve") => {
            let mut rest: Vec<String> = args[1..].to_vec();
            let http = rest
                .iter()
                .position(|a| a == "--http")
                .expect("`serve` in the README is reachable: it uses --http ADDR");
            rest.remove(http + 1);
            rest.remove(http);
            let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
            let gateway = HttpGateway::start(&rest, &[]);
            let report = run_client(
                Client::TypeScript,
                &json!({ "server": { "url": gateway.url }, "query": "", "snippet": example }),
            );
            assert_eq!(report["tools"], json!(["search", "execute"]));
            assert_eq!(report["execute"]["isError"], json!(false), "{report}");
            assert!(
                !report["execute"]["structuredContent"]["result"].is_null(),
                "{report}"
            );
        }
        Some("run") => {
            let output = Command::new(codemode())
                .args(&args)
                .current_dir(repo_root())
                .output()
                .expect("codemode runs");
            assert!(
                output.status.success(),
                "`codemode {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
            let value: serde_json::Value =
                serde_json::from_slice(&output.stdout).expect("the value is JSON on stdout");
            assert!(!value.is_null());

            let mut child = Command::new(codemode())
                .args(["run", "-"])
                .current_dir(repo_root())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("codemode runs");
            child
                .stdin
                .take()
                .expect("piped")
                .write_all(example.as_bytes())
                .expect("writes the example");
            let output = child.wait_with_output().expect("finishes");
            assert!(
                output.status.success(),
                "the README's example failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        other => panic!("README.md's run command is neither `serve` nor `run`: {other:?}"),
    }
}
