//! Golden tests: the declarations rendered from real servers' `tools/list` answers, checked
//! byte for byte, parsed with oxc and type-checked with `tsc --strict`.
//!
//! `UPDATE_GOLDEN=1 cargo test -p codemode-catalog --test golden` rewrites the golden files.

mod common;

use std::path::PathBuf;
use std::process::Command;

use codemode_catalog::typescript::{render_declarations, render_namespace, render_tools_global};
use common::{all_sources, crate_dir, deps_dir, namespace, read};

fn golden_path(server: &str) -> PathBuf {
    crate_dir().join(format!("tests/golden/{server}.d.ts"))
}

fn updating() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1")
}

fn scratch_dir() -> PathBuf {
    let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("catalog-golden");
    std::fs::create_dir_all(&scratch).expect("creating the scratch directory");
    scratch
}

/// The golden file to check. While goldens are being rewritten (by another test running in
/// parallel), a fresh rendering in a scratch file stands in, so nothing reads a half-written
/// golden.
fn checked_file(server: &str) -> PathBuf {
    if !updating() {
        return golden_path(server);
    }
    let path = scratch_dir().join(format!("{server}.d.ts"));
    std::fs::write(&path, render_namespace(&namespace(server)))
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    path
}

#[test]
fn declarations_match_golden_files() {
    let mut mismatched = Vec::new();
    for server in all_sources() {
        let rendered = render_namespace(&namespace(server));
        let path = golden_path(server);
        if updating() {
            std::fs::write(&path, &rendered)
                .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        } else if read(&path) != rendered {
            mismatched.push(path.display().to_string());
        }
    }
    assert!(
        mismatched.is_empty(),
        "rendered declarations differ from {mismatched:?}; inspect with UPDATE_GOLDEN=1 and git diff"
    );
}

#[test]
fn rendering_is_deterministic() {
    for server in all_sources() {
        let ns = namespace(server);
        assert_eq!(
            render_namespace(&ns),
            render_namespace(&ns.clone()),
            "{server}"
        );
    }
}

#[test]
fn whole_file_is_the_namespaces_then_tools() {
    let namespaces: Vec<_> = all_sources().into_iter().map(namespace).collect();
    let mut expected = String::new();
    for ns in &namespaces {
        expected.push_str(&render_namespace(ns));
        expected.push('\n');
    }
    expected.push_str(&render_tools_global(
        namespaces.iter().map(|ns| ns.ident.as_str()),
    ));
    assert_eq!(render_declarations(&namespaces), expected);
}

#[test]
fn golden_files_parse_as_typescript_declarations() {
    for server in all_sources() {
        let source = read(&checked_file(server));
        let allocator = oxc_allocator::Allocator::default();
        let parsed =
            oxc_parser::Parser::new(&allocator, &source, oxc_span::SourceType::d_ts()).parse();
        let diagnostics: Vec<String> = parsed.diagnostics.iter().map(|d| d.to_string()).collect();
        assert!(
            !parsed.panicked && diagnostics.is_empty(),
            "{server}.d.ts: {diagnostics:#?}"
        );
    }
}

/// All goldens together, the `tools` global and a script that calls the tools the way an
/// agent would, checked by the real TypeScript compiler in strict mode.
#[test]
fn golden_files_type_check_with_tsc_strict() {
    let node_bin = deps_dir().join("node/node_modules/.bin");
    let tsc = node_bin.join("tsc");
    assert!(
        tsc.exists() && node_bin.join("node").exists(),
        "{} or node is missing: run scripts/install-test-deps.sh",
        tsc.display()
    );
    let scratch = scratch_dir();
    let global = scratch.join("tools-global.d.ts");
    let namespaces: Vec<_> = all_sources().into_iter().map(namespace).collect();
    std::fs::write(
        &global,
        render_tools_global(namespaces.iter().map(|ns| ns.ident.as_str())),
    )
    .expect("writing the tools global");

    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![node_bin.clone()];
    paths.extend(std::env::split_paths(&path));
    let output = Command::new(&tsc)
        .env("PATH", std::env::join_paths(paths).expect("PATH"))
        .current_dir(&scratch)
        .args([
            "--noEmit", "--strict", "--target", "es2022", "--lib", "es2022",
        ])
        .args(all_sources().into_iter().map(checked_file))
        .arg(&global)
        .arg(crate_dir().join("tests/typecheck/usage.ts"))
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", tsc.display()));
    assert!(
        output.status.success(),
        "tsc --strict failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
