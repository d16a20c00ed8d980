// A long `execute` seen by the official TypeScript SDK client with a progress token: the
// client's own request timeout is short and reset on every progress notification, so it
// only gets the result if the gateway keeps reporting progress while the snippet runs.
// Prints one JSON report on stdout for the Rust test to check.
//
// Usage: node ts_progress.mjs '<spec JSON>'
//   spec = {
//     nodeModules: "/abs/.deps/node/node_modules",
//     server: { command, args, env? },
//     snippet: "TypeScript for execute",
//     timeoutMs: 2500,                                // the client's per-request timeout
//   }
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const spec = JSON.parse(process.argv[2] ?? '{}');
const sdk = (p) => import(pathToFileURL(path.join(spec.nodeModules, '@modelcontextprotocol/sdk/dist/esm', p)).href);
const { Client } = await sdk('client/index.js');
const { StdioClientTransport } = await sdk('client/stdio.js');

const transport = new StdioClientTransport({
  command: spec.server.command,
  args: spec.server.args ?? [],
  env: { ...process.env, ...(spec.server.env ?? {}) },
  stderr: 'inherit',
});
const client = new Client({ name: 'codemode-test-progress', version: '1.0.0' });
await client.connect(transport);

// `search` waits for upstreams that are still starting, so the timed call below measures
// the execution, not the upstream's start-up.
await client.callTool({ name: 'search', arguments: { query: '' } });

const progress = [];
const started = Date.now();
const report = { progress };
try {
  const result = await client.callTool(
    { name: 'execute', arguments: { code: spec.snippet } },
    undefined,
    {
      timeout: spec.timeoutMs,
      resetTimeoutOnProgress: true,
      onprogress: (p) => progress.push({ ...p, atMs: Date.now() - started }),
    },
  );
  report.result = {
    isError: result.isError ?? false,
    text: result.content.map((c) => c.text ?? '').join('\n'),
  };
} catch (error) {
  report.error = String(error?.message ?? error);
}
report.elapsedMs = Date.now() - started;
await client.close();
process.stdout.write(JSON.stringify(report) + '\n');
