//! Hand-written specs in every accepted form (OpenAPI 3.0 YAML, 3.1 JSON, Swagger 2.0 JSON,
//! one split over files with recursive schemas) become the tools they describe.

use std::path::{Path, PathBuf};

use codemode_catalog::{NamespaceStatus, ToolSource, ToolSpec};
use codemode_openapi::{OpenApiConfig, OpenApiConfigs, OpenApiSource, SpecLocation};
use serde_json::{json, Value};

fn spec(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/specs")
        .join(name)
}

async fn tools_of(config: OpenApiConfig) -> Result<Vec<ToolSpec>, String> {
    let source = OpenApiSource::load(&OpenApiConfigs {
        entries: vec![config],
        broken: Vec::new(),
    })
    .await;
    let namespace = source.namespaces().remove(0);
    match namespace.status {
        NamespaceStatus::Ready => Ok(namespace.tools),
        NamespaceStatus::Unavailable { reason, .. } => Err(reason),
        NamespaceStatus::Starting => Err("still starting".into()),
    }
}

async fn tools(name: &str) -> Vec<ToolSpec> {
    tools_of(OpenApiConfig::new("api", SpecLocation::Path(spec(name))))
        .await
        .unwrap_or_else(|reason| panic!("{name}: {reason}"))
}

fn tool<'a>(tools: &'a [ToolSpec], name: &str) -> &'a ToolSpec {
    tools.iter().find(|t| t.name == name).unwrap_or_else(|| {
        panic!(
            "no tool {name}: {:?}",
            tools.iter().map(|t| &t.name).collect::<Vec<_>>()
        )
    })
}

#[tokio::test]
async fn openapi_3_0_yaml() {
    let tools = tools("petstore-3.0.yaml").await;
    let list = tool(&tools, "listPets");
    assert_eq!(list.title.as_deref(), Some("List pets"));
    let properties = list.input_schema["properties"]
        .as_object()
        .expect("properties");
    let keys: Vec<&str> = properties.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["tags", "limit", "filter", "ids", "X-Trace", "theme"],
        "Accept is left out"
    );
    assert_eq!(
        properties["limit"],
        json!({"type": "integer", "maximum": 100, "default": 20})
    );
    assert_eq!(list.input_schema["additionalProperties"], false);
    assert_eq!(
        list.annotations,
        Some(json!({"readOnlyHint": true, "openWorldHint": true}))
    );
    assert!(list
        .description
        .as_deref()
        .unwrap_or_default()
        .contains("`GET /pets`"));

    // The component as $defs, 3.0's nullable and boolean exclusiveMinimum as JSON Schema,
    // the example left out.
    let output = list.output_schema.as_ref().expect("output");
    assert_eq!(output["items"], json!({"$ref": "#/$defs/Pet"}));
    assert_eq!(
        output["$defs"]["Pet"],
        json!({
            "type": "object",
            "required": ["name"],
            "properties": {
                "id": {"type": "integer", "format": "int64", "readOnly": true},
                "name": {"type": "string", "description": "The pet's name."},
                "tag": {"type": ["string", "null"]},
                "status": {"type": "string", "enum": ["available", "sold"], "default": "available"},
                "score": {"type": "number", "exclusiveMinimum": 0}
            }
        })
    );

    // A path parameter from a component, a query parameter of the same name.
    let get = tool(&tools, "getPet");
    assert_eq!(
        get.input_schema["properties"],
        json!({
            "petId": {"type": "integer", "format": "int64", "description": "The pet's id."},
            "query_petId": {"type": "string", "description": "Shares its name with the path parameter."}
        })
    );
    assert_eq!(get.input_schema["required"], json!(["petId"]));

    let add = tool(&tools, "addPet");
    assert_eq!(
        add.input_schema["properties"]["body"]["$ref"],
        "#/$defs/Pet"
    );
    assert_eq!(
        add.input_schema["properties"]["body"]["description"],
        "The new pet."
    );
    assert_eq!(add.input_schema["required"], json!(["body"]));
    assert_eq!(add.annotations.as_ref().unwrap()["readOnlyHint"], false);
    assert_eq!(
        tool(&tools, "deletePet").annotations.as_ref().unwrap()["destructiveHint"],
        true
    );
    assert_eq!(
        tool(&tools, "replacePet").annotations.as_ref().unwrap()["idempotentHint"],
        true
    );

    let request = tools.last().expect("$request");
    assert_eq!(request.name, "$request");
    assert_eq!(
        codemode_catalog::naming::identifier(&request.name),
        "$request",
        "`$` is an identifier character"
    );
}

#[tokio::test]
async fn openapi_3_1_json() {
    let tools = tools("inventory-3.1.json").await;
    let get = tool(&tools, "get_items_sku");
    assert_eq!(get.title.as_deref(), Some("Get an item"));
    let output = get.output_schema.as_ref().expect("2XX counts as success");
    let item = &output["$defs"]["Item"];
    assert_eq!(
        item["properties"]["count"]["type"],
        json!(["integer", "null"])
    );
    assert_eq!(item["properties"]["kind"], json!({"const": "item"}));
    assert_eq!(
        item["properties"]["parent"],
        json!({"$ref": "#/$defs/Item"}),
        "recursion stays a reference"
    );
    let update = tool(&tools, "updateItem");
    assert_eq!(
        update.input_schema["properties"]["body"]["$ref"],
        "#/$defs/Item"
    );
    assert!(
        update.output_schema.is_some(),
        "`default` when there is no 2xx"
    );
}

#[tokio::test]
async fn swagger_2_0_json() {
    let tools = tools("legacy-2.0.json").await;
    let list = tool(&tools, "listOrders");
    let order = &list.output_schema.as_ref().expect("output")["$defs"]["Order"];
    assert_eq!(
        order["properties"]["placed"],
        json!({"type": "integer", "format": "unix-time"})
    );
    assert_eq!(
        order["properties"]["note"]["type"],
        json!(["string", "null"])
    );
    let create = tool(&tools, "createOrder");
    assert_eq!(
        create.input_schema["properties"]["body"]["$ref"],
        "#/$defs/Order"
    );
    let note = tool(&tools, "addNote");
    assert_eq!(
        note.input_schema["properties"]["body"]["properties"]["text"]["type"],
        "string"
    );
}

#[tokio::test]
async fn external_files_and_recursive_schemas() {
    let tools = tools("split/api.yaml").await;
    let tree = tool(&tools, "getTree");
    assert_eq!(
        tree.input_schema["properties"]["id"],
        json!({"type": "string", "description": "The tree's id."})
    );
    let output = tree.output_schema.as_ref().expect("output");
    assert_eq!(output["$ref"], "#/$defs/Tree");
    let defs = output["$defs"].as_object().expect("defs");
    assert_eq!(
        defs["Tree"]["properties"]["children"]["items"],
        json!({"$ref": "#/$defs/Tree"})
    );
    assert_eq!(
        defs["Tree"]["properties"]["owner"],
        json!({"$ref": "#/$defs/Person"})
    );
    assert_eq!(
        defs["Person"]["properties"]["planted"]["items"],
        json!({"$ref": "#/$defs/Tree"})
    );
    let people = tool(&tools, "listPeople");
    assert_eq!(
        people.output_schema.as_ref().expect("output")["items"]["$ref"],
        "#/$defs/Person"
    );
}

#[tokio::test]
async fn filters_keep_what_they_select() {
    let mut config = OpenApiConfig::new("api", SpecLocation::Path(spec("petstore-3.0.yaml")));
    let section = json!({"api": {
        "spec": spec("petstore-3.0.yaml").display().to_string(),
        "include": {"tags": ["pets"]},
        "exclude": {"paths": ["/pets/*/photo"], "operationIds": ["deletePet"]}
    }});
    let parsed = codemode_openapi::parse_openapi_configs(&section, Path::new("/"), &|_| None)
        .expect("an object");
    config.include = parsed.entries[0].include.clone();
    config.exclude = parsed.entries[0].exclude.clone();
    let tools = tools_of(config).await.expect("loads");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "listPets",
            "addPet",
            "getPet",
            "replacePet",
            "adoptPet",
            "$request"
        ]
    );
}

#[tokio::test]
async fn a_bad_spec_names_the_file_and_the_pointer() {
    let path = spec("broken-pointer.yaml");
    let reason = tools_of(OpenApiConfig::new("api", SpecLocation::Path(path.clone())))
        .await
        .expect_err("broken");
    assert!(reason.contains(&path.display().to_string()), "{reason}");
    assert!(reason.contains("/paths/~1x/get/parameters/0"), "{reason}");

    let dir = tempfile::tempdir().expect("tempdir");
    let cases: [(&str, &str, &str); 4] = [
        ("syntax.json", "{\"openapi\": ", "not valid JSON"),
        ("neither.yaml", "title: x\n", "no `openapi` or `swagger` field"),
        ("escape.yaml", "openapi: 3.0.3\ninfo: {title: x, version: '1'}\npaths:\n  /a:\n    get:\n      responses:\n        '200':\n          description: x\n          content: {application/json: {schema: {$ref: '../outside.yaml#/X'}}}\n", "$ref"),
        ("noserver.yaml", "openapi: 3.0.3\ninfo: {title: x, version: '1'}\npaths: {}\n", "baseUrl"),
    ];
    std::fs::write(
        dir.path().parent().expect("parent").join("outside.yaml"),
        "X: {type: string}\n",
    )
    .ok();
    for (file, text, expected) in cases {
        let path = dir.path().join(file);
        std::fs::write(&path, text).expect("write");
        let reason = tools_of(OpenApiConfig::new("api", SpecLocation::Path(path)))
            .await
            .expect_err(file);
        assert!(
            reason.contains(file) && reason.contains(expected),
            "{file}: {reason}"
        );
    }
    let _ = Value::Null;
}

#[tokio::test]
async fn broken_and_disabled_entries_are_listed_with_their_reason() {
    let section = json!({
        "bad": {"spec": "x.json", "auth": {"bearer": "${NOPE}"}},
        "off": {"spec": spec("petstore-3.0.yaml").display().to_string(), "disabled": true},
        "missing": {"spec": "/nonexistent/spec.json"}
    });
    let configs = codemode_openapi::parse_openapi_configs(&section, Path::new("/"), &|_| None)
        .expect("an object");
    let source = OpenApiSource::load(&configs).await;
    let statuses: Vec<(String, String)> = source
        .namespaces()
        .into_iter()
        .map(|ns| match ns.status {
            NamespaceStatus::Unavailable {
                reason,
                retrying: false,
            } => (ns.name, reason),
            other => panic!("{}: {other:?}", ns.name),
        })
        .collect();
    assert_eq!(statuses.len(), 3);
    assert!(
        statuses[0].0 == "bad" && statuses[0].1.contains("NOPE"),
        "{statuses:?}"
    );
    assert!(
        statuses[1].0 == "missing" && statuses[1].1.contains("/nonexistent/spec.json"),
        "{statuses:?}"
    );
    assert!(
        statuses[2].0 == "off" && statuses[2].1.contains("disabled"),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn the_catalogue_declares_the_tools() {
    let source = OpenApiSource::load(&OpenApiConfigs {
        entries: vec![OpenApiConfig::new(
            "petstore",
            SpecLocation::Path(spec("petstore-3.0.yaml")),
        )],
        broken: Vec::new(),
    })
    .await;
    let catalog = codemode_catalog::Catalog::new(vec![std::sync::Arc::new(source)]);
    let declarations = catalog
        .namespace_declarations("petstore")
        .expect("declared");
    for expected in [
        "listPets(",
        "$request(",
        "interface Pet",
        "tag?: string | null",
        "query_petId?: string",
        "The pet's name.",
    ] {
        assert!(
            declarations.contains(expected),
            "{expected} in:\n{declarations}"
        );
    }
    if std::env::var_os("SHOW_DECLARATIONS").is_some() {
        println!("{declarations}");
    }
    let hits = catalog.search("upload a photo of a pet", 3);
    let text = format!("{hits:?}");
    assert!(text.contains("uploadPhoto"), "{text}");
}

#[tokio::test]
async fn a_namespace_starts_then_becomes_ready() {
    let source = OpenApiSource::start(&OpenApiConfigs {
        entries: vec![OpenApiConfig::new(
            "api",
            SpecLocation::Path(spec("inventory-3.1.json")),
        )],
        broken: Vec::new(),
    });
    let mut changes = source.changes().expect("a change feed");
    let first = source.namespaces().remove(0).status;
    assert!(
        matches!(first, NamespaceStatus::Starting | NamespaceStatus::Ready),
        "{first:?}"
    );
    source.wait_ready("api").await;
    assert_eq!(source.namespaces().remove(0).status, NamespaceStatus::Ready);
    if first == NamespaceStatus::Starting {
        assert!(changes.has_changed().unwrap_or(false));
    }
    let _ = changes.borrow_and_update();
    let error = source
        .call("nope", "x", json!({}))
        .await
        .expect_err("no such namespace");
    assert_eq!(error.kind, codemode_sandbox::ToolErrorKind::Unavailable);
}
