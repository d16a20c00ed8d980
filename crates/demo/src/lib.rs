//! The built-in demo tools: `orders` and `customers` over deterministic generated data
//! (10,000 orders, 1,000 customers), so that a fresh install has something real to call.
//!
//! Everything here is in-process and synchronous. It must never reach the network, the
//! disk or the clock: the same call always gives the same answer.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use codemode_catalog::{SourceNamespace, ToolSource, ToolSpec};
use codemode_sandbox::{ToolCall, ToolError, ToolErrorKind, ToolFuture, ToolHost, ToolNames};
use serde_json::{json, Map, Value};

/// Number of generated orders.
pub const ORDER_COUNT: usize = 10_000;
/// Number of generated customers.
pub const CUSTOMER_COUNT: usize = 1_000;

/// The demo's namespaces with their tools: names, descriptions and JSON Schemas, in the one
/// shape every tool source uses.
pub fn namespaces() -> Vec<SourceNamespace> {
    let mut namespaces = vec![
        SourceNamespace::ready(
            "orders",
            Some(format!(
                "Demo shop orders: {ORDER_COUNT} generated orders from 2025-07-01 to 2026-06-30."
            )),
            Vec::new(),
        ),
        SourceNamespace::ready(
            "customers",
            Some(format!(
                "Demo shop customers: {CUSTOMER_COUNT} generated customers with name, email and country."
            )),
            Vec::new(),
        ),
    ];
    for (namespace, tool) in tools() {
        if let Some(entry) = namespaces.iter_mut().find(|ns| ns.name == namespace) {
            entry.tools.push(tool);
        }
    }
    namespaces
}

/// A demo tool: it only reads generated data, and says so for policy.
fn read_only(name: &str, description: &str, input_schema: Value, output_schema: Value) -> ToolSpec {
    ToolSpec {
        description: Some(description.to_string()),
        output_schema: Some(output_schema),
        annotations: Some(json!({ "readOnlyHint": true, "openWorldHint": false })),
        keywords: None,
        ..ToolSpec::new(name, input_schema)
    }
}

fn tools() -> Vec<(&'static str, ToolSpec)> {
    let order = json!({
        "title": "Order",
        "type": "object",
        "properties": {
            "id": { "type": "string" },
            "customerId": { "type": "string" },
            "total": { "type": "number", "description": "Order total in EUR." },
            "date": { "type": "string", "format": "date" },
            "status": { "type": "string", "enum": ["pending", "paid", "shipped", "refunded"] }
        },
        "required": ["id", "customerId", "total", "date", "status"],
        "additionalProperties": false
    });
    let customer = json!({
        "title": "Customer",
        "type": "object",
        "properties": {
            "id": { "type": "string" },
            "name": { "type": "string" },
            "email": { "type": "string", "format": "email" },
            "country": { "type": "string", "description": "ISO 3166-1 alpha-2 code." }
        },
        "required": ["id", "name", "email", "country"],
        "additionalProperties": false
    });
    vec![
        (
            "orders",
            read_only(
                "list",
                "List orders placed on or after a date, oldest first.",
                json!({
                    "type": "object",
                    "properties": {
                        "since": {
                            "type": "string", "format": "date",
                            "description": "First day to include, YYYY-MM-DD."
                        },
                        "status": {
                            "type": "string", "enum": ["pending", "paid", "shipped", "refunded"],
                            "description": "Only orders with this status."
                        }
                    },
                    "required": ["since"],
                    "additionalProperties": false
                }),
                json!({ "type": "array", "items": order }),
            ),
        ),
        (
            "orders",
            read_only(
                "get",
                "Get one order by id.",
                json!({
                    "type": "object",
                    "properties": { "id": { "type": "string" } },
                    "required": ["id"],
                    "additionalProperties": false
                }),
                order.clone(),
            ),
        ),
        (
            "customers",
            read_only(
                "batchGet",
                "Get customers by id; unknown ids are left out of the result.",
                json!({ "type": "array", "items": { "type": "string" } }),
                json!({
                    "type": "object",
                    "description": "Customers keyed by id.",
                    "additionalProperties": customer
                }),
            ),
        ),
        (
            "customers",
            read_only(
                "search",
                "Find customers whose name or email contains the text (case-insensitive).",
                json!({
                    "type": "object",
                    "properties": {
                        "text": { "type": "string" },
                        "limit": { "type": "integer", "minimum": 1, "default": 20 }
                    },
                    "required": ["text"],
                    "additionalProperties": false
                }),
                json!({ "type": "array", "items": customer }),
            ),
        ),
    ]
}

struct Data {
    /// Sorted by date, then id.
    orders: Vec<Value>,
    customers: HashMap<String, Value>,
    customer_order: Vec<String>,
}

fn data() -> &'static Data {
    static DATA: OnceLock<Data> = OnceLock::new();
    DATA.get_or_init(generate)
}

/// SplitMix64: a tiny, well-known generator, so the data is the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const FIRST: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "John",
    "Radia",
    "Ken",
    "Margaret",
    "Dennis",
    "Hedy",
    "Tim",
    "Katherine",
    "Linus",
    "Sophie",
    "Niklaus",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "McCarthy",
    "Perlman",
    "Thompson",
    "Hamilton",
    "Ritchie",
    "Lamarr",
    "Berners-Lee",
    "Johnson",
    "Torvalds",
    "Wilson",
    "Wirth",
];
const COUNTRIES: &[&str] = &["DE", "FR", "GB", "US", "NL", "SE", "ES", "IT", "JP", "BR"];
const STATUSES: &[&str] = &["pending", "paid", "shipped", "refunded"];

fn generate() -> Data {
    let mut rng = Rng(0x00C0_DE00_0DE5);
    let mut customers = HashMap::with_capacity(CUSTOMER_COUNT);
    let mut customer_order = Vec::with_capacity(CUSTOMER_COUNT);
    for i in 1..=CUSTOMER_COUNT {
        let id = format!("cus_{i:04}");
        let first = FIRST[rng.below(FIRST.len() as u64) as usize];
        let last = LAST[rng.below(LAST.len() as u64) as usize];
        let email = format!("{}.{}{}@example.com", first, last, i).to_lowercase();
        let country = COUNTRIES[rng.below(COUNTRIES.len() as u64) as usize];
        customers.insert(
            id.clone(),
            json!({ "id": id, "name": format!("{first} {last}"), "email": email, "country": country }),
        );
        customer_order.push(id);
    }
    // Dates span 2025-07-01 .. 2026-06-30 (365 days).
    let mut orders: Vec<(u32, Value)> = (1..=ORDER_COUNT)
        .map(|i| {
            let day = rng.below(365) as u32;
            let customer = rng.below(CUSTOMER_COUNT as u64) + 1;
            let cents = 500 + rng.below(30_000);
            let status = STATUSES[rng.below(STATUSES.len() as u64) as usize];
            let order = json!({
                "id": format!("ord_{i:05}"),
                "customerId": format!("cus_{customer:04}"),
                "total": cents as f64 / 100.0,
                "date": date_from_day(day),
                "status": status,
            });
            (day, order)
        })
        .collect();
    orders.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| a.1["id"].as_str().cmp(&b.1["id"].as_str()))
    });
    Data {
        orders: orders.into_iter().map(|(_, order)| order).collect(),
        customers,
        customer_order,
    }
}

/// Day 0 is 2025-07-01.
fn date_from_day(day: u32) -> String {
    const MONTHS: [(u32, u32, u32); 12] = [
        (2025, 7, 31),
        (2025, 8, 31),
        (2025, 9, 30),
        (2025, 10, 31),
        (2025, 11, 30),
        (2025, 12, 31),
        (2026, 1, 31),
        (2026, 2, 28),
        (2026, 3, 31),
        (2026, 4, 30),
        (2026, 5, 31),
        (2026, 6, 30),
    ];
    let mut rest = day;
    for (year, month, days) in MONTHS {
        if rest < days {
            return format!("{year}-{month:02}-{:02}", rest + 1);
        }
        rest -= days;
    }
    "2026-06-30".to_string()
}

/// The demo tools as a [`ToolHost`], for the sandbox directly.
#[derive(Debug, Default, Clone)]
pub struct DemoHost;

impl DemoHost {
    pub fn new() -> Self {
        DemoHost
    }

    /// Runs one demo call synchronously.
    pub fn call_sync(namespace: &str, name: &str, args: &Value) -> Result<Value, ToolError> {
        let data = data();
        match (namespace, name) {
            ("orders", "list") => {
                let since = string_arg(args, "since")?;
                let status = args.get("status").and_then(Value::as_str);
                let start = data
                    .orders
                    .partition_point(|o| o["date"].as_str().unwrap_or("") < since);
                Ok(Value::Array(
                    data.orders[start..]
                        .iter()
                        .filter(|o| status.is_none_or(|s| o["status"] == s))
                        .cloned()
                        .collect(),
                ))
            }
            ("orders", "get") => {
                let id = string_arg(args, "id")?;
                data.orders
                    .iter()
                    .find(|o| o["id"] == id)
                    .cloned()
                    .ok_or_else(|| ToolError::new(format!("no order with id {id:?}")))
            }
            ("customers", "batchGet") => {
                let ids = args.as_array().ok_or_else(|| {
                    ToolError::new("expected an array of customer ids, e.g. [\"cus_0001\"]")
                })?;
                let mut found = Map::new();
                for id in ids {
                    let id = id.as_str().ok_or_else(|| {
                        ToolError::new(format!("customer ids are strings, got {id}"))
                    })?;
                    if let Some(customer) = data.customers.get(id) {
                        found.insert(id.to_string(), customer.clone());
                    }
                }
                Ok(Value::Object(found))
            }
            ("customers", "search") => {
                let text = string_arg(args, "text")?.to_lowercase();
                let limit = args.get("limit").and_then(Value::as_u64).unwrap_or(20) as usize;
                Ok(Value::Array(
                    data.customer_order
                        .iter()
                        .filter_map(|id| data.customers.get(id))
                        .filter(|c| {
                            ["name", "email"].iter().any(|field| {
                                c[field]
                                    .as_str()
                                    .unwrap_or("")
                                    .to_lowercase()
                                    .contains(&text)
                            })
                        })
                        .take(limit)
                        .cloned()
                        .collect(),
                ))
            }
            _ => Err(ToolError::new(format!(
                "unknown demo tool {namespace}.{name}"
            ))),
        }
    }
}

/// A required string argument; a missing or wrongly typed one says what was expected.
fn string_arg<'a>(args: &'a Value, field: &str) -> Result<&'a str, ToolError> {
    let invalid = |message: String| ToolError::of(ToolErrorKind::InvalidArguments, message);
    match args.get(field) {
        Some(Value::String(text)) => Ok(text),
        None | Some(Value::Null) => Err(invalid(format!(
            "missing argument {field:?} (a string), e.g. {{ {field}: \"...\" }}"
        ))),
        Some(other) => Err(invalid(format!(
            "/{field}: expected a string, got {}",
            described(other)
        ))),
    }
}

/// A wrong value as an error names it: scalars in full, containers by their kind only.
fn described(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

impl ToolHost for DemoHost {
    fn names(&self) -> Arc<ToolNames> {
        static CATALOG: OnceLock<Arc<ToolNames>> = OnceLock::new();
        CATALOG
            .get_or_init(|| {
                let mut catalog = ToolNames::new();
                for (namespace, tool) in tools() {
                    catalog.add_tool(namespace, tool.name);
                }
                Arc::new(catalog)
            })
            .clone()
    }

    fn call(&self, call: ToolCall) -> ToolFuture {
        let outcome = Self::call_sync(&call.namespace, &call.name, &call.args_value());
        Box::pin(std::future::ready(outcome))
    }
}

/// The demo tools as a catalogue source: what `codemode serve` offers with no config.
#[derive(Debug, Default, Clone)]
pub struct DemoSource;

impl DemoSource {
    pub fn new() -> Self {
        DemoSource
    }
}

impl ToolSource for DemoSource {
    fn namespaces(&self) -> Vec<SourceNamespace> {
        namespaces()
    }

    fn call(&self, namespace: &str, tool: &str, args: Value) -> ToolFuture {
        // Listing 10,000 orders is real work: on the bounded pool when called from a task.
        let (namespace, tool) = (namespace.to_string(), tool.to_string());
        codemode_catalog::blocking::run(
            move || DemoHost::call_sync(&namespace, &tool, &args),
            Err(ToolError::new("the demo tool failed inside the gateway")),
        )
    }
}
