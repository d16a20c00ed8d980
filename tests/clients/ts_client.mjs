// A real client for the gateway: the official TypeScript SDK (@modelcontextprotocol/sdk).
// It connects (stdio or Streamable HTTP), lists the tools, calls `search` and `execute`, reads
// a resource, and prints one JSON report on stdout for the Rust test to check.
//
// Usage: node ts_client.mjs '<spec JSON>'
//   spec = {
//     nodeModules: "/abs/.deps/node/node_modules",   // where the SDK is installed
//     server: { command, args, env? } | { url, token? },
//     query: "search words",
//     snippet: "TypeScript for execute",
//     failingSnippet?: "TypeScript that throws",      // its result is reported too
//   }
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const spec = JSON.parse(process.argv[2] ?? '{}');
const sdk = (p) => import(pathToFileURL(path.join(spec.nodeModules, '@modelcontextprotocol/sdk/dist/esm', p)).href);
const { Client } = await sdk('client/index.js');

let transport;
if (spec.server.url) {
  const { StreamableHTTPClientTransport } = await sdk('client/streamableHttp.js');
  const headers = spec.server.token ? { Authorization: `Bearer ${spec.server.token}` } : {};
  transport = new StreamableHTTPClientTransport(new URL(spec.server.url), { requestInit: { headers } });
} else {
  const { StdioClientTransport } = await sdk('client/stdio.js');
  transport = new StdioClientTransport({
    command: spec.server.command,
    args: spec.server.args ?? [],
    env: { ...process.env, ...(spec.server.env ?? {}) },
    stderr: 'inherit',
  });
}

const client = new Client({ name: 'codemode-test-ts', version: '1.0.0' });
await client.connect(transport);
const report = {
  client: 'typescript-sdk',
  protocolVersion: transport.protocolVersion ?? null,
  serverName: client.getServerVersion()?.name ?? null,
  capabilities: client.getServerCapabilities() ?? null,
};

const { tools } = await client.listTools();
report.tools = tools.map((t) => t.name);
report.descriptionChars = tools.map((t) => (t.description ?? '').length);

const search = await client.callTool({ name: 'search', arguments: { query: spec.query } });
report.search = { isError: search.isError ?? false, text: search.content.map((c) => c.text ?? '').join('\n') };

const execute = await client.callTool({ name: 'execute', arguments: { code: spec.snippet } });
report.execute = {
  isError: execute.isError ?? false,
  text: execute.content.map((c) => c.text ?? '').join('\n'),
  structuredContent: execute.structuredContent ?? null,
};

if (spec.failingSnippet) {
  const failed = await client.callTool({ name: 'execute', arguments: { code: spec.failingSnippet } });
  report.failing = {
    isError: failed.isError ?? false,
    text: failed.content.map((c) => c.text ?? '').join('\n'),
    structuredContent: failed.structuredContent ?? null,
  };
}

const { resources } = await client.listResources();
report.resources = resources.map((r) => r.uri);
if (resources.length > 1) {
  const read = await client.readResource({ uri: resources[1].uri });
  report.firstNamespaceTypes = read.contents[0]?.text ?? null;
}

await client.close();
process.stdout.write(JSON.stringify(report) + '\n');
