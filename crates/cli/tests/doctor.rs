//! `codemode doctor` names every isolation layer and says whether this machine gives it.

use std::process::Command;

#[test]
fn doctor_lists_every_isolation_layer() {
    let output = Command::new(env!("CARGO_BIN_EXE_codemode"))
        .arg("doctor")
        .output()
        .expect("codemode doctor runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    for layer in codemode_confine::layer::ALL {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(layer))
            .unwrap_or_else(|| panic!("no line for {layer}: {text}"));
        assert!(
            line.contains("active") || line.contains("unavailable"),
            "{line}"
        );
    }
}
