//! The spec's schemas as plain JSON Schema for the catalogue.
//!
//! A tool's schema is one self-contained document: what the operation writes inline, and
//! every component it reaches under `$defs`, each once, with its `$ref`s rewritten to
//! `#/$defs/<name>`. A recursive schema therefore stays a reference to itself (the
//! catalogue declares it as a named type) instead of an expansion without end. Each
//! component is converted once per spec ([`Schemas`] caches it, shared by every tool that
//! reaches it), so the work grows with the size of what tools show, not with how often
//! components are referenced.
//!
//! Bounded, never inlined without limit: a document holds at most [`MAX_DOCUMENT_BYTES`] of
//! `$defs`, reached through at most [`MAX_REF_DEPTH`] references in a row; inline nesting
//! deeper than [`MAX_INLINE_DEPTH`] levels, or an inline schema over the byte budget, and any
//! component past those limits become a summary: `{"type": …, "description": "… (summarised
//! …)"}`. Descriptions, enums, formats, defaults and constraints stay; examples, XML hints,
//! discriminators and `x-` extensions are left out (they only cost size here).
//!
//! Swagger 2.0 and OpenAPI 3.0 schemas are first brought to the JSON Schema that 3.1 uses
//! ([`upgrade_3_0`]): `nullable: true` becomes a `"null"` type, boolean `exclusiveMinimum` /
//! `exclusiveMaximum` become the numbers they qualify.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::external::DATA_KEYS;

/// The most bytes of `$defs` one tool's schema document carries.
pub(crate) const MAX_DOCUMENT_BYTES: usize = 8 * 1024;
/// How many references in a row a document follows before it summarises.
pub(crate) const MAX_REF_DEPTH: usize = 8;
/// How deep inline schemas nest before they are summarised.
pub(crate) const MAX_INLINE_DEPTH: usize = 24;

/// Keys whose values are maps from names to schemas: the names are data, not keywords.
const SCHEMA_MAPS: &[&str] = &[
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];
/// Keys left out of what the agent sees.
const DROPPED: &[&str] = &[
    "example",
    "examples",
    "xml",
    "externalDocs",
    "discriminator",
];

/// Brings Swagger 2.0 / OpenAPI 3.0 schema keywords to JSON Schema, in place, everywhere in
/// the document (data such as examples and defaults is left alone).
pub(crate) fn upgrade_3_0(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if !DATA_KEYS.contains(&key.as_str()) {
                    upgrade_3_0(child);
                }
            }
            upgrade_keywords(map);
        }
        Value::Array(items) => items.iter_mut().for_each(upgrade_3_0),
        _ => {}
    }
}

fn upgrade_keywords(map: &mut Map<String, Value>) {
    for key in ["description", "title"] {
        if let Some(Value::String(text)) = map.get_mut(key) {
            *text = crate::text::plain(text);
        }
    }
    for (exclusive, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if let Some(Value::Bool(on)) = map.get(exclusive) {
            let on = *on;
            map.remove(exclusive);
            if on {
                if let Some(limit) = map.remove(bound) {
                    map.insert(exclusive.to_owned(), limit);
                }
            }
        }
    }
    // Swagger 2.0's extension for the same thing.
    if let Some(Value::Bool(on)) = map.get("x-nullable") {
        let on = *on;
        map.remove("x-nullable");
        map.insert("nullable".to_owned(), Value::Bool(on));
    }
    let Some(Value::Bool(nullable)) = map.get("nullable") else {
        return;
    };
    let nullable = *nullable;
    map.remove("nullable");
    if !nullable {
        return;
    }
    match map.get_mut("type") {
        Some(Value::String(one)) => {
            let one = std::mem::take(one);
            map.insert("type".into(), json!([one, "null"]));
        }
        Some(Value::Array(types)) => {
            if !types.iter().any(|t| t == "null") {
                types.push(Value::String("null".into()));
            }
        }
        _ => {
            // No type of its own (`allOf: [{$ref}]`): null or the rest.
            let mut rest = std::mem::take(map);
            for key in [
                "description",
                "title",
                "default",
                "deprecated",
                "readOnly",
                "writeOnly",
            ] {
                if let Some(v) = rest.remove(key) {
                    map.insert(key.into(), v);
                }
            }
            map.insert(
                "anyOf".into(),
                json!([Value::Object(rest), {"type": "null"}]),
            );
            return;
        }
    }
    if let Some(Value::Array(values)) = map.get_mut("enum") {
        if !values.iter().any(Value::is_null) {
            values.push(Value::Null);
        }
    }
}

/// One component schema, converted once.
struct Def {
    name: String,
    body: Value,
    /// Pointers of the components `body` references.
    deps: Vec<String>,
    bytes: usize,
}

/// A schema copied for a document, and the components it references.
pub(crate) struct Local {
    pub value: Value,
    pub deps: Vec<String>,
}

/// The spec's schemas, converted on demand and cached (see the module header).
pub(crate) struct Schemas<'a> {
    root: &'a Value,
    /// By JSON pointer into `root`; `None` for a reference to nothing.
    defs: HashMap<String, Option<Arc<Def>>>,
    names: HashMap<String, String>,
    taken: HashSet<String>,
}

impl<'a> Schemas<'a> {
    pub fn new(root: &'a Value) -> Self {
        Schemas {
            root,
            defs: HashMap::new(),
            names: HashMap::new(),
            taken: HashSet::new(),
        }
    }

    /// `schema` for a document, within the byte budget: its inline part is cut shallower
    /// until it fits.
    pub fn local(&mut self, schema: &Value) -> Local {
        let mut depth = MAX_INLINE_DEPTH;
        while depth > 0 {
            let mut deps = Vec::new();
            let value = self.copy(schema, depth, &mut deps);
            if byte_len(&value) <= MAX_DOCUMENT_BYTES {
                return Local { value, deps };
            }
            depth /= 2;
        }
        Local {
            value: summary("", schema),
            deps: Vec::new(),
        }
    }

    /// Makes `root` (built from [`Self::local`] parts, whose `deps` are given) a whole
    /// document: the components it reaches as `$defs`, within the budgets.
    pub fn document(&mut self, mut root: Value, deps: Vec<String>) -> Value {
        let mut total = byte_len(&root);
        let mut queue: VecDeque<(String, usize)> = deps.into_iter().map(|p| (p, 1)).collect();
        let mut seen = HashSet::new();
        let mut defs = Map::new();
        let mut left_out: HashMap<String, Value> = HashMap::new();
        while let Some((pointer, depth)) = queue.pop_front() {
            if !seen.insert(pointer.clone()) {
                continue;
            }
            let name = self.name(&pointer);
            match self.def(&pointer) {
                None => {
                    left_out.insert(
                        name,
                        json!({"description": format!("(unresolved reference #{pointer})")}),
                    );
                }
                Some(def) => {
                    if depth > MAX_REF_DEPTH || total + def.bytes > MAX_DOCUMENT_BYTES {
                        left_out.insert(name, summary(&def.name, &def.body));
                    } else {
                        total += def.bytes;
                        defs.insert(def.name.clone(), def.body.clone());
                        queue.extend(def.deps.iter().map(|d| (d.clone(), depth + 1)));
                    }
                }
            }
        }
        if !left_out.is_empty() {
            replace_refs(&mut root, &left_out);
            for body in defs.values_mut() {
                replace_refs(body, &left_out);
            }
        }
        if !defs.is_empty() {
            if let Value::Object(map) = &mut root {
                map.insert("$defs".into(), Value::Object(defs));
            }
        }
        root
    }

    fn def(&mut self, pointer: &str) -> Option<Arc<Def>> {
        if let Some(def) = self.defs.get(pointer) {
            return def.clone();
        }
        let def = self.root.pointer(pointer).map(|raw| {
            let mut deps = Vec::new();
            let body = self.copy(raw, MAX_INLINE_DEPTH, &mut deps);
            let bytes = byte_len(&body);
            Arc::new(Def {
                name: self.name(pointer),
                body,
                deps,
                bytes,
            })
        });
        self.defs.insert(pointer.to_owned(), def.clone());
        def
    }

    /// The `$defs` name of the component at `pointer`: its last segment, numbered when
    /// another component already has it.
    fn name(&mut self, pointer: &str) -> String {
        if let Some(name) = self.names.get(pointer) {
            return name.clone();
        }
        let last = pointer.rsplit('/').next().unwrap_or_default();
        let last = last.replace("~1", "/").replace("~0", "~");
        let mut base: String = last
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if base.is_empty() || base.bytes().all(|b| b.is_ascii_digit()) {
            base = format!("schema{base}");
        }
        let mut name = base.clone();
        let mut n = 2;
        while !self.taken.insert(name.clone()) {
            name = format!("{base}{n}");
            n += 1;
        }
        self.names.insert(pointer.to_owned(), name.clone());
        name
    }

    /// A copy of `schema` for a document: references rewritten to `$defs` (their pointers
    /// pushed onto `deps`), left-out keys dropped, nesting past `depth` summarised.
    fn copy(&mut self, schema: &Value, depth: usize, deps: &mut Vec<String>) -> Value {
        let Value::Object(map) = schema else {
            // `true`/`false` schemas, or junk a spec put where a schema goes.
            return schema.clone();
        };
        if depth == 0 {
            return summary("", schema);
        }
        let mut out = Map::new();
        for (key, child) in map {
            let key_str = key.as_str();
            if DROPPED.contains(&key_str) || key_str.starts_with("x-") {
                continue;
            }
            let copied = if key_str == "$ref" {
                match child.as_str().and_then(local_pointer) {
                    Some(pointer) => {
                        let name = self.name(&pointer);
                        deps.push(pointer);
                        Value::String(format!("#/$defs/{name}"))
                    }
                    None => {
                        let note = format!(
                            "(unresolved reference {})",
                            child.as_str().unwrap_or("that is not a string")
                        );
                        out.entry("description").or_insert(Value::String(note));
                        continue;
                    }
                }
            } else if DATA_KEYS.contains(&key_str) {
                child.clone()
            } else if SCHEMA_MAPS.contains(&key_str) {
                match child {
                    Value::Object(entries) => Value::Object(
                        entries
                            .iter()
                            .map(|(name, sub)| (name.clone(), self.copy(sub, depth - 1, deps)))
                            .collect(),
                    ),
                    other => other.clone(),
                }
            } else {
                match child {
                    Value::Object(_) => self.copy(child, depth - 1, deps),
                    Value::Array(items) => Value::Array(
                        items
                            .iter()
                            .map(|item| self.copy(item, depth - 1, deps))
                            .collect(),
                    ),
                    other => other.clone(),
                }
            };
            out.insert(key.clone(), copied);
        }
        Value::Object(out)
    }
}

/// `#/a/b` → `/a/b` (percent-decoded); `None` for anything that is not a local pointer
/// into the document (after bundling, nothing else should remain).
fn local_pointer(reference: &str) -> Option<String> {
    let fragment = reference.strip_prefix('#')?;
    if !fragment.starts_with('/') {
        return None;
    }
    percent_encoding::percent_decode_str(fragment)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// What stands in for a schema that is not shown whole.
fn summary(name: &str, schema: &Value) -> Value {
    let mut out = Map::new();
    match schema.get("type") {
        Some(Value::String(t)) => {
            out.insert("type".into(), Value::String(t.clone()));
        }
        Some(Value::Array(types)) if types.iter().all(Value::is_string) => {
            out.insert("type".into(), Value::Array(types.clone()));
        }
        _ => {}
    }
    let what = schema
        .get("title")
        .or_else(|| schema.get("description"))
        .and_then(Value::as_str)
        .map(first_sentence)
        .unwrap_or_default();
    let label = match (name.is_empty(), what.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!("{name} "),
        (true, false) => format!("{what} "),
        (false, false) => format!("{name}: {what} "),
    };
    out.insert(
        "description".into(),
        Value::String(format!(
            "{label}(summarised: the full schema is too large to show)"
        )),
    );
    Value::Object(out)
}

fn first_sentence(text: &str) -> String {
    let text = text.trim();
    let end = text
        .char_indices()
        .find(|(i, c)| {
            *c == '\n' || (*c == '.' && text[i + 1..].starts_with(|n: char| n.is_whitespace()))
        })
        .map(|(i, _)| i)
        .unwrap_or(text.len());
    let sentence = &text[..end];
    if sentence.chars().count() > 160 {
        let cut: String = sentence.chars().take(160).collect();
        format!("{cut}…")
    } else {
        sentence.to_owned()
    }
}

/// Replaces `{"$ref": "#/$defs/<name>", …}` for every left-out `name` by its stand-in (the
/// reference's own siblings, such as a description, win).
fn replace_refs(value: &mut Value, left_out: &HashMap<String, Value>) {
    match value {
        Value::Object(map) => {
            let target = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/$defs/"))
                .and_then(|name| left_out.get(name));
            if let Some(Value::Object(stand_in)) = target {
                map.remove("$ref");
                for (key, v) in stand_in {
                    map.entry(key.clone()).or_insert_with(|| v.clone());
                }
            }
            for (key, child) in map.iter_mut() {
                if !DATA_KEYS.contains(&key.as_str()) {
                    replace_refs(child, left_out);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| replace_refs(v, left_out)),
        _ => {}
    }
}

/// The size of `value` as compact JSON, counted without writing it out.
pub(crate) fn byte_len(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing into a counter cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_and_exclusive_bounds_become_json_schema() {
        let mut doc = json!({
            "a": {"type": "string", "nullable": true, "enum": ["x"]},
            "b": {"allOf": [{"$ref": "#/c"}], "nullable": true, "description": "B"},
            "c": {"type": "integer", "minimum": 1, "exclusiveMinimum": true,
                  "maximum": 9, "exclusiveMaximum": false},
            "example": {"nullable": true}
        });
        upgrade_3_0(&mut doc);
        assert_eq!(
            doc["a"],
            json!({"type": ["string", "null"], "enum": ["x", null]})
        );
        assert_eq!(
            doc["b"],
            json!({"description": "B", "anyOf": [{"allOf": [{"$ref": "#/c"}]}, {"type": "null"}]})
        );
        assert_eq!(
            doc["c"],
            json!({"type": "integer", "exclusiveMinimum": 1, "maximum": 9})
        );
        assert_eq!(
            doc["example"],
            json!({"nullable": true}),
            "examples are data"
        );
    }

    #[test]
    fn components_become_defs_and_recursion_stays_a_reference() {
        let root = json!({"components": {"schemas": {
            "Node": {"type": "object", "x-internal": 1, "example": {"a": 1}, "properties": {
                "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                "example": {"$ref": "#/components/schemas/Leaf"}
            }},
            "Leaf": {"type": "string", "description": "A leaf."}
        }}});
        let mut schemas = Schemas::new(&root);
        let local = schemas.local(&json!({"$ref": "#/components/schemas/Node"}));
        let doc = schemas.document(local.value, local.deps);
        assert_eq!(
            doc,
            json!({"$ref": "#/$defs/Node", "$defs": {
                "Node": {"type": "object", "properties": {
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                    "example": {"$ref": "#/$defs/Leaf"}
                }},
                "Leaf": {"type": "string", "description": "A leaf."}
            }})
        );
    }

    #[test]
    fn past_the_budgets_components_are_summarised() {
        let mut components = Map::new();
        // A chain deeper than MAX_REF_DEPTH.
        for i in 0..20 {
            components.insert(
                format!("C{i}"),
                json!({"type": "object", "description": format!("Level {i}. More."),
                       "properties": {"next": {"$ref": format!("#/components/schemas/C{}", i + 1)}}}),
            );
        }
        let root = json!({"components": {"schemas": components}});
        let mut schemas = Schemas::new(&root);
        let local = schemas.local(&json!({"$ref": "#/components/schemas/C0"}));
        let doc = schemas.document(local.value, local.deps);
        let defs = doc["$defs"].as_object().expect("defs");
        assert_eq!(defs.len(), MAX_REF_DEPTH);
        let last = &defs[&format!("C{}", MAX_REF_DEPTH - 1)]["properties"]["next"];
        assert_eq!(
            last,
            &json!({"type": "object", "description": format!("C{MAX_REF_DEPTH}: Level {MAX_REF_DEPTH} (summarised: the full schema is too large to show)")})
        );

        // One huge inline schema.
        let wide: Map<String, Value> = (0..5000)
            .map(|i| (format!("p{i}"), json!({"type": "object", "properties": {"x": {"type": "string", "description": "some words to take room"}}})))
            .collect();
        let huge = json!({"type": "object", "properties": wide});
        let local = schemas.local(&huge);
        assert!(byte_len(&local.value) <= MAX_DOCUMENT_BYTES);
    }
}
