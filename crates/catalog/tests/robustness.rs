//! Schemas from servers are untrusted input: malformed ones must neither panic nor produce
//! declarations that fail to parse.

use codemode_catalog::typescript::{render_namespace, NamespaceDecl, ToolDecl};
use codemode_catalog::ToolSpec;
use serde_json::{json, Value};

fn assert_parses(source: &str) {
    let allocator = oxc_allocator::Allocator::default();
    let parsed = oxc_parser::Parser::new(&allocator, source, oxc_span::SourceType::d_ts()).parse();
    let diagnostics: Vec<String> = parsed.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(
        !parsed.panicked && diagnostics.is_empty(),
        "{diagnostics:#?}\n{source}"
    );
}

fn namespace_of(schemas: Vec<Value>) -> NamespaceDecl {
    NamespaceDecl {
        ident: "hostile".into(),
        original_name: "hostile".into(),
        description: Some("*/ /* */".into()),
        tools: schemas
            .into_iter()
            .enumerate()
            .map(|(i, schema)| ToolDecl {
                ident: format!("t{i}"),
                spec: ToolSpec {
                    description: Some("ends */ a comment\r\n\r\nsecond".into()),
                    output_schema: Some(schema.clone()),
                    ..ToolSpec::new(format!("t{i}*/"), schema)
                },
            })
            .collect(),
    }
}

#[test]
fn malformed_schemas_degrade_without_panicking() {
    let chain: serde_json::Map<String, Value> = (0..300)
        .map(|i| {
            (
                format!("D{i}"),
                json!({"$ref": format!("#/$defs/D{}", i + 1)}),
            )
        })
        .collect();
    let schemas = vec![
        json!("not a schema"),
        json!(42),
        json!(null),
        json!([]),
        json!(false),
        json!({"type": 5}),
        json!({"type": ["string", 7, "nonsense"]}),
        json!({"type": []}),
        json!({"type": "object", "properties": [], "required": "x"}),
        json!({"type": "object", "properties": {"a": 3, "*/": {"type": "string"}}, "required": [1, "a", "zz"]}),
        json!({"enum": "x"}),
        json!({"enum": []}),
        json!({"type": "array", "items": 3, "minItems": -1}),
        json!({"type": "array", "prefixItems": "x"}),
        json!({"$ref": 5}),
        json!({"$ref": "#/$defs/%zz%41"}),
        json!({"$ref": "#/items/0", "items": [{"type": "string"}]}),
        json!({"$ref": "#/$defs/D0", "$defs": chain}),
        json!({"$ref": "#/$defs/Self", "$defs": {"Self": {"$ref": "#/$defs/Self"}}}),
        json!({"allOf": "x", "anyOf": {}, "oneOf": [5]}),
        json!({"additionalProperties": 3, "patternProperties": {"a": 4}}),
        json!({"title": "", "type": "object", "properties": {"x": {"title": "2 */ bad", "type": "object", "properties": {"a": {}}}}}),
        json!({"const": {"*/": [1, {"a": null}]}}),
        json!({"$dynamicRef": "#meta"}),
    ];
    let text = render_namespace(&namespace_of(schemas));
    assert_parses(&text);
    // Degenerate keywords say what was wrong instead of making a tool uncallable (`never`).
    assert!(
        text.contains("t7(args?: unknown /* invalid `type` */)"),
        "{text}"
    );
    assert!(
        text.contains("t11(args?: unknown /* empty `enum` */)"),
        "{text}"
    );
}
