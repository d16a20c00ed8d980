//! What `search` answers, through the catalogue's public interface: signatures callable as
//! written (every named type declared once), namespace pages, one tool in full, observed
//! result shapes, and a weak match said as such.

use std::sync::Arc;

use codemode_catalog::{
    Catalog, NamespaceStatus, SearchQuery, SourceNamespace, ToolSource, ToolSpec,
};
use codemode_sandbox::{Limits, Sandbox, ToolFuture, ToolHost};
use serde_json::{json, Value};

/// A catalogue of `tracker` tools whose inputs share a `$defs` type, and a `weather` tool
/// without an output schema that answers an object.
struct Fixture;

fn issue_tool(name: &str, description: &str) -> ToolSpec {
    let mut spec = ToolSpec::new(
        name,
        json!({
            "type": "object",
            "properties": {
                "project": { "type": "string", "description": "The project key, e.g. PROJ." },
                "fields": { "$ref": "#/$defs/IssueFields" }
            },
            "required": ["project", "fields"],
            "$defs": {
                "IssueFields": {
                    "type": "object",
                    "description": "What an issue says.",
                    "properties": {
                        "summary": { "type": "string", "description": "One line." },
                        "priority": { "enum": ["low", "high"], "default": "low" },
                        "due": { "type": "string", "format": "date" }
                    },
                    "required": ["summary"]
                }
            }
        }),
    );
    spec.description = Some(description.to_string());
    spec
}

impl ToolSource for Fixture {
    fn namespaces(&self) -> Vec<SourceNamespace> {
        let mut tracker: Vec<ToolSpec> = vec![
            issue_tool("create_issue", "Create an issue in a project."),
            issue_tool("update_issue", "Update an issue's fields."),
        ];
        for i in 0..23 {
            let mut spec = ToolSpec::new(format!("report_{i}"), json!({ "type": "object" }));
            spec.description = Some(format!("Report number {i}."));
            tracker.push(spec);
        }
        let mut weather = ToolSpec::new(
            "get_forecast",
            json!({ "type": "object", "properties": { "city": { "type": "string" } } }),
        );
        weather.description = Some("The weather forecast for a city.".into());
        vec![
            SourceNamespace::ready("tracker", Some("Issue tracker".into()), tracker),
            SourceNamespace::ready("weather", None, vec![weather]),
        ]
    }

    fn call(&self, _namespace: &str, tool: &str, _args: Value) -> ToolFuture {
        let answer = match tool {
            "get_forecast" => {
                json!({ "city": "Lisbon", "days": [{ "high": 21.5, "sky": "clear" }] })
            }
            _ => json!(null),
        };
        Box::pin(std::future::ready(Ok(answer)))
    }
}

fn catalog() -> Catalog {
    Catalog::new(vec![Arc::new(Fixture)])
}

#[test]
fn every_named_type_a_signature_uses_is_declared_once_in_the_answer() {
    let catalog = catalog();
    let results = catalog.search("create an issue", 5);
    let text = catalog.render_search(&results);
    assert!(
        text.contains("tools.tracker.create_issue(args: {"),
        "{text}"
    );
    assert!(text.contains("fields: tracker.IssueFields;"), "{text}");
    assert_eq!(text.matches("interface IssueFields").count(), 1, "{text}");
    assert!(text.contains("declare namespace tracker {"), "{text}");
    // The top hit carries its properties' documentation.
    assert!(
        text.contains("/** The project key, e.g. PROJ. */"),
        "{text}"
    );
    assert!(text.contains("@format date"), "{text}");
    assert!(text.contains("@default \"low\""), "{text}");
    assert!(text.contains("\"low\" | \"high\""), "{text}");
    assert!(!text.contains("codemode://types"), "{text}");
}

#[test]
fn an_answer_stays_within_its_budget() {
    let catalog = catalog();
    for limit in [1, 5, 20] {
        let text = catalog.render_search(&catalog.search("report", limit));
        assert!(
            text.len() <= 2_000 + 800 * limit + 400,
            "{limit}: {} chars",
            text.len()
        );
    }
}

#[test]
fn a_namespace_is_listed_page_by_page() {
    let catalog = catalog();
    let page = |page| {
        catalog.find(&SearchQuery {
            query: String::new(),
            limit: 10,
            namespace: Some("tracker".into()),
            page,
        })
    };
    let first = page(1);
    assert_eq!(first.page.as_ref().map(|p| (p.page, p.pages)), Some((1, 3)));
    assert_eq!(first.namespaces[0].tools.len(), 10);
    let text = catalog.render_search(&first);
    assert!(
        text.contains("page 1 of 3 (25 tools, 10 per page)"),
        "{text}"
    );
    assert!(
        text.contains("search({ namespace: \"tracker\", page: 2 })"),
        "{text}"
    );
    let last = page(3);
    assert_eq!(last.namespaces[0].tools.len(), 5);
    let past = page(99);
    assert_eq!(past.page.as_ref().map(|p| p.page), Some(3));
}

#[test]
fn one_tool_is_described_in_full() {
    let catalog = catalog();
    let description = catalog.describe("tracker.create_issue").expect("a tool");
    assert_eq!(description.path, "tools.tracker.create_issue");
    assert!(description
        .declaration
        .contains("Create an issue in a project."));
    assert!(description.declaration.contains("interface IssueFields"));
    assert_eq!(
        description.input_schema["required"],
        json!(["project", "fields"])
    );
    let missing = catalog.describe("tracker.create_isue").unwrap_err();
    assert!(missing.contains("tools.tracker.create_issue"), "{missing}");
    assert!(catalog.describe("nonsense").is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_untyped_tool_shows_the_shape_it_returned_once_it_has_answered() {
    let catalog = catalog();
    let before = catalog.render_search(&catalog.search("weather forecast", 3));
    assert!(before.contains("Promise<JsonValue>"), "{before}");
    assert!(!before.contains("observed"), "{before}");

    let host: Arc<dyn ToolHost> = Arc::new(catalog.clone());
    let code = r#"
const forecast = await tools.weather.get_forecast({ city: "Lisbon" });
const described = await tools.$describe("weather.get_forecast");
return { high: forecast.days[0].high, observed: described.observed };
"#;
    let execution = Sandbox::execute(code, host, Limits::default()).await;
    let returned = execution.returned().expect("runs").expect("a value");
    assert_eq!(returned["high"], json!(21.5));
    let shape = "{ city: string; days: { high: number; sky: string }[] }";
    assert_eq!(returned["observed"], json!(shape));

    let after = catalog.render_search(&catalog.search("weather forecast", 3));
    assert!(
        after.contains(&format!("// observed result (not declared): {shape}")),
        "{after}"
    );
    assert!(!after.contains("Lisbon"), "shapes carry no values: {after}");
}

#[test]
fn a_weak_match_says_so_and_shows_the_namespaces() {
    let catalog = catalog();
    let results = catalog.search("book a flight to lisbon tomorrow", 5);
    let text = catalog.render_search(&results);
    assert!(
        text.contains("No strong match") || text.contains("No tool matched"),
        "{text}"
    );
    assert!(text.contains("// tools.tracker: Issue tracker"), "{text}");
    assert!(text.contains("// tools.weather"), "{text}");
}

#[test]
fn namespace_status_is_not_lost() {
    assert_eq!(catalog().namespaces()[0].status, NamespaceStatus::Ready);
}
