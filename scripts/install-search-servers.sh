#!/usr/bin/env bash
# Installs the pinned third-party MCP servers of the tool-search quality suite (bench/search)
# and the fixtures they are started with.
#
# Usage: scripts/install-search-servers.sh [DIR]      (default: <repo>/.deps/search-servers)
#
#   DIR/node/        npm servers: `npm ci` from scripts/search-servers/package-lock.json
#   DIR/venv/<short> one venv per PyPI server, from scripts/search-servers/requirements/<short>.txt
#   DIR/fixtures/    files/ (filesystem's allowed dir), repo/ (git repo with one commit, for git),
#                    memory/ (memory's MEMORY_FILE_PATH lives here)
#
# Then: SEARCH_SERVERS_DIR=DIR codemode doctor --config scripts/search-servers/servers.json
#
# Idempotent: each part has a stamp (DIR/.stamps/<part>) keyed on a hash of its pins; a part
# whose stamp matches is skipped. Reaches only the npm registry and PyPI; no install scripts run
# (--ignore-scripts: they would only download browsers or build optional native addons), and npm's
# optional dependencies are left out (--omit=optional: ~200 MB of Bun binaries pulled in through
# mongodb-mcp-server, plus optional native addons; every server lists the same tools without them).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
pins="$here/search-servers"
dir=${1:-$root/.deps/search-servers}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
stamps="$dir/.stamps"
mkdir -p "$stamps" "$dir/logs"
py=${PYTHON:-python3}
pip_servers=(atlassian git time)

export PUPPETEER_SKIP_DOWNLOAD=1 PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export npm_config_update_notifier=false

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
fresh() { [ -f "$stamps/$1" ] && [ "$(cat "$stamps/$1")" = "$2" ]; }

install_npm() {
  local key
  key=$(hash_of "$pins/package.json" "$pins/package-lock.json")
  if fresh npm "$key" && [ -d "$dir/node/node_modules" ]; then
    echo "install-search-servers: npm up to date"
    return 0
  fi
  echo "install-search-servers: npm ci -> $dir/node" >&2
  rm -f "$stamps/npm"
  mkdir -p "$dir/node"
  cp "$pins/package.json" "$pins/package-lock.json" "$dir/node/"
  if ! (cd "$dir/node" && npm ci --omit=optional --ignore-scripts --legacy-peer-deps --no-audit --no-fund --loglevel=error) \
      >"$dir/logs/npm.log" 2>&1; then
    echo "install-search-servers: npm ci FAILED, see $dir/logs/npm.log" >&2
    tail -20 "$dir/logs/npm.log" >&2
    return 1
  fi
  echo "$key" >"$stamps/npm"
}

install_pip() {
  local short=$1 req="$pins/requirements/$1.txt" venv="$dir/venv/$1" key
  key=$(printf '%s\n%s\n' "$(hash_of "$req")" "$("$py" -c 'import sys; print(sys.version)')" | sha256sum | cut -d' ' -f1)
  if fresh "pip-$short" "$key" && [ -x "$venv/bin/python" ]; then
    echo "install-search-servers: $short up to date"
    return 0
  fi
  echo "install-search-servers: pip -> $venv" >&2
  rm -rf "$venv" "$stamps/pip-$short"
  "$py" -m venv "$venv"
  if ! "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$req" \
      >"$dir/logs/pip-$short.log" 2>&1; then
    echo "install-search-servers: pip install for $short FAILED, see $dir/logs/pip-$short.log" >&2
    tail -20 "$dir/logs/pip-$short.log" >&2
    return 1
  fi
  echo "$key" >"$stamps/pip-$short"
}

install_fixtures() {
  local f="$dir/fixtures"
  mkdir -p "$f/files/notes" "$f/memory"
  [ -f "$f/files/README.md" ] || printf '# Sample files\n\nFixture directory for the filesystem server.\n' >"$f/files/README.md"
  [ -f "$f/files/notes/todo.txt" ] || printf 'buy milk\nreview the pull request\n' >"$f/files/notes/todo.txt"
  if [ ! -d "$f/repo/.git" ] || ! git -C "$f/repo" rev-parse -q --verify HEAD >/dev/null 2>&1; then
    rm -rf "$f/repo"
    git init -q "$f/repo"
    printf '# demo\n' >"$f/repo/README.md"
    git -C "$f/repo" add README.md
    git -C "$f/repo" -c user.name=bench -c user.email=bench@example.com \
      -c commit.gpgsign=false commit -q -m "Initial commit"
  fi
}

# npm and the venvs install in parallel; every part reports its own failure.
pids=()
install_npm & pids+=($!)
for s in "${pip_servers[@]}"; do install_pip "$s" & pids+=($!); done
install_fixtures
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
[ "$status" = 0 ] || { echo "install-search-servers: some parts failed" >&2; exit 1; }
echo "install-search-servers: ready in $dir (export SEARCH_SERVERS_DIR=$dir)"
