//! JSON Schema → [`TsType`]. Covers draft-04 to 2020-12 and OpenAPI 3.0's `nullable`.
//!
//! The guiding rule: the TypeScript type may be *wider* than the schema (constraints such as
//! `minLength`, `not` or `if/then/else` are dropped or become comments) but never narrower
//! or different. What cannot be expressed becomes `unknown` with a reason.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

use super::ast::{Doc, Object, Property, Tag, TsType, Tuple};
use super::doc::{cap_chars, first_paragraph, FIELD_DESCRIPTION_CAP, TAG_VALUE_CAP};
use super::fingerprint::closure_fingerprint;
use crate::naming::{identifier, pascal_case};

/// Deeper schemas than this are cut off (`unknown`), so hostile input cannot overflow the stack.
const MAX_DEPTH: usize = 64;

/// Type names every namespace keeps for itself: `Tools` holds the tool functions and
/// `Promise` and `JsonValue` must keep meaning the global ones inside the namespace.
const RESERVED_TYPE_NAMES: &[&str] = &["Tools", "Promise", "JsonValue"];

/// Keywords that constrain an object or array; when one is present, `type` is not merely
/// a hint to push into `anyOf`/`oneOf`/`allOf` branches.
const STRUCTURAL_KEYWORDS: &[&str] = &[
    "properties",
    "patternProperties",
    "additionalProperties",
    "required",
    "items",
    "prefixItems",
    "additionalItems",
    "enum",
    "const",
];
const OBJECT_KEYWORDS: &[&str] = &[
    "properties",
    "patternProperties",
    "additionalProperties",
    "required",
    "minProperties",
    "maxProperties",
    "propertyNames",
];
const ARRAY_KEYWORDS: &[&str] = &[
    "items",
    "prefixItems",
    "additionalItems",
    "minItems",
    "maxItems",
    "uniqueItems",
    "contains",
];
/// Validation keywords shown as JSDoc tags, in this order.
const CONSTRAINT_TAGS: &[(&str, &str)] = &[
    ("minimum", "minimum"),
    ("exclusiveMinimum", "exclusiveMinimum"),
    ("maximum", "maximum"),
    ("exclusiveMaximum", "exclusiveMaximum"),
    ("multipleOf", "multipleOf"),
    ("minLength", "minLength"),
    ("maxLength", "maxLength"),
    ("pattern", "pattern"),
    ("minItems", "minItems"),
    ("maxItems", "maxItems"),
    ("uniqueItems", "uniqueItems"),
    ("minProperties", "minProperties"),
    ("maxProperties", "maxProperties"),
];
/// At most this many `examples` become `@example` tags.
const MAX_EXAMPLES: usize = 2;

/// A type declared by name in a namespace.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NamedType {
    pub name: String,
    pub doc: Doc,
    pub ty: TsType,
    /// A tool's whole input or output schema (may be written inline instead of by name).
    pub is_root: bool,
}

/// The named types of one namespace and the schema locations they came from.
#[derive(Debug, Clone)]
pub(crate) struct NamedTypes {
    taken: BTreeSet<String>,
    /// In order of creation; `None` for a name reserved while its body is converted, or
    /// released because an equal type already existed.
    slots: Vec<Option<NamedType>>,
    /// `(document, JSON pointer)` → type name. A document is one tool's input or output
    /// schema: `$ref`s resolve inside the document they appear in.
    by_ref: HashMap<(usize, String), String>,
    /// `(JSON pointer, content fingerprint)` → type name: the same definition carried by
    /// another document (see [`closure_fingerprint`]) is the same type.
    by_content: HashMap<(String, u128), String>,
    /// Type name → its slot: a namespace of thousands of operations looks names up often.
    by_name: HashMap<String, usize>,
    /// Base name → the lowest number that may be free for it (`reserve`): every lower one
    /// is taken.
    next_number: HashMap<String, u64>,
    /// A name without its trailing digits → the slots, in order, of the non-root types so
    /// named (`finish` looks for an equal type only there).
    families: HashMap<String, Vec<usize>>,
}

impl Default for NamedTypes {
    fn default() -> Self {
        NamedTypes {
            taken: RESERVED_TYPE_NAMES
                .iter()
                .map(|n| (*n).to_owned())
                .collect(),
            slots: Vec::new(),
            by_ref: HashMap::new(),
            by_content: HashMap::new(),
            by_name: HashMap::new(),
            next_number: HashMap::new(),
            families: HashMap::new(),
        }
    }
}

impl NamedTypes {
    /// Declares a tool's whole schema (`document`) under a name derived from `base`,
    /// and returns the name.
    pub fn declare_root(&mut self, document: usize, root: &Value, base: &str) -> String {
        let (name, slot) = self.reserve(base);
        self.by_ref.insert((document, String::new()), name.clone());
        let mut converter = Converter {
            registry: self,
            root,
            document,
            unguarded: vec![name.clone()],
            depth: 0,
        };
        let ty = converter.convert_node(root, None, false);
        self.slots[slot] = Some(NamedType {
            name: name.clone(),
            doc: doc_of(root),
            ty,
            is_root: true,
        });
        name
    }

    /// The declared types, in order of creation.
    pub fn types(&self) -> impl Iterator<Item = &NamedType> {
        self.slots.iter().flatten()
    }

    pub fn types_mut(&mut self) -> impl Iterator<Item = &mut NamedType> {
        self.slots.iter_mut().flatten()
    }

    pub fn get(&self, name: &str) -> Option<&NamedType> {
        self.slots[*self.by_name.get(name)?].as_ref()
    }

    /// How many names were ever reserved: at least the number of types.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Declares `ty` under a new name derived from `base` (after every existing type).
    pub fn add(&mut self, base: &str, ty: TsType) -> String {
        let (name, slot) = self.reserve(base);
        self.store_non_root(
            slot,
            NamedType {
                name: name.clone(),
                doc: Doc::default(),
                ty,
                is_root: false,
            },
        );
        name
    }

    /// `base`, or `base2`, `base3`, … when taken.
    fn reserve(&mut self, base: &str) -> (String, usize) {
        let name = if self.taken.contains(base) {
            let start = self.next_number.get(base).copied().unwrap_or(2);
            let (number, name) = (start..)
                .map(|n| (n, format!("{base}{n}")))
                .find(|(_, candidate)| !self.taken.contains(candidate))
                .unwrap_or((start, base.to_owned()));
            self.next_number.insert(base.to_owned(), number + 1);
            name
        } else {
            base.to_owned()
        };
        self.taken.insert(name.clone());
        self.slots.push(None);
        self.by_name.insert(name.clone(), self.slots.len() - 1);
        (name, self.slots.len() - 1)
    }

    /// Gives a reserved name back: `reserve` may hand it out again, for any base it is a
    /// numbered form of (`Body22` is `Body2` + 2 and `Body` + 22).
    fn release(&mut self, name: &str) {
        self.taken.remove(name);
        let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        for split in name.len() - digits..name.len() {
            let (base, number) = name.split_at(split);
            if number.starts_with('0') {
                continue;
            }
            if let (Ok(number), Some(next)) =
                (number.parse::<u64>(), self.next_number.get_mut(base))
            {
                *next = (*next).min(number.max(2));
            }
        }
    }

    fn store_non_root(&mut self, slot: usize, named: NamedType) {
        let members = self
            .families
            .entry(family_of(&named.name).to_owned())
            .or_default();
        let at = members.partition_point(|&s| s < slot);
        members.insert(at, slot);
        self.slots[slot] = Some(named);
    }

    /// Stores a converted non-root type in its reserved slot, or, when an equal type
    /// from the same name family exists (the same `$defs` entry in two tools), releases
    /// the reservation and returns the existing name.
    fn finish(&mut self, slot: usize, base: &str, named: NamedType) -> String {
        let existing = self
            .families
            .get(family_of(base))
            .into_iter()
            .flatten()
            .filter_map(|&s| self.slots[s].as_ref())
            .find(|t| is_in_family(&t.name, base) && t.ty == named.ty && t.doc == named.doc);
        if let Some(existing) = existing {
            let existing = existing.name.clone();
            self.release(&named.name);
            return existing;
        }
        let name = named.name.clone();
        self.store_non_root(slot, named);
        name
    }
}

/// A name without its trailing digits: `Body7` and `Body` are one family.
fn family_of(name: &str) -> &str {
    name.trim_end_matches(|c: char| c.is_ascii_digit())
}

/// Whether `name` is `base` or `base` followed by a number (as made by `reserve`).
fn is_in_family(name: &str, base: &str) -> bool {
    name.strip_prefix(base)
        .is_some_and(|rest| rest.is_empty() || rest.bytes().all(|b| b.is_ascii_digit()))
}

/// Converts the nodes of one document.
struct Converter<'a> {
    registry: &'a mut NamedTypes,
    root: &'a Value,
    document: usize,
    /// Named types whose body is being converted and not yet behind an object property or
    /// array element: a `$ref` to one of them here would make a type alias refer to itself
    /// (`type A = A | B`), which TypeScript rejects.
    unguarded: Vec<String>,
    depth: usize,
}

impl Converter<'_> {
    /// Converts a schema node. `inherited_type` is a parent's `type` pushed into an
    /// `anyOf`/`oneOf`/`allOf` branch; `may_name_by_title` is false for bodies that are
    /// already named (roots and `$ref` targets).
    fn convert_node(
        &mut self,
        schema: &Value,
        inherited_type: Option<&Value>,
        may_name_by_title: bool,
    ) -> TsType {
        if self.depth >= MAX_DEPTH {
            return TsType::Unknown(Some("schema nested too deeply".into()));
        }
        self.depth += 1;
        let ty = self.convert_schema(schema, inherited_type, may_name_by_title);
        self.depth -= 1;
        ty
    }

    fn convert(&mut self, schema: &Value) -> TsType {
        self.convert_node(schema, None, true)
    }

    /// Converts children of an object or array: references below them may be recursive.
    fn guarded<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        let saved = std::mem::take(&mut self.unguarded);
        let result = f(self);
        self.unguarded = saved;
        result
    }

    fn convert_schema(
        &mut self,
        schema: &Value,
        inherited_type: Option<&Value>,
        may_name_by_title: bool,
    ) -> TsType {
        let map = match schema {
            Value::Bool(true) => return TsType::Unknown(None),
            Value::Bool(false) => {
                return TsType::Unknown(Some("schema `false` admits no value".into()))
            }
            Value::Object(map) => map,
            _ => return TsType::Unknown(Some("not a JSON Schema".into())),
        };
        let has_ref = map.contains_key("$ref");
        let declared_type = map
            .get("type")
            .or(if has_ref { None } else { inherited_type });
        let combinators = ["allOf", "anyOf", "oneOf"]
            .iter()
            .any(|k| map.get(*k).is_some_and(Value::is_array));
        // `{"type": "string", "anyOf": [{"minLength": 1}, {"format": "uri"}]}`: the type only
        // says what every branch is, so it is given to the branches instead of intersected.
        let push_type_down = declared_type.is_some()
            && combinators
            && !STRUCTURAL_KEYWORDS.iter().any(|k| map.contains_key(*k));

        let mut parts = Vec::new();
        if let Some(reference) = map.get("$ref") {
            parts.push(self.reference(reference));
        }
        for keyword in ["$dynamicRef", "$recursiveRef"] {
            if map.contains_key(keyword) {
                parts.push(TsType::Unknown(Some(format!(
                    "`{keyword}` is not supported"
                ))));
            }
        }
        if !push_type_down {
            if let Some(own) = self.own_type(map, declared_type) {
                parts.push(own);
            }
        }
        let branch_type = if push_type_down { declared_type } else { None };
        if let Some(Value::Array(branches)) = map.get("allOf") {
            for branch in branches {
                parts.push(self.convert_node(branch, branch_type, true));
            }
        }
        for keyword in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = map.get(keyword) {
                let members = branches
                    .iter()
                    .map(|b| self.convert_node(b, branch_type, true))
                    .collect();
                parts.push(TsType::union(members));
            }
        }
        let mut ty = TsType::intersection(parts);
        if ty == TsType::Unknown(None) {
            // Only narrowing keywords (or nothing) were given: say which, if any.
            let unexpressed: Vec<&str> = ["not", "if", "dependentSchemas", "contains"]
                .into_iter()
                .filter(|k| map.contains_key(*k))
                .collect();
            if !unexpressed.is_empty() {
                ty = TsType::Unknown(Some(format!(
                    "not expressible in TypeScript: {}",
                    unexpressed.join(", ")
                )));
            }
        }
        if map.get("nullable") == Some(&Value::Bool(true)) {
            ty = TsType::union(vec![ty, TsType::Null]);
        }
        if may_name_by_title && !has_ref {
            ty = self.name_by_title(map, ty);
        }
        ty
    }

    /// The type given by `const`, `enum`, `type`, or keywords that imply a type.
    fn own_type(&mut self, map: &Map<String, Value>, declared: Option<&Value>) -> Option<TsType> {
        let kinds = match declared {
            None => None,
            Some(Value::String(kind)) => Some(vec![kind.as_str()]),
            Some(Value::Array(kinds)) if !kinds.is_empty() => {
                Some(kinds.iter().filter_map(Value::as_str).collect())
            }
            Some(_) => return Some(TsType::Unknown(Some("invalid `type`".into()))),
        };
        let nullable = map.get("nullable") == Some(&Value::Bool(true));
        let admits = |value: &Value| match &kinds {
            None => true,
            Some(kinds) => {
                (nullable && value.is_null()) || kinds.iter().any(|k| is_of_kind(value, k))
            }
        };
        if let Some(value) = map.get("const") {
            return Some(if admits(value) {
                literal(value)
            } else {
                TsType::Never
            });
        }
        if let Some(Value::Array(values)) = map.get("enum") {
            if values.is_empty() {
                return Some(TsType::Unknown(Some("empty `enum`".into())));
            }
            let members = values.iter().filter(|v| admits(v)).map(literal).collect();
            return Some(TsType::union(members));
        }
        match kinds {
            Some(kinds) => {
                let members = kinds
                    .iter()
                    .map(|kind| self.type_member(kind, map))
                    .collect();
                Some(TsType::union(members))
            }
            // No `type`: keywords that only apply to objects or arrays reveal the intent.
            None if OBJECT_KEYWORDS.iter().any(|k| map.contains_key(*k)) => Some(self.object(map)),
            None if ARRAY_KEYWORDS.iter().any(|k| map.contains_key(*k)) => Some(self.array(map)),
            None => None,
        }
    }

    fn type_member(&mut self, kind: &str, map: &Map<String, Value>) -> TsType {
        match kind {
            "string" => TsType::String,
            "number" | "integer" => TsType::Number,
            "boolean" => TsType::Boolean,
            "null" => TsType::Null,
            "array" => self.array(map),
            "object" => self.object(map),
            other => TsType::Unknown(Some(format!("unsupported type {other:?}"))),
        }
    }

    fn object(&mut self, map: &Map<String, Value>) -> TsType {
        self.guarded(|this| this.object_inner(map))
    }

    fn object_inner(&mut self, map: &Map<String, Value>) -> TsType {
        let required: Vec<&str> = match map.get("required") {
            Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let declared = map.get("properties").and_then(Value::as_object);
        let mut properties: Vec<Property> = declared
            .into_iter()
            .flatten()
            .map(|(name, schema)| Property {
                name: name.clone(),
                optional: !required.contains(&name.as_str()),
                ty: self.convert(schema),
                doc: doc_of(schema),
            })
            .collect();

        let additional = map.get("additionalProperties");
        let patterns: Vec<(&String, TsType)> = map
            .get("patternProperties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(pattern, schema)| (pattern, self.convert(schema)))
            .collect();
        let closed = additional == Some(&Value::Bool(false));
        let additional_type = match additional {
            None | Some(Value::Bool(_)) => None,
            Some(schema) => Some(self.convert(schema)),
        };

        let mut index = if !patterns.is_empty() {
            let mut members: Vec<TsType> = patterns.iter().map(|(_, t)| t.clone()).collect();
            if closed || additional_type.is_some() {
                members.extend(additional_type);
                Some(TsType::union(members))
            } else {
                // Keys matching no pattern are unconstrained, so only `unknown` is honest.
                let described: Vec<String> = patterns
                    .iter()
                    .map(|(p, t)| format!("keys matching /{p}/: {}", super::render::plain(t)))
                    .collect();
                Some(TsType::Unknown(Some(described.join("; "))))
            }
        } else if let Some(additional_type) = additional_type {
            Some(additional_type)
        } else if !closed && declared.is_none() && required.is_empty() {
            // `{"type": "object"}` alone is a free-form map. With `properties` present
            // (even `{}`) and no `additionalProperties`, extra keys are legal but no index
            // signature is added: it would hide misspelt property names from `tsc`.
            Some(TsType::Unknown(None))
        } else {
            None
        };

        // A required key without a declaration must still be present.
        for name in required {
            if properties.iter().any(|p| p.name == name) || (closed && patterns.is_empty()) {
                continue;
            }
            properties.push(Property {
                name: name.to_owned(),
                optional: false,
                ty: index.clone().unwrap_or(TsType::Unknown(None)),
                doc: Doc::default(),
            });
        }

        // tsc (strict) requires each property to be assignable to the index signature.
        if let Some(index_type) = &mut index {
            let compatible = properties.iter().all(|p| {
                p.ty.fits_in(index_type) && (!p.optional || TsType::Undefined.fits_in(index_type))
            });
            if !compatible {
                let mut members = vec![index_type.clone()];
                members.extend(properties.iter().map(|p| p.ty.clone()));
                if properties.iter().any(|p| p.optional) {
                    members.push(TsType::Undefined);
                }
                *index_type = TsType::union(members);
            }
        }
        TsType::Object(Object {
            properties,
            index: index.map(Box::new),
        })
    }

    fn array(&mut self, map: &Map<String, Value>) -> TsType {
        self.guarded(|this| this.array_inner(map))
    }

    fn array_inner(&mut self, map: &Map<String, Value>) -> TsType {
        // 2020-12 `prefixItems` + `items`, or draft-04..07 array-form `items` + `additionalItems`.
        let (prefix, rest) = match (map.get("prefixItems"), map.get("items")) {
            (Some(Value::Array(prefix)), rest) => (prefix, rest),
            (_, Some(Value::Array(prefix))) => (prefix, map.get("additionalItems")),
            (_, Some(Value::Bool(false))) => {
                return TsType::Tuple(Tuple {
                    elements: Vec::new(),
                    required: 0,
                    rest: None,
                })
            }
            (_, Some(items)) => return TsType::Array(Box::new(self.convert(items))),
            (_, None) => return TsType::Array(Box::new(TsType::Unknown(None))),
        };
        let elements: Vec<TsType> = prefix.iter().map(|s| self.convert(s)).collect();
        let min_items = map
            .get("minItems")
            .and_then(Value::as_u64)
            .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
        let rest = match rest {
            Some(Value::Bool(false)) => None,
            None | Some(Value::Bool(true)) => Some(TsType::Unknown(None)),
            Some(schema) => Some(self.convert(schema)),
        };
        TsType::Tuple(Tuple {
            required: min_items.min(elements.len()),
            elements,
            rest: rest.map(Box::new),
        })
    }

    fn reference(&mut self, reference: &Value) -> TsType {
        let Some(reference) = reference.as_str() else {
            return TsType::Unknown(Some("`$ref` is not a string".into()));
        };
        let Some(pointer) = self.local_pointer(reference) else {
            return TsType::Unknown(Some(format!(
                "$ref {reference} not resolved: only local JSON pointers are"
            )));
        };
        let key = (self.document, pointer.clone());
        if let Some(name) = self.registry.by_ref.get(&key) {
            if self.unguarded.contains(name) {
                return TsType::Unknown(Some(format!("$ref {reference} is circular")));
            }
            return TsType::Named(name.clone());
        }
        let Some(target) = resolve_pointer(self.root, &pointer) else {
            return TsType::Unknown(Some(format!("broken $ref {reference}")));
        };
        let content = closure_fingerprint(&pointer, target, |reference| {
            let pointer = self.local_pointer(reference)?;
            let schema = resolve_pointer(self.root, &pointer)?;
            Some((pointer, schema))
        })
        .map(|fingerprint| (pointer.clone(), fingerprint));
        if let Some(name) = content
            .as_ref()
            .and_then(|content| self.registry.by_content.get(content))
        {
            let name = name.clone();
            self.registry.by_ref.insert(key, name.clone());
            return TsType::Named(name);
        }
        let last_segment = pointer.rsplit('/').next().unwrap_or_default();
        let base = pascal_case(&identifier(&unescape_segment(last_segment)));
        let (name, slot) = self.registry.reserve(&base);
        self.registry.by_ref.insert(key.clone(), name.clone());
        self.unguarded.push(name.clone());
        let ty = self.convert_node(target, None, false);
        self.unguarded.pop();
        let named = NamedType {
            name: name.clone(),
            doc: doc_of(target),
            ty,
            is_root: false,
        };
        let final_name = self.registry.finish(slot, &base, named);
        self.registry.by_ref.insert(key, final_name.clone());
        if let Some(content) = content {
            self.registry.by_content.insert(content, final_name.clone());
        }
        TsType::Named(final_name)
    }

    /// The JSON pointer of a local reference (`#/$defs/A` → `/$defs/A`, `#` → ``),
    /// accepting the document's own `$id` as prefix.
    fn local_pointer(&self, reference: &str) -> Option<String> {
        let own_id = self.root.get("$id").and_then(Value::as_str);
        let fragment = match own_id.and_then(|id| reference.strip_prefix(id)) {
            Some(rest) if rest.starts_with('#') => rest,
            _ => reference,
        };
        let pointer = fragment.strip_prefix('#')?;
        if !(pointer.is_empty() || pointer.starts_with('/')) {
            return None; // `#anchor` names are not supported
        }
        Some(percent_decode(pointer))
    }

    /// A non-root object schema with a `title` and properties is declared under that title.
    fn name_by_title(&mut self, map: &Map<String, Value>, ty: TsType) -> TsType {
        let title = match map.get("title") {
            Some(Value::String(title)) if !title.trim().is_empty() => title,
            _ => return ty,
        };
        let has_properties = matches!(&ty, TsType::Object(o) if !o.properties.is_empty());
        if !has_properties {
            return ty;
        }
        let base = pascal_case(&identifier(title.trim()));
        let (name, slot) = self.registry.reserve(&base);
        let named = NamedType {
            name,
            doc: Doc::default(), // the referring property carries the description
            ty,
            is_root: false,
        };
        TsType::Named(self.registry.finish(slot, &base, named))
    }
}

/// The JSDoc a schema node contributes: description, deprecation, format, default,
/// examples and validation constraints.
pub(crate) fn doc_of(schema: &Value) -> Doc {
    let Some(map) = schema.as_object() else {
        return Doc::default();
    };
    let mut doc = Doc {
        description: map
            .get("description")
            .and_then(Value::as_str)
            .and_then(|d| first_paragraph(d, FIELD_DESCRIPTION_CAP)),
        tags: Vec::new(),
    };
    let mut tag = |name: &'static str, value: String| doc.tags.push(Tag { name, value });
    if map.get("deprecated") == Some(&Value::Bool(true)) {
        tag("deprecated", String::new());
    }
    if let Some(format) = map.get("format").and_then(Value::as_str) {
        tag("format", one_line(format));
    }
    if let Some(default) = map.get("default") {
        tag("default", json_value(default));
    }
    let examples = match (map.get("examples"), map.get("example")) {
        (Some(Value::Array(examples)), _) => examples.iter().take(MAX_EXAMPLES).collect(),
        (_, Some(example)) => vec![example],
        _ => Vec::new(),
    };
    for example in examples {
        tag("example", json_value(example));
    }
    for (keyword, name) in CONSTRAINT_TAGS {
        match map.get(*keyword) {
            // Draft-04 boolean `exclusiveMinimum` modifies `minimum`; not a bound itself.
            Some(Value::Bool(_)) if keyword.starts_with("exclusive") => {}
            Some(Value::String(text)) => tag(name, cap_chars(&one_line(text), TAG_VALUE_CAP)),
            Some(value) => tag(name, json_value(value)),
            None => {}
        }
    }
    doc
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn json_value(value: &Value) -> String {
    cap_chars(&value.to_string(), TAG_VALUE_CAP)
}

/// The literal type of a JSON value (objects and arrays become exact object/tuple types).
fn literal(value: &Value) -> TsType {
    match value {
        Value::Null => TsType::Null,
        Value::Bool(b) => TsType::Literal(b.to_string()),
        Value::Number(n) => TsType::Literal(n.to_string()),
        Value::String(_) => TsType::Literal(value.to_string()),
        Value::Array(items) => TsType::Tuple(Tuple {
            elements: items.iter().map(literal).collect(),
            required: items.len(),
            rest: None,
        }),
        Value::Object(map) => TsType::Object(Object {
            properties: map
                .iter()
                .map(|(name, v)| Property {
                    name: name.clone(),
                    optional: false,
                    ty: literal(v),
                    doc: Doc::default(),
                })
                .collect(),
            index: None,
        }),
    }
}

fn is_of_kind(value: &Value, kind: &str) -> bool {
    match (kind, value) {
        ("null", Value::Null)
        | ("boolean", Value::Bool(_))
        | ("string", Value::String(_))
        | ("number", Value::Number(_))
        | ("array", Value::Array(_))
        | ("object", Value::Object(_)) => true,
        ("integer", Value::Number(n)) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => false,
    }
}

fn resolve_pointer<'v>(root: &'v Value, pointer: &str) -> Option<&'v Value> {
    if pointer.is_empty() {
        return Some(root);
    }
    let mut node = root;
    for segment in pointer.strip_prefix('/')?.split('/') {
        let segment = unescape_segment(segment);
        node = match node {
            Value::Object(map) => map.get(&segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

fn unescape_segment(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// Decodes `%XX` escapes of a URI fragment; malformed escapes are kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_owned())
}
