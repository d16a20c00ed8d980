// Fires many `execute` calls at once at a gateway over Streamable HTTP, with the official
// TypeScript SDK, and prints one JSON report: each call's outcome, in the order given.
//
// Usage: node execute_many.mjs '<spec JSON>'
//   spec = { nodeModules, url, clients: 4, snippets: ["TypeScript", ...], delayMs?: 0 }
// Snippets are spread over `clients` sessions round-robin and all sent at once (after
// `delayMs`, so a test can act in between).
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const spec = JSON.parse(process.argv[2] ?? '{}');
const sdk = (p) => import(pathToFileURL(path.join(spec.nodeModules, '@modelcontextprotocol/sdk/dist/esm', p)).href);
const { Client } = await sdk('client/index.js');
const { StreamableHTTPClientTransport } = await sdk('client/streamableHttp.js');

const clients = [];
for (let i = 0; i < (spec.clients ?? 1); i++) {
  const client = new Client({ name: `codemode-load-${i}`, version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(spec.url)));
  clients.push(client);
}
console.error(`connected ${clients.length} clients`);
const started = Date.now();
const results = await Promise.all(spec.snippets.map(async (code, i) => {
  const t0 = Date.now();
  try {
    const result = await clients[i % clients.length].callTool(
      { name: 'execute', arguments: { code } },
      undefined,
      { timeout: 120_000 },
    );
    return {
      isError: result.isError ?? false,
      text: result.content.map((c) => c.text ?? '').join('\n'),
      structured: result.structuredContent ?? null,
      ms: Date.now() - t0,
    };
  } catch (e) {
    return { protocolError: String(e), ms: Date.now() - t0 };
  }
}));
const report = { elapsedMs: Date.now() - started, results };
for (const client of clients) await client.close().catch(() => {});
console.log(JSON.stringify(report));
