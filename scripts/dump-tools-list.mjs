#!/usr/bin/env node
// Captures the real `tools/list` answer of the pinned test MCP servers into
// crates/catalog/tests/fixtures/<server>.tools.json, using the official TypeScript SDK client
// over stdio. The fixtures feed the catalog crate's golden tests, so they must come from the
// servers themselves, never be written by hand.
//
// Usage (from anywhere):  node scripts/dump-tools-list.mjs [server ...]
// Servers: everything, memory, filesystem, time, git (default: all).
// Needs scripts/install-test-deps.sh to have populated .deps/.

import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const nodeModules = join(root, ".deps/node/node_modules");
const venvBin = join(root, ".deps/venv/bin");
const fixtures = join(root, "crates/catalog/tests/fixtures");

if (!existsSync(join(nodeModules, "@modelcontextprotocol/sdk"))) {
  console.error("missing .deps/node/node_modules/@modelcontextprotocol/sdk: run scripts/install-test-deps.sh");
  process.exit(1);
}

// The script lives outside .deps, so bare specifiers would not resolve: import by path.
const sdk = (sub) => import(pathToFileURL(join(nodeModules, "@modelcontextprotocol/sdk/dist/esm", sub)).href);
const { Client } = await sdk("client/index.js");
const { StdioClientTransport } = await sdk("client/stdio.js");
const { ListRootsRequestSchema } = await sdk("types.js");

// Node 22 from .deps (the system node may be older than the servers need).
const node = existsSync(join(nodeModules, ".bin/node")) ? join(nodeModules, ".bin/node") : process.execPath;

const npmVersion = (pkg) => JSON.parse(readFileSync(join(nodeModules, pkg, "package.json"), "utf8")).version;
const pypiVersion = (dist) =>
  execFileSync(join(venvBin, "python"), ["-c", `import importlib.metadata as m; print(m.version(${JSON.stringify(dist)}))`], {
    encoding: "utf8",
  }).trim();

/** Each server: how to start it over stdio and which package it came from. */
const servers = {
  everything: (_tmp) => ({
    registry: "npm",
    package: "@modelcontextprotocol/server-everything",
    command: node,
    args: [join(nodeModules, "@modelcontextprotocol/server-everything/dist/index.js"), "stdio"],
  }),
  memory: (tmp) => ({
    registry: "npm",
    package: "@modelcontextprotocol/server-memory",
    command: node,
    args: [join(nodeModules, "@modelcontextprotocol/server-memory/dist/index.js")],
    // Keep the server from writing its knowledge graph next to its sources.
    env: { MEMORY_FILE_PATH: join(tmp, "memory.jsonl") },
  }),
  filesystem: (tmp) => ({
    registry: "npm",
    package: "@modelcontextprotocol/server-filesystem",
    command: node,
    args: [join(nodeModules, "@modelcontextprotocol/server-filesystem/dist/index.js"), tmp],
  }),
  time: (_tmp) => ({
    registry: "pypi",
    package: "mcp-server-time",
    command: join(venvBin, "mcp-server-time"),
    args: ["--local-timezone", "UTC"],
  }),
  git: (tmp) => ({
    registry: "pypi",
    package: "mcp-server-git",
    command: join(venvBin, "mcp-server-git"),
    args: ["--repository", tmp],
  }),
};

async function dump(name) {
  const tmp = mkdtempSync(join(tmpdir(), `dump-tools-${name}-`));
  const spec = servers[name](tmp);
  if (name === "git") execFileSync("git", ["init", "-q", tmp]);
  const version = spec.registry === "npm" ? npmVersion(spec.package) : pypiVersion(spec.package);

  // Declare every client capability so servers that register tools conditionally
  // (server-everything's sampling/elicitation/roots tools) list them all.
  const client = new Client(
    { name: "codemode-dump-tools-list", version: "0.1.0" },
    { capabilities: { roots: { listChanged: false }, sampling: {}, elicitation: { form: {}, url: {} } } },
  );
  client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [] }));
  const transport = new StdioClientTransport({
    command: spec.command,
    args: spec.args,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? tmp, ...(spec.env ?? {}) },
    stderr: "ignore",
  });
  try {
    await client.connect(transport);
    const tools = [];
    let cursor;
    do {
      const page = await client.listTools(cursor ? { cursor } : {});
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor);
    const fixture = {
      source: { registry: spec.registry, package: spec.package, version },
      serverInfo: client.getServerVersion() ?? null,
      tools,
    };
    const file = join(fixtures, `${name}.tools.json`);
    writeFileSync(file, JSON.stringify(fixture, null, 2) + "\n");
    console.log(`${name}: ${tools.length} tools from ${spec.package}@${version} -> ${file}`);
  } finally {
    await client.close().catch(() => {});
    rmSync(tmp, { recursive: true, force: true });
  }
}

const wanted = process.argv.slice(2);
for (const name of wanted.length ? wanted : Object.keys(servers)) {
  if (!servers[name]) {
    console.error(`unknown server ${name}; known: ${Object.keys(servers).join(", ")}`);
    process.exit(2);
  }
  await dump(name);
}
