// Calls the generated declarations the way an agent's snippet would. Type-checked together
// with tests/golden/*.d.ts by the golden test (`tsc --noEmit --strict`); never executed.

async function agentSnippet(): Promise<void> {
  // Required arguments, nested arrays of objects, a typed result.
  const created = await tools.memory.create_entities({
    entities: [{ name: "Ada", entityType: "person", observations: ["wrote the first program"] }],
  });
  const firstName: string = created.entities[0].name;

  // No required arguments: `args` may be omitted.
  const graph = await tools.memory.read_graph();
  const relationCount: number = graph.relations.length;

  // Optional properties; upstream name `get-sum` is `get_sum`.
  const sum = await tools.everything.get_sum({ a: 1, b: 2 });
  const text = await tools.filesystem.read_text_file({ path: "/tmp/x", head: 3 });
  const content: string = text.content;

  // A result without an output schema is `unknown` and must be narrowed.
  const status = await tools.git.git_status({ repo_path: "." });
  if (typeof status === "string") status.toUpperCase();

  // A `$ref` to a shared definition.
  const converted = await tools.time.convert_time({
    source_timezone: "UTC",
    time: "12:00",
    target_timezone: "Europe/Paris",
  });
  const dst: boolean = converted.target.is_dst;

  // @ts-expect-error: a misspelt property must be rejected.
  await tools.filesystem.read_text_file({ pth: "/tmp/x" });
  // @ts-expect-error: a missing required property must be rejected.
  await tools.time.get_current_time({});

  void [firstName, relationCount, sum, content, dst];
}

async function edgeCases(): Promise<void> {
  // Reserved word, leading digit and colliding upstream names.
  await tools.edge_cases.delete_({ id: "x" });
  await tools.edge_cases._2fa({ anything: 1 });
  await tools.edge_cases.get_sum();
  await tools.edge_cases.get_sum_2();

  // Tuples: the second element is optional, the closed tuple rejects a third.
  const sink = await tools.edge_cases.kitchen_sink({
    text: "t",
    mode: "fast",
    pair: ["a"],
    default: "d",
    "old-pair": ["a", true, 1, 2],
    headers: { host: "h", accept: ["json"] },
    both: { a: "x", b: 1 },
  });
  // @ts-expect-error: closed tuple of at most two elements.
  await tools.edge_cases.kitchen_sink({ text: "t", mode: "slow", pair: ["a", 1, 2], default: "d" });
  // Declared and extra keys of a result with an index signature.
  const ok: boolean = sink.ok;
  const extra = sink["anything"];

  // Recursive types.
  const node = await tools.edge_cases.tree({
    root: { value: "a", children: [{ value: "b", next: null }] },
    parent: { root: { value: "p" } },
  });
  const value: number = node.value;

  void [ok, extra, value];
}
