#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this): installs the real test
# peers, then checks formatting and lints, then runs every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
# A full run gains nothing from incremental caches, which would double the disk it needs.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
scripts/install-test-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
