//! One test per schema feature, each checking the exact TypeScript produced through the
//! public renderers.

use indoc::indoc;
use serde_json::{json, Value};

use super::*;

fn tool(ident: &str, input: Value, output: Option<Value>) -> ToolDecl {
    ToolDecl {
        ident: ident.into(),
        spec: ToolSpec {
            output_schema: output,
            ..ToolSpec::new(ident, input)
        },
    }
}

fn renamed(mut tool: ToolDecl, source_name: &str) -> ToolDecl {
    tool.spec.name = source_name.into();
    tool
}

fn described(mut tool: ToolDecl, description: impl Into<String>) -> ToolDecl {
    tool.spec.description = Some(description.into());
    tool
}

fn namespace(tools: Vec<ToolDecl>) -> NamespaceDecl {
    NamespaceDecl {
        ident: "ns".into(),
        original_name: "ns".into(),
        description: None,
        tools,
    }
}

/// The namespace declarations for one tool `f` taking `input` (its output schema `{}`
/// keeps the `@remarks` line for untyped results out of the way).
fn dts(input: Value) -> String {
    render_namespace(&namespace(vec![tool("f", input, Some(json!({})))]))
}

/// `dts` for an input object with one required property `x` of schema `x`.
fn dts_x(x: Value) -> String {
    dts(json!({"type": "object", "properties": {"x": x}, "required": ["x"]}))
}

/// The method line of `f` when `x`'s type is short enough to be written in place.
fn inline_x(x: Value) -> String {
    let text = dts_x(x);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("f("))
        .unwrap_or_default();
    line.trim().to_owned()
}

/// The full one-line signature of `f` taking an object with a required property `x`.
fn signature_x(x: Value) -> String {
    let input = json!({"type": "object", "properties": {"x": x}, "required": ["x"]});
    namespace(vec![tool("f", input, Some(json!({})))])
        .compile()
        .signature("f", usize::MAX)
        .map(|s| s.signature)
        .unwrap_or_default()
}

#[test]
fn primitive_types() {
    assert_eq!(
        inline_x(json!({"type": "string"})),
        "f(args: { x: string }): Promise<unknown>;"
    );
    assert_eq!(
        inline_x(json!({"type": "number"})),
        "f(args: { x: number }): Promise<unknown>;"
    );
    assert_eq!(
        inline_x(json!({"type": "integer"})),
        "f(args: { x: number }): Promise<unknown>;"
    );
    assert_eq!(
        inline_x(json!({"type": "boolean"})),
        "f(args: { x: boolean }): Promise<unknown>;"
    );
    assert_eq!(
        inline_x(json!({"type": "null"})),
        "f(args: { x: null }): Promise<unknown>;"
    );
    assert_eq!(
        inline_x(json!({})),
        "f(args: { x: unknown }): Promise<unknown>;"
    );
    assert_eq!(
        inline_x(json!(true)),
        "f(args: { x: unknown }): Promise<unknown>;"
    );
}

#[test]
fn arrays() {
    assert_eq!(
        inline_x(json!({"type": "array", "items": {"type": "string"}})),
        "f(args: { x: string[] }): Promise<unknown>;"
    );
    assert_eq!(
        inline_x(json!({"type": "array"})),
        "f(args: { x: unknown[] }): Promise<unknown>;"
    );
    assert_eq!(
        inline_x(json!({"type": "array", "items": {"type": ["string", "number"]}})),
        "f(args: { x: (string | number)[] }): Promise<unknown>;"
    );
    assert_eq!(
        inline_x(
            json!({"type": "array", "items": {"type": "array", "items": {"type": "boolean"}}})
        ),
        "f(args: { x: boolean[][] }): Promise<unknown>;"
    );
}

#[test]
fn properties_required_and_quoted_names() {
    let input = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "max-count": {"type": "integer"},
            "default": {"type": "boolean"},
            "2fa": {"type": "string"},
            "$ref": {"type": "string"}
        },
        "required": ["name", "max-count"]
    });
    assert_eq!(
        dts(input),
        indoc! {r#"
            declare namespace ns {
              interface Tools {
                f(args: FInput): Promise<unknown>;
              }
              interface FInput { name: string; "max-count": number; default?: boolean; "2fa"?: string; $ref?: string }
            }
        "#}
    );
}

#[test]
fn nested_objects_break_lines_only_for_docs_or_width() {
    let input = json!({
        "type": "object",
        "properties": {
            "point": {
                "type": "object",
                "properties": {"x": {"type": "number", "description": "Across"}, "y": {"type": "number"}},
                "required": ["x", "y"]
            },
            "size": {
                "type": "object",
                "properties": {"w": {"type": "number"}, "h": {"type": "number"}},
                "required": ["w", "h"]
            }
        },
        "required": ["point"]
    });
    assert_eq!(
        dts(input),
        indoc! {r#"
            declare namespace ns {
              interface Tools {
                f(args: FInput): Promise<unknown>;
              }
              interface FInput {
                point: {
                  /** Across */
                  x: number;
                  y: number;
                };
                size?: { w: number; h: number };
              }
            }
        "#}
    );
}

#[test]
fn additional_properties_false_closes_and_absent_adds_nothing() {
    assert_eq!(
        inline_x(
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false})
        ),
        "f(args: { x: { a?: string } }): Promise<unknown>;"
    );
    assert_eq!(
        inline_x(json!({"type": "object", "properties": {"a": {"type": "string"}}})),
        "f(args: { x: { a?: string } }): Promise<unknown>;"
    );
    assert_eq!(
        inline_x(
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": true})
        ),
        "f(args: { x: { a?: string } }): Promise<unknown>;"
    );
}

#[test]
fn free_form_object_is_an_unknown_map() {
    assert_eq!(
        inline_x(json!({"type": "object"})),
        "f(args: { x: { [key: string]: unknown } }): Promise<unknown>;"
    );
    // `properties: {}` says "no properties", not "any properties".
    assert_eq!(
        inline_x(json!({"type": "object", "properties": {}})),
        "f(args: { x: {} }): Promise<unknown>;"
    );
}

#[test]
fn additional_properties_schema_becomes_index_signature() {
    assert_eq!(
        inline_x(json!({"type": "object", "additionalProperties": {"type": "number"}})),
        "f(args: { x: { [key: string]: number } }): Promise<unknown>;"
    );
    // Compatible declared property: the index type stays.
    assert_eq!(
        inline_x(json!({
            "type": "object",
            "properties": {"total": {"type": "number"}},
            "required": ["total"],
            "additionalProperties": {"type": "number"}
        })),
        "f(args: { x: { total: number; [key: string]: number } }): Promise<unknown>;"
    );
    // Incompatible (and optional) properties widen the index type so tsc accepts it.
    assert_eq!(
        dts_x(json!({
            "type": "object",
            "properties": {"label": {"type": "string"}, "total": {"type": "number"}},
            "required": ["label"],
            "additionalProperties": {"type": "number"}
        })),
        indoc! {r#"
            declare namespace ns {
              interface Tools {
                f(args: FInput): Promise<unknown>;
              }
              interface FInput { x: { label: string; total?: number; [key: string]: number | string | undefined } }
            }
        "#}
    );
}

#[test]
fn pattern_properties() {
    // Closed: every key matches a pattern.
    assert_eq!(
        inline_x(json!({
            "type": "object",
            "patternProperties": {"^x-": {"type": "string"}},
            "additionalProperties": false
        })),
        "f(args: { x: { [key: string]: string } }): Promise<unknown>;"
    );
    // Open: other keys are unconstrained, so the index type is `unknown`, with the pattern said.
    assert_eq!(
        dts_x(json!({"type": "object", "patternProperties": {"^x-": {"type": "string"}}})),
        indoc! {r#"
            declare namespace ns {
              interface Tools {
                f(args: FInput): Promise<unknown>;
              }
              interface FInput { x: { [key: string]: unknown /* keys matching /^x-/: string */ } }
            }
        "#}
    );
}

#[test]
fn tuples_from_prefix_items_and_array_items() {
    // 2020-12, closed, all required.
    assert_eq!(
        signature_x(json!({
            "type": "array",
            "prefixItems": [{"type": "string"}, {"type": "number"}],
            "items": false,
            "minItems": 2
        })),
        "f(args: { x: [string, number] }): Promise<unknown>"
    );
    // Items past `minItems` are optional; open tuples get a rest element.
    assert_eq!(
        signature_x(json!({
            "type": "array",
            "prefixItems": [{"type": "string"}, {"type": "number"}],
            "minItems": 1
        })),
        "f(args: { x: [string, number?, ...unknown[]] }): Promise<unknown>"
    );
    assert_eq!(
        signature_x(json!({
            "type": "array",
            "prefixItems": [{"type": "string"}],
            "items": {"type": "boolean"},
            "minItems": 1
        })),
        "f(args: { x: [string, ...boolean[]] }): Promise<unknown>"
    );
    // Draft-07 array-form `items` with `additionalItems`.
    assert_eq!(
        signature_x(json!({
            "type": "array",
            "items": [{"type": "string"}, {"type": "null"}],
            "additionalItems": false,
            "minItems": 2
        })),
        "f(args: { x: [string, null] }): Promise<unknown>"
    );
    assert_eq!(
        signature_x(json!({"type": "array", "items": false})),
        "f(args: { x: [] }): Promise<unknown>"
    );
}

#[test]
fn constraints_become_jsdoc_tags() {
    assert_eq!(
        dts_x(json!({
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "maxItems": 5,
            "uniqueItems": true
        })),
        indoc! {r#"
            declare namespace ns {
              interface Tools {
                f(args: FInput): Promise<unknown>;
              }
              interface FInput {
                /** @minItems 1 @maxItems 5 @uniqueItems true */
                x: string[];
              }
            }
        "#}
    );
    assert_eq!(
        dts_x(json!({"type": "string", "minLength": 1, "pattern": "^[a-z]+$"})),
        indoc! {r#"
            declare namespace ns {
              interface Tools {
                f(args: FInput): Promise<unknown>;
              }
              interface FInput {
                /** @minLength 1 @pattern ^[a-z]+$ */
                x: string;
              }
            }
        "#}
    );
}

#[test]
fn enums_and_consts_are_literal_unions() {
    assert_eq!(
        inline_x(json!({"type": "string", "enum": ["a", "b\"c"]})),
        r#"f(args: { x: "a" | "b\"c" }): Promise<unknown>;"#
    );
    assert_eq!(
        inline_x(json!({"enum": [1, 2.5, true, null]})),
        "f(args: { x: 1 | 2.5 | true | null }): Promise<unknown>;"
    );
    assert_eq!(
        inline_x(json!({"const": "fixed"})),
        r#"f(args: { x: "fixed" }): Promise<unknown>;"#
    );
    // Values the declared type excludes cannot occur.
    assert_eq!(
        inline_x(json!({"type": "integer", "enum": [1, "one", 2]})),
        "f(args: { x: 1 | 2 }): Promise<unknown>;"
    );
    assert_eq!(
        inline_x(json!({"type": ["string", "null"], "enum": ["on", null]})),
        r#"f(args: { x: "on" | null }): Promise<unknown>;"#
    );
    assert_eq!(
        inline_x(json!({"const": {"kind": "point", "at": [1, 2]}})),
        r#"f(args: { x: { kind: "point"; at: [1, 2] } }): Promise<unknown>;"#
    );
}

#[test]
fn one_of_and_any_of_are_unions_all_of_intersections() {
    assert_eq!(
        inline_x(json!({"oneOf": [{"type": "string"}, {"type": "number"}]})),
        "f(args: { x: string | number }): Promise<unknown>;"
    );
    assert_eq!(
        dts_x(json!({"anyOf": [{"type": "string"}, {"type": "null"}], "default": null})),
        indoc! {r#"
            declare namespace ns {
              interface Tools {
                f(args: FInput): Promise<unknown>;
              }
              interface FInput {
                /** @default null */
                x: string | null;
              }
            }
        "#}
    );
    assert_eq!(
        inline_x(json!({"allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"type": "object", "properties": {"b": {"type": "number"}}}
        ]})),
        "f(args: { x: { a: string } & { b?: number } }): Promise<unknown>;"
    );
    // Parent properties intersected with the branches' requirements.
    assert_eq!(
        dts_x(json!({
            "type": "object",
            "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
            "anyOf": [{"required": ["id"]}, {"required": ["name"]}]
        })),
        indoc! {r#"
            declare namespace ns {
              interface Tools {
                f(args: FInput): Promise<unknown>;
              }
              interface FInput { x: { id?: string; name?: string } & ({ id: unknown } | { name: unknown }) }
            }
        "#}
    );
}

#[test]
fn a_bare_type_is_pushed_into_combinator_branches() {
    assert_eq!(
        inline_x(json!({"type": "string", "anyOf": [{"format": "email"}, {"format": "uri"}]})),
        "f(args: { x: string }): Promise<unknown>;"
    );
    assert_eq!(
        inline_x(json!({"type": "object", "oneOf": [
            {"properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "string"}}, "required": ["b"]}
        ]})),
        "f(args: { x: { a: string } | { b: string } }): Promise<unknown>;"
    );
}

#[test]
fn nullable_and_type_arrays() {
    assert_eq!(
        inline_x(json!({"type": "string", "nullable": true})),
        "f(args: { x: string | null }): Promise<unknown>;"
    );
    assert_eq!(
        inline_x(json!({"type": ["string", "null"]})),
        "f(args: { x: string | null }): Promise<unknown>;"
    );
    assert_eq!(
        inline_x(json!({"type": ["integer", "null"], "nullable": true})),
        "f(args: { x: number | null }): Promise<unknown>;"
    );
}

#[test]
fn local_refs_become_named_types() {
    let input = json!({
        "type": "object",
        "properties": {
            "a": {"$ref": "#/$defs/Point"},
            "b": {"$ref": "#/definitions/point-2d"},
            "c": {"$ref": "#/components/schemas/Pet"}
        },
        "required": ["a"],
        "$defs": {"Point": {"description": "A point.", "type": "object", "properties": {"x": {"type": "number"}}}},
        "definitions": {"point-2d": {"type": "array", "items": {"type": "number"}}},
        "components": {"schemas": {"Pet": {"type": "string", "enum": ["cat", "dog"]}}}
    });
    assert_eq!(
        dts(input),
        indoc! {r#"
            declare namespace ns {
              interface Tools {
                f(args: { a: Point; b?: Point2d; c?: Pet }): Promise<unknown>;
              }
              /** A point. */
              interface Point { x?: number }
              type Point2d = number[];
              type Pet = "cat" | "dog";
            }
        "#}
    );
}

#[test]
fn an_input_that_is_a_ref_may_still_be_omitted() {
    let input = json!({
        "$ref": "#/$defs/Args",
        "$defs": {"Args": {"type": "object", "properties": {"verbose": {"type": "boolean"}}}}
    });
    assert_eq!(
        dts(input),
        indoc! {r#"
            declare namespace ns {
              interface Tools {
                f(args?: Args): Promise<unknown>;
              }
              interface Args { verbose?: boolean }
            }
        "#}
    );
}

#[test]
fn recursive_refs() {
    let input = json!({
        "type": "object",
        "properties": {"tree": {"$ref": "#/$defs/Node"}},
        "required": ["tree"],
        "$defs": {"Node": {
            "type": "object",
            "properties": {
                "value": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}
            },
            "required": ["value"]
        }}
    });
    assert_eq!(
        dts(input),
        indoc! {r#"
            declare namespace ns {
              interface Tools {
                f(args: { tree: Node }): Promise<unknown>;
              }
              interface Node { value: string; children?: Node[] }
            }
        "#}
    );
    // `#` is the whole document: the input type itself, which therefore keeps its name.
    let input = json!({
        "type": "object",
        "properties": {"name": {"type": "string"}, "parent": {"$ref": "#"}},
        "required": ["name"]
    });
    assert_eq!(
        dts(input),
        indoc! {r#"
            declare namespace ns {
              interface Tools {
                f(args: FInput): Promise<unknown>;
              }
              interface FInput { name: string; parent?: FInput }
            }
        "#}
    );
}

#[test]
fn a_ref_cycle_without_an_object_between_degrades() {
    let input = json!({
        "type": "object",
        "properties": {"x": {"$ref": "#/$defs/A"}},
        "required": ["x"],
        "$defs": {
            "A": {"anyOf": [{"$ref": "#/$defs/B"}, {"type": "string"}]},
            "B": {"anyOf": [{"$ref": "#/$defs/A"}, {"type": "number"}]}
        }
    });
    assert_eq!(
        dts(input),
        indoc! {r#"
            declare namespace ns {
              interface Tools {
                f(args: { x: A }): Promise<unknown>;
              }
              type A = B | string;
              type B = unknown /* $ref #/$defs/A is circular */;
            }
        "#}
    );
}

#[test]
fn equal_defs_of_different_tools_are_declared_once() {
    let defs = json!({"Item": {"type": "object", "properties": {"id": {"type": "string"}}}});
    let other = json!({"Item": {"type": "object", "properties": {"id": {"type": "number"}}}});
    let with = |defs: &Value| json!({"type": "object", "properties": {"item": {"$ref": "#/$defs/Item"}}, "$defs": defs});
    let ns = namespace(vec![
        tool("a", with(&defs), Some(json!({}))),
        tool("b", with(&defs), Some(json!({}))),
        tool("c", with(&other), Some(json!({}))),
    ]);
    assert_eq!(
        render_namespace(&ns),
        indoc! {r#"
            declare namespace ns {
              interface Tools {
                a(args?: { item?: Item }): Promise<unknown>;
                b(args?: { item?: Item }): Promise<unknown>;
                c(args?: { item?: Item2 }): Promise<unknown>;
              }
              interface Item { id?: string }
              interface Item2 { id?: number }
            }
        "#}
    );
}

#[test]
fn definitions_that_refer_to_each_other_are_shared_across_tools() {
    // One OpenAPI component pair copied into each operation's `$defs`: each refers to the
    // other, so neither converted type equals the first tool's until both are known.
    let defs = json!({
        "refund": {"type": "object", "properties": {"reversal": {"$ref": "#/$defs/reversal"}}},
        "reversal": {"type": "object", "properties": {"refund": {"$ref": "#/$defs/refund"}}}
    });
    let changed = json!({
        "refund": {"type": "object", "properties": {"reversal": {"$ref": "#/$defs/reversal"}}},
        "reversal": {"type": "object", "properties": {"refund": {"$ref": "#/$defs/refund"}, "id": {"type": "string"}}}
    });
    let with = |defs: &Value| json!({"type": "object", "properties": {"refund": {"$ref": "#/$defs/refund"}}, "$defs": defs});
    let ns = namespace(vec![
        tool("a", with(&defs), Some(json!({}))),
        tool("b", with(&defs), Some(json!({}))),
        tool("c", with(&changed), Some(json!({}))),
    ]);
    assert_eq!(
        render_namespace(&ns),
        indoc! {r#"
            declare namespace ns {
              interface Tools {
                a(args?: { refund?: Refund }): Promise<unknown>;
                b(args?: { refund?: Refund }): Promise<unknown>;
                c(args?: { refund?: Refund2 }): Promise<unknown>;
              }
              interface Refund { reversal?: Reversal }
              interface Reversal { refund?: Refund }
              interface Refund2 { reversal?: Reversal2 }
              interface Reversal2 { refund?: Refund2; id?: string }
            }
        "#}
    );
}

#[test]
fn a_repeated_object_under_a_generic_property_is_named_after_its_first_tool() {
    let body = json!({
        "type": "object",
        "properties": {"amount": {"type": "integer"}, "currency": {"type": "string"}}
    });
    let input = json!({"type": "object", "properties": {"body": body}});
    let ns = namespace(vec![
        tool("post_refunds", input.clone(), Some(json!({}))),
        tool("post_refunds_id", input, Some(json!({}))),
    ]);
    let dts = render_namespace(&ns);
    assert!(
        dts.contains("post_refunds(args?: { body?: PostRefundsBody })")
            && dts.contains("post_refunds_id(args?: { body?: PostRefundsBody })")
            && dts.contains("interface PostRefundsBody { amount?: number; currency?: string }"),
        "{dts}"
    );
}

#[test]
fn repeated_inline_objects_are_named_once() {
    let entity = json!({
        "type": "object",
        "properties": {"name": {"type": "string"}, "kind": {"type": "string"}},
        "required": ["name", "kind"]
    });
    let ns = namespace(vec![tool(
        "create",
        json!({"type": "object", "properties": {"entities": {"type": "array", "items": entity}}, "required": ["entities"]}),
        Some(json!({"type": "object", "properties": {"created": entity}, "required": ["created"]})),
    )]);
    assert_eq!(
        render_namespace(&ns),
        indoc! {r#"
            declare namespace ns {
              interface Tools {
                create(args: { entities: Entity[] }): Promise<{ created: Entity }>;
              }
              interface Entity { name: string; kind: string }
            }
        "#}
    );
}

#[test]
fn format_default_examples_deprecated_and_description_are_jsdoc() {
    let input = json!({
        "type": "object",
        "properties": {
            "when": {
                "type": "string",
                "format": "date-time",
                "description": "When it happens.\n\nLonger discussion that is dropped.",
                "examples": ["2024-01-01T00:00:00Z"],
                "deprecated": true
            },
            "count": {"type": "integer", "default": 3, "minimum": 0}
        }
    });
    assert_eq!(
        dts(input),
        indoc! {r#"
            declare namespace ns {
              interface Tools {
                f(args?: FInput): Promise<unknown>;
              }
              interface FInput {
                /** When it happens. @deprecated @format date-time @example "2024-01-01T00:00:00Z" */
                when?: string;
                /** @default 3 @minimum 0 */
                count?: number;
              }
            }
        "#}
    );
}

#[test]
fn title_may_name_a_nested_object() {
    let input = json!({
        "type": "object",
        "title": "ignored for the root",
        "properties": {
            "address": {
                "title": "Postal Address",
                "type": "object",
                "properties": {"street": {"type": "string"}, "city": {"type": "string"}}
            },
            "nickname": {"title": "Nick Name", "type": "string"}
        }
    });
    assert_eq!(
        dts(input),
        indoc! {r#"
            declare namespace ns {
              interface Tools {
                f(args?: { address?: PostalAddress; nickname?: string }): Promise<unknown>;
              }
              interface PostalAddress { street?: string; city?: string }
            }
        "#}
    );
}

#[test]
fn inexpressible_schemas_degrade_to_unknown_with_a_reason() {
    let input = json!({
        "type": "object",
        "properties": {
            "remote": {"$ref": "https://example.com/schema.json#/Thing"},
            "broken": {"$ref": "#/$defs/Missing"},
            "negated": {"not": {"type": "string"}},
            "conditional": {"if": {"type": "string"}, "then": {"minLength": 1}},
            "impossible": false,
            "constrained": {"type": "string", "not": {"const": ""}},
            "anchor": {"$ref": "#node"}
        },
        "required": ["remote"]
    });
    assert_eq!(
        dts(input),
        indoc! {r#"
            declare namespace ns {
              interface Tools {
                f(args: FInput): Promise<unknown>;
              }
              interface FInput {
                remote: unknown /* $ref https://example.com/schema.json#/Thing not resolved: only local JSON pointers are */;
                broken?: unknown /* broken $ref #/$defs/Missing */;
                negated?: unknown /* not expressible in TypeScript: not */;
                conditional?: unknown /* not expressible in TypeScript: if */;
                impossible?: unknown /* schema `false` admits no value */;
                constrained?: string;
                anchor?: unknown /* $ref #node not resolved: only local JSON pointers are */;
              }
            }
        "#}
    );
}

#[test]
fn comment_ends_are_escaped_everywhere() {
    let ns = NamespaceDecl {
        ident: "ns".into(),
        original_name: "ns".into(),
        description: Some("Globs like **/*.rs */ end comments".into()),
        tools: vec![described(
            tool(
                "f",
                json!({
                    "type": "object",
                    "properties": {
                        "glob": {"type": "string", "description": "e.g. src/**/*.ts", "default": "*/"},
                        "other": {"patternProperties": {"*/": {"type": "string"}}}
                    }
                }),
                Some(json!({})),
            ),
            "Matches a/**/b.",
        )],
    };
    assert_eq!(
        render_namespace(&ns),
        indoc! {r#"
            /** Globs like **\/*.rs *\/ end comments */
            declare namespace ns {
              interface Tools {
                /** Matches a/**\/b. */
                f(args?: FInput): Promise<unknown>;
              }
              interface FInput {
                /** e.g. src/**\/*.ts @default "*\/" */
                glob?: string;
                other?: { [key: string]: unknown /* keys matching /*\//: string */ };
              }
            }
        "#}
    );
}

#[test]
fn long_descriptions_keep_the_first_paragraph_and_say_when_cut() {
    let long = "word ".repeat(200);
    let ns = namespace(vec![
        described(
            tool(
                "a",
                json!({"type": "object", "properties": {}}),
                Some(json!({})),
            ),
            "First paragraph.\nStill first.\n\nSecond paragraph.",
        ),
        described(
            tool(
                "b",
                json!({"type": "object", "properties": {}}),
                Some(json!({})),
            ),
            long,
        ),
    ]);
    let text = render_namespace(&ns);
    assert!(
        text.contains("    /**\n     * First paragraph.\n     * Still first.\n     */\n"),
        "{text}"
    );
    assert!(!text.contains("Second paragraph"));
    let b_doc = text
        .lines()
        .find(|l| l.contains("word word"))
        .unwrap_or_default();
    assert!(b_doc.ends_with("word… */"), "{b_doc}");
    assert!(b_doc.chars().count() < 620, "{}", b_doc.chars().count());
}

#[test]
fn untyped_results_explain_what_comes_back_and_renamed_tools_say_their_name() {
    let ns = namespace(vec![renamed(
        described(
            tool(
                "get_sum",
                json!({"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]}),
                None,
            ),
            "Adds two numbers.",
        ),
        "get-sum",
    )]);
    assert_eq!(
        render_namespace(&ns),
        indoc! {r#"
            /**
             * @remarks Tools typed Promise<JsonValue> declare no result type: they resolve to their structured content, else their one text block (parsed when the whole text is valid JSON, whatever the value, else the text as a string), else an array of their content blocks.
             */
            declare namespace ns {
              interface Tools {
                /** Adds two numbers. @mcp get-sum */
                get_sum(args: { a: number; b: number }): Promise<JsonValue>;
              }
            }
        "#}
    );
}

#[test]
fn typed_results_and_optional_arguments() {
    let ns = namespace(vec![tool(
        "now",
        json!({"type": "object", "properties": {"tz": {"type": "string"}}}),
        Some(json!({
            "type": "object",
            "properties": {"iso": {"type": "string", "description": "ISO 8601"}},
            "required": ["iso"]
        })),
    )]);
    assert_eq!(
        render_namespace(&ns),
        indoc! {r#"
            declare namespace ns {
              interface Tools {
                now(args?: { tz?: string }): Promise<NowOutput>;
              }
              interface NowOutput {
                /** ISO 8601 */
                iso: string;
              }
            }
        "#}
    );
}

#[test]
fn namespaces_concatenate_under_one_tools_global() {
    let first = NamespaceDecl {
        ident: "my_server".into(),
        original_name: "my-server".into(),
        description: Some("Does things.".into()),
        tools: vec![tool(
            "go",
            json!({"type": "object", "properties": {}}),
            Some(json!({})),
        )],
    };
    let second = NamespaceDecl {
        tools: Vec::new(),
        ..namespace(Vec::new())
    };
    assert_eq!(
        render_declarations(&[first, second]),
        indoc! {r#"
            /** Does things. @server my-server */
            declare namespace my_server {
              interface Tools {
                go(args?: {}): Promise<unknown>;
              }
            }

            declare namespace ns {
              interface Tools {}
            }

            /** A tool result no schema declares: structured content, or text (parsed when it is wholly JSON), or an array of content blocks. */
            type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
            declare const tools: {
              my_server: my_server.Tools;
              ns: ns.Tools;
            };
        "#}
    );
    assert!(render_tools_global([]).ends_with("declare const tools: {};\n"));
}

#[test]
fn invalid_identifiers_are_repaired_defensively() {
    let ns = NamespaceDecl {
        ident: "my-ns".into(),
        original_name: "my-ns".into(),
        description: None,
        tools: vec![tool(
            "delete",
            json!({"type": "object", "properties": {}}),
            Some(json!({})),
        )],
    };
    let text = render_namespace(&ns);
    assert!(text.contains("declare namespace my_ns {"), "{text}");
    assert!(
        text.contains("delete_(args?: {}): Promise<unknown>;"),
        "{text}"
    );
}

#[test]
fn hostile_nesting_is_cut_off() {
    let mut schema = json!({"type": "string"});
    for _ in 0..200 {
        schema = json!({"type": "array", "items": schema});
    }
    let text = dts_x(schema);
    assert!(
        text.contains("unknown /* schema nested too deeply */"),
        "{text}"
    );
}

#[test]
fn signatures_expand_in_place_and_shorten_honestly() {
    let entity = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "observations": {"type": "array", "items": {"type": "string"}},
            "meta": {"type": "object", "properties": {"source": {"type": "string"}}}
        },
        "required": ["name", "observations"]
    });
    let input = json!({
        "type": "object",
        "properties": {"entities": {"type": "array", "items": entity, "description": "To create"}},
        "required": ["entities"]
    });
    let output = json!({
        "type": "object",
        "properties": {"entities": {"type": "array", "items": entity}},
        "required": ["entities"]
    });
    let ns = NamespaceDecl {
        ident: "memory".into(),
        ..namespace(vec![described(
            tool("create_entities", input, Some(output)),
            "Create entities. Then more text.",
        )])
    };
    let compiled = ns.compile();
    let full = compiled.signature("create_entities", 1000);
    assert_eq!(
        full,
        Some(ToolSignature {
            namespace: "memory".into(),
            ident: "create_entities".into(),
            original_name: "create_entities".into(),
            signature: "create_entities(args: { entities: { name: string; observations: string[]; meta?: { source?: string } }[] }): Promise<{ entities: { name: string; observations: string[]; meta?: { source?: string } }[] }>".into(),
            summary: Some("Create entities.".into()),
        })
    );
    let lengths_and_texts: Vec<String> = [150, 100, 60, 10]
        .into_iter()
        .filter_map(|cap| compiled.signature("create_entities", cap))
        .map(|s| s.signature)
        .collect();
    assert_eq!(
        lengths_and_texts,
        [
            "create_entities(args: { entities: { name: string; observations: string[]; meta?: { source?: string } }[] }): Promise<{ entities: memory.Entity[] }>",
            "create_entities(args: { entities: memory.Entity[] }): Promise<{ entities: memory.Entity[] }>",
            // Past what shortening can do, the shortest honest form is returned.
            "create_entities(args: memory.CreateEntitiesInput): Promise<{ entities: memory.Entity[] }>",
            "create_entities(args: memory.CreateEntitiesInput): Promise<{ entities: memory.Entity[] }>",
        ]
    );
    assert_eq!(compiled.signature("missing", 100), None);
    assert_eq!(
        compiled.signatures(1000),
        vec![full.expect("create_entities exists")]
    );
    // Every name a signature keeps is declared.
    let declarations = compiled.declarations();
    assert!(
        declarations.contains("interface CreateEntitiesInput {"),
        "{declarations}"
    );
    assert!(
        declarations.contains("interface Entity {"),
        "{declarations}"
    );
}

#[test]
fn signatures_elide_anonymous_objects_as_braces() {
    let input = json!({
        "type": "object",
        "properties": {"deep": {"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "string"}}}}}},
        "description": "Documented, hence declared."
    });
    let compiled = namespace(vec![tool("f", input, None)]).compile();
    let texts: Vec<String> = [1000, 50, 20]
        .into_iter()
        .filter_map(|cap| compiled.signature("f", cap))
        .map(|s| s.signature)
        .collect();
    assert_eq!(
        texts,
        [
            "f(args?: { deep?: { a?: { b?: string } } }): Promise<JsonValue>",
            "f(args?: { deep?: {...} }): Promise<JsonValue>",
            "f(args?: ns.FInput): Promise<JsonValue>",
        ]
    );
}
