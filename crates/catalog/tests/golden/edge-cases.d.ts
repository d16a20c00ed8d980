/**
 * Schemas that exercise every conversion rule.
 * @server edge-cases
 * @remarks Tools typed Promise<JsonValue> declare no result type: they resolve to their structured content, else their one text block (parsed when the whole text is valid JSON, whatever the value, else the text as a string), else an array of their content blocks.
 */
declare namespace edge_cases {
  interface Tools {
    /** Every keyword at once. Ends a comment *\/ here. @mcp kitchen-sink */
    kitchen_sink(args: KitchenSinkInput): Promise<KitchenSinkOutput>;
    /** Recursive definitions. */
    tree(args: TreeInput): Promise<Node2>;
    /** OpenAPI 3.0 components. @mcp openapi-style */
    openapi_style(args: { pet: Pet; owner?: Owner }): Promise<JsonValue>;
    /** A reserved word as a tool name. @mcp delete */
    delete_(args: { id: string }): Promise<JsonValue>;
    /** @mcp 2fa */
    _2fa(args?: { [key: string]: unknown }): Promise<JsonValue>;
    /** @mcp get.sum */
    get_sum_3(args?: {}): Promise<JsonValue>;
    /** @mcp get-sum */
    get_sum_2(args?: {}): Promise<JsonValue>;
    get_sum(args?: {}): Promise<JsonValue>;
    /** @mcp no-schema-type */
    no_schema_type(args?: unknown): Promise<JsonValue>;
    /** A tool whose type names would shadow globals. */
    Promise(args?: { tools?: Tools2 }): Promise<{ p?: string }>;
  }
  interface KitchenSinkInput {
    /** Some text. @minLength 1 */
    text: string;
    /** @default 1 @minimum 0 */
    count?: number;
    /** @exclusiveMaximum 1 */
    ratio?: number;
    /** @deprecated */
    flag?: boolean;
    nothing?: null;
    /** @format date-time @example "2024-01-01T00:00:00Z" @example "2025-01-01T00:00:00Z" */
    when?: string;
    mode: "fast" | "slow" | 3 | true | null;
    kind?: "sink";
    shape?: { sides: 3; names: ["a", "b"] };
    maybe?: string | null;
    "legacy-nullable"?: string | null;
    /** @maxItems 10 @uniqueItems true */
    tags?: string[];
    /** @minItems 1 */
    pair: [string, (number | null)?];
    /** @minItems 2 */
    "old-pair"?: [string, boolean, ...number[]];
    matrix?: (number | string)[][];
    labels?: { [key: string]: string };
    headers?: { host: string; [key: string]: string[] | string };
    extensions?: { [key: string]: string | number };
    "open-extensions"?: { name?: string; [key: string]: unknown /* keys matching /^x-.*\//: string */ };
    closed?: { a?: string };
    anything?: { [key: string]: unknown };
    either?: { id?: string; name?: string } & ({ id: unknown } | { name: unknown });
    both?: { a: string } & ({ b?: number } | { c?: boolean });
    "unions-in-array"?: ({ a?: string } & { b?: string })[];
    negated?: unknown /* not expressible in TypeScript: not */;
    conditional?: unknown /* not expressible in TypeScript: if */;
    impossible?: unknown /* schema `false` admits no value */;
    remote?: unknown /* $ref https://example.com/schemas/thing.json not resolved: only local JSON pointers are */;
    broken?: unknown /* broken $ref #/$defs/DoesNotExist */;
    address?: PostalAddress;
    /** A property named like a reserved word. */
    default: string;
    "2nd"?: string;
    "with space"?: string;
  }
  interface PostalAddress { street?: string; city: string }
  interface KitchenSinkOutput { ok: boolean; extra?: string; [key: string]: number | boolean | string | undefined }
  interface TreeInput { root: Node; parent?: TreeInput; alias?: A }
  /** A tree node. */
  interface Node { value: string; children?: Node[]; next?: Node | null }
  type A = B | string;
  type B = unknown /* $ref #/$defs/A is circular */;
  interface Node2 { value: number }
  interface Pet { name: string; status?: "available" | "sold" | null; owner?: Owner }
  interface Owner { pets?: Pet[] }
  type Tools2 = string;
}
