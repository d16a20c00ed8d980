//! Operations → tools: one [`ToolSpec`] per kept operation plus the [`Operation`] plan the
//! call follows, and the namespace's `$request` escape hatch.
//!
//! A tool's one argument is an object (see [`OpenApiSource`](crate::OpenApiSource) for the
//! whole layout): each parameter under its own name, the request body under `body`. A name
//! taken twice (`id` in the path and in the query) or a parameter called `body` gets its
//! location in front (`query_id`, `query_body`), numbered if that is taken too. Headers the
//! spec may not define (`Accept`, `Content-Type`, `Authorization`) are left out, as OpenAPI
//! says.
//!
//! The model (`oas3`) supplies the structure; every schema is taken from the JSON tree at
//! the same place (the model would drop keywords it does not know), so each typed part is
//! paired with its JSON pointer.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use codemode_catalog::ToolSpec;
use http::Method;
use oas3::spec::{ObjectOrReference, Parameter};
use serde_json::{json, Map, Value};
use url::Url;

use crate::auth::{self, Placement, SchemeKind, Schemes};
use crate::config::OpenApiConfig;
use crate::external::escape;
use crate::load::{Document, LoadError};
use crate::request::{FieldEncoding, Location, Style};
use crate::schema::{Local, Schemas};
use crate::stored::StoredTools;

/// The HTTP methods a path item may hold, as the spec spells them.
pub(crate) const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The name of every namespace's escape hatch.
pub const REQUEST_TOOL: &str = "$request";

/// How to call one operation.
#[derive(Debug)]
pub(crate) struct Operation {
    pub method: Method,
    /// The path template as the spec writes it (`/repos/{owner}/{repo}`).
    pub path: String,
    pub params: Vec<Param>,
    pub body: Option<Body>,
    /// The configured credentials as this operation takes them.
    pub credentials: Vec<Placement>,
}

#[derive(Debug)]
pub(crate) struct Param {
    /// The name on the wire.
    pub name: String,
    /// The argument's key in the tool's object.
    pub key: String,
    pub location: Location,
    pub style: Style,
    pub explode: bool,
    pub allow_reserved: bool,
    /// Described by `content` (a media type) rather than `schema`: sent as JSON text.
    pub as_json: bool,
    pub required: bool,
}

#[derive(Debug)]
pub(crate) struct Body {
    pub media_type: String,
    pub kind: BodyKind,
    pub required: bool,
    pub encoding: HashMap<String, FieldEncoding>,
    /// Multipart fields that are files (`format: binary`).
    pub binary_fields: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    Json,
    Form,
    Multipart,
    /// Any other media type: a string sent as it is.
    Raw,
}

/// A path template split for matching `$request` paths.
#[derive(Debug)]
pub(crate) struct Route {
    pub template: String,
    segments: Vec<Vec<Part>>,
    /// The kept operations on this path, by method.
    pub operations: Vec<(Method, Arc<Operation>)>,
}

#[derive(Debug)]
enum Part {
    Literal(String),
    Variable,
}

impl Route {
    fn new(template: &str) -> Route {
        let segments = template
            .trim_start_matches('/')
            .split('/')
            .map(|segment| {
                let mut parts = Vec::new();
                let mut rest = segment;
                while let Some(open) = rest.find('{') {
                    if open > 0 {
                        parts.push(Part::Literal(rest[..open].to_owned()));
                    }
                    match rest[open..].find('}') {
                        Some(close) => {
                            parts.push(Part::Variable);
                            rest = &rest[open + close + 1..];
                        }
                        None => {
                            parts.push(Part::Literal(rest[open..].to_owned()));
                            rest = "";
                        }
                    }
                }
                if !rest.is_empty() {
                    parts.push(Part::Literal(rest.to_owned()));
                }
                parts
            })
            .collect();
        Route {
            template: template.to_owned(),
            segments,
            operations: Vec::new(),
        }
    }

    /// Whether a concrete path (`/repos/a/b`, already split and percent-decoded segments)
    /// fits this template. A variable takes at least one character of one segment.
    pub fn matches(&self, segments: &[&str]) -> bool {
        self.segments.len() == segments.len()
            && self
                .segments
                .iter()
                .zip(segments)
                .all(|(parts, segment)| parts_match(parts, segment))
    }
}

fn parts_match(parts: &[Part], text: &str) -> bool {
    match parts.split_first() {
        None => text.is_empty(),
        Some((Part::Literal(literal), rest)) => text
            .strip_prefix(literal.as_str())
            .is_some_and(|after| parts_match(rest, after)),
        Some((Part::Variable, rest)) => (1..=text.len())
            .filter(|i| text.is_char_boundary(*i))
            .any(|i| parts_match(rest, &text[i..])),
    }
}

/// A loaded spec as the source serves it.
#[derive(Debug)]
pub(crate) struct Api {
    pub description: Option<String>,
    pub tools: StoredTools,
    pub operations: HashMap<String, Arc<Operation>>,
    pub base_url: Url,
    pub routes: Vec<Route>,
}

/// Builds the namespace from a parsed spec and its config entry.
pub(crate) fn build(
    doc: &Document,
    config: &OpenApiConfig,
    spec_url: Option<&Url>,
) -> Result<Api, LoadError> {
    let unusable = |reason: String| LoadError::Unusable {
        origin: doc.origin.clone(),
        reason,
    };
    let model = &doc.model;
    let base_url = match &config.base_url {
        Some(url) => url.clone(),
        None => server_url(model, spec_url).map_err(unusable)?,
    };
    let schemes = security_schemes(model);
    if let Some(auth) = &config.auth {
        auth::check(auth, &schemes)
            .map_err(|reason| unusable(format!("openapi.{}.{reason}", config.name)))?;
    }
    let global_security = doc.root.get("security").map(requirements);

    let mut schemas = Schemas::new(&doc.root);
    let mut tools = Vec::new();
    let mut operations = HashMap::new();
    let mut routes: Vec<Route> = Vec::new();
    let mut names = HashSet::new();
    names.insert(REQUEST_TOOL.to_owned());

    for (path, item) in model.paths.iter().flatten() {
        let item_pointer = format!("/paths/{}", escape(path));
        let mut route = Route::new(path);
        for (method, op) in item.methods() {
            if !config.keeps(&op.tags, path, op.operation_id.as_deref()) {
                continue;
            }
            let op_pointer = format!("{item_pointer}/{}", method.as_str().to_ascii_lowercase());
            let security = doc
                .root
                .pointer(&format!("{op_pointer}/security"))
                .map(requirements)
                .or_else(|| global_security.clone());
            let credentials = auth::placements(config.auth.as_ref(), security.as_deref(), &schemes);
            let name = unique(
                &mut names,
                tool_name(op.operation_id.as_deref(), &method, path),
            );
            let built = Builder {
                doc,
                schemas: &mut schemas,
                pointer: &op_pointer,
            }
            .operation(item, op, &item_pointer)?;
            let operation = Arc::new(Operation {
                method: method.clone(),
                path: path.clone(),
                params: built.params,
                body: built.body,
                credentials,
            });
            tools.push(ToolSpec {
                name: name.clone(),
                title: op.summary.clone().filter(|s| !s.trim().is_empty()),
                description: Some(description(op, &method, path)),
                input_schema: built.input_schema,
                output_schema: built.output_schema,
                annotations: Some(annotations(&method)),
                keywords: Some(keywords(
                    &method,
                    &route,
                    op.operation_id.as_deref(),
                    &op.tags,
                )),
            });
            route.operations.push((method, operation.clone()));
            operations.insert(name, operation);
        }
        if !route.operations.is_empty() {
            routes.push(route);
        }
    }
    tools.push(request_tool(&base_url, &routes, &config.secrets));
    let info = &model.info;
    let description = [
        Some(info.title.as_str()),
        info.summary.as_deref(),
        info.description.as_deref(),
    ]
    .into_iter()
    .flatten()
    .map(str::trim)
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join("\n\n");
    Ok(Api {
        description: (!description.is_empty()).then_some(description),
        tools: StoredTools::new(tools),
        operations,
        base_url,
        routes,
    })
}

/// The spec's first server, its variables at their defaults; a relative one against the
/// URL the spec came from.
fn server_url(model: &oas3::Spec, spec_url: Option<&Url>) -> Result<Url, String> {
    let Some(server) = model.servers.first() else {
        return match spec_url {
            Some(url) => url.join("/").map_err(|e| e.to_string()),
            None => Err("the spec names no server; set `baseUrl`".into()),
        };
    };
    let mut text = server.url.clone();
    for (name, variable) in &server.variables {
        text = text.replace(&format!("{{{name}}}"), &variable.default);
    }
    let absolute = match Url::parse(&text) {
        Ok(url) => url,
        Err(url::ParseError::RelativeUrlWithoutBase) => match spec_url {
            Some(base) => base.join(&text).map_err(|e| e.to_string())?,
            None => {
                return Err(format!(
                    "the spec's server {text:?} is relative and the spec is a file; set `baseUrl`"
                ))
            }
        },
        Err(err) => return Err(format!("the spec's server {text:?}: {err}")),
    };
    crate::config::server_url(absolute.as_str())
        .map_err(|err| format!("the spec's server {text:?}: {err}; set `baseUrl`"))
}

fn security_schemes(model: &oas3::Spec) -> Schemes {
    let Some(components) = &model.components else {
        return Vec::new();
    };
    components
        .security_schemes
        .iter()
        .filter_map(|(name, scheme)| {
            scheme
                .resolve(model)
                .ok()
                .map(|s| (name.clone(), SchemeKind::of(&s)))
        })
        .collect()
}

/// A `security` list as alternatives of scheme names.
fn requirements(value: &Value) -> Vec<Vec<String>> {
    value
        .as_array()
        .map(|alternatives| {
            alternatives
                .iter()
                .filter_map(Value::as_object)
                .map(|requirement| requirement.keys().cloned().collect())
                .collect()
        })
        .unwrap_or_default()
}

/// The source name: the `operationId`, else method and path (`get_pets_petId`).
fn tool_name(operation_id: Option<&str>, method: &Method, path: &str) -> String {
    if let Some(id) = operation_id.map(str::trim).filter(|id| !id.is_empty()) {
        return id.to_owned();
    }
    let mut name = method.as_str().to_ascii_lowercase();
    for c in path.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '_' };
        if !(c == '_' && name.ends_with('_')) {
            name.push(c);
        }
    }
    name.trim_end_matches('_').to_owned()
}

fn unique(taken: &mut HashSet<String>, name: String) -> String {
    if taken.insert(name.clone()) {
        return name;
    }
    (2..)
        .map(|n| format!("{name}_{n}"))
        .find(|candidate| taken.insert(candidate.clone()))
        .unwrap_or(name)
}

fn description(op: &oas3::spec::Operation, method: &Method, path: &str) -> String {
    let mut parts = Vec::new();
    if op.deprecated == Some(true) {
        parts.push("Deprecated.".to_owned());
    }
    let summary = op
        .summary
        .as_deref()
        .map(crate::text::plain)
        .filter(|s| !s.is_empty());
    let text = op
        .description
        .as_deref()
        .map(crate::text::plain)
        .filter(|s| !s.is_empty());
    let (summary, text) = (summary.as_deref(), text.as_deref());
    match (summary, text) {
        (Some(s), Some(d)) if !d.starts_with(s) => parts.push(format!("{s}\n\n{d}")),
        (_, Some(d)) => parts.push(d.to_owned()),
        (Some(s), None) => parts.push(s.to_owned()),
        (None, None) => {}
    }
    parts.push(format!("HTTP: `{method} {path}`"));
    parts.join("\n\n")
}

/// What search also finds the operation by: the route's words and the tags, led by the
/// REST verb its method and route make when the name says no more than the method
/// (`GetCustomers`, or no `operationId`): `GET /v1/customers` lists, `GET
/// /v1/customers/{id}` gets, `POST` to a collection creates and to an item updates, `DELETE`
/// deletes. A `POST` to a route ending in a singular word after a parameter
/// (`/payment_intents/{id}/confirm`) is an action that word names, so it gets no verb.
fn keywords(method: &Method, route: &Route, operation_id: Option<&str>, tags: &[String]) -> String {
    let segments: Vec<&[Part]> = route
        .segments
        .iter()
        .map(Vec::as_slice)
        .filter(|parts| !parts.is_empty())
        .collect();
    let is_parameter = |parts: &[Part]| matches!(parts, [Part::Variable]);
    let on_item = segments.last().is_some_and(|parts| is_parameter(parts));
    let plural = match segments.last() {
        Some([Part::Literal(word)]) => {
            word.len() > 2 && word.ends_with('s') && !word.ends_with("ss")
        }
        _ => false,
    };
    let after_parameter = segments.len() >= 2 && is_parameter(segments[segments.len() - 2]);
    let named_by_method = operation_id.is_none_or(|id| {
        id.to_ascii_lowercase()
            .starts_with(&method.as_str().to_ascii_lowercase())
    });
    let verb = match *method {
        _ if !named_by_method => None,
        Method::GET if on_item || !plural => Some("get"),
        Method::GET => Some("list"),
        Method::DELETE => Some("delete"),
        Method::POST if on_item => Some("update"),
        Method::POST if plural || !after_parameter => Some("create"),
        Method::PUT | Method::PATCH => Some("update"),
        _ => None,
    };
    let mut words: Vec<&str> = Vec::new();
    let route_words =
        segments
            .iter()
            .flat_map(|parts| parts.iter())
            .filter_map(|part| match part {
                Part::Literal(word) if !is_version_segment(word) => Some(word.as_str()),
                _ => None,
            });
    for word in verb
        .into_iter()
        .chain(route_words)
        .chain(tags.iter().map(String::as_str))
    {
        if !words.contains(&word) {
            words.push(word);
        }
    }
    words.join(" ")
}

/// `v1`, `v2beta`, `api`: a route's prefix, not what it is about.
fn is_version_segment(segment: &str) -> bool {
    let lower = segment.to_ascii_lowercase();
    lower == "api"
        || lower
            .strip_prefix('v')
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

/// Behaviour hints from the method: reads, deletes and idempotent writes say so; every
/// operation reaches the world outside the gateway.
fn annotations(method: &Method) -> Value {
    let mut hints = Map::new();
    let read_only = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    hints.insert("readOnlyHint".into(), Value::Bool(read_only));
    if *method == Method::DELETE {
        hints.insert("destructiveHint".into(), Value::Bool(true));
    }
    if *method == Method::PUT {
        hints.insert("idempotentHint".into(), Value::Bool(true));
    }
    hints.insert("openWorldHint".into(), Value::Bool(true));
    Value::Object(hints)
}

struct Built {
    params: Vec<Param>,
    body: Option<Body>,
    input_schema: Value,
    output_schema: Option<Value>,
}

struct Builder<'a, 'b> {
    doc: &'a Document,
    schemas: &'b mut Schemas<'a>,
    pointer: &'b str,
}

impl<'a> Builder<'a, '_> {
    fn operation(
        mut self,
        item: &oas3::spec::PathItem,
        op: &oas3::spec::Operation,
        item_pointer: &str,
    ) -> Result<Built, LoadError> {
        // Path-level parameters, overridden by the operation's own of the same name and
        // location.
        let mut declared: Vec<(Parameter, String)> = Vec::new();
        let lists = [
            (&item.parameters, format!("{item_pointer}/parameters")),
            (&op.parameters, format!("{}/parameters", self.pointer)),
        ];
        for (list, list_pointer) in lists {
            for (i, param) in list.iter().enumerate() {
                let at = format!("{list_pointer}/{i}");
                let (param, raw) = self.resolve_param(param, &at)?;
                declared.retain(|(p, _)| !(p.name == param.name && p.location == param.location));
                declared.push((param, raw));
            }
        }
        // Path first: its names are the ones an agent most expects to keep.
        declared.sort_by_key(|(p, _)| location_of(p.location) as u8);

        let mut keys: HashSet<String> = HashSet::new();
        keys.insert("body".into());
        let mut properties = Map::new();
        let mut required = Vec::new();
        let mut deps = Vec::new();
        let mut params = Vec::new();
        for (param, raw_pointer) in declared {
            let location = location_of(param.location);
            if location == Location::Header
                && ["accept", "content-type", "authorization"]
                    .contains(&param.name.to_ascii_lowercase().as_str())
            {
                continue;
            }
            let key = if keys.insert(param.name.clone()) {
                param.name.clone()
            } else {
                unique(&mut keys, format!("{}_{}", location.word(), param.name))
            };
            let (schema_pointer, as_json) =
                match param.content.as_ref().and_then(|c| c.keys().next()) {
                    Some(media) => (
                        format!("{raw_pointer}/content/{}/schema", escape(media)),
                        true,
                    ),
                    None => (format!("{raw_pointer}/schema"), false),
                };
            let mut property = self.schema_at(&schema_pointer, &mut deps);
            describe(
                &mut property,
                param.description.as_deref(),
                param.deprecated == Some(true),
            );
            let is_required = location == Location::Path || param.required == Some(true);
            if is_required {
                required.push(Value::String(key.clone()));
            }
            properties.insert(key.clone(), property);
            let style = param
                .style
                .map(style_of)
                .filter(|s| fits(*s, location))
                .unwrap_or_else(|| location.default_style());
            params.push(Param {
                name: param.name.clone(),
                key,
                location,
                style,
                explode: param.explode.unwrap_or_else(|| style.default_explode()),
                allow_reserved: param.allow_reserved == Some(true),
                as_json,
                required: is_required,
            });
        }

        let body = match &op.request_body {
            None => None,
            Some(body) => {
                let at = format!("{}/requestBody", self.pointer);
                let (body, raw_pointer) = self.resolve(body, &at)?;
                choose_media(&body).map(|(media, kind)| {
                    let media_pointer = format!("{raw_pointer}/content/{}", escape(&media));
                    let mut property =
                        self.schema_at(&format!("{media_pointer}/schema"), &mut deps);
                    if kind == BodyKind::Raw && property.as_object().is_some_and(Map::is_empty) {
                        property = json!({"type": "string"});
                    }
                    describe(&mut property, body.description.as_deref(), false);
                    let required_body = body.required == Some(true);
                    if required_body {
                        required.push(Value::String("body".into()));
                    }
                    properties.insert("body".into(), property);
                    let media_type = body.content.get(&media);
                    let encoding = media_type
                        .map(|m| {
                            m.encoding
                                .iter()
                                .map(|(field, e)| {
                                    (
                                        field.clone(),
                                        FieldEncoding {
                                            style: e.style.as_deref().and_then(Style::parse),
                                            explode: e.explode,
                                            content_type: e.content_type.clone(),
                                        },
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    let binary_fields = if kind == BodyKind::Multipart {
                        binary_fields(self.doc, &format!("{media_pointer}/schema"))
                    } else {
                        Vec::new()
                    };
                    Body {
                        media_type: media,
                        kind,
                        required: required_body,
                        encoding,
                        binary_fields,
                    }
                })
            }
        };

        let mut input = Map::new();
        input.insert("type".into(), "object".into());
        input.insert("properties".into(), Value::Object(properties));
        if !required.is_empty() {
            input.insert("required".into(), Value::Array(required));
        }
        input.insert("additionalProperties".into(), Value::Bool(false));
        let input_schema = self.schemas.document(Value::Object(input), deps);

        let output_schema = self.output_schema(op)?;
        Ok(Built {
            params,
            body,
            input_schema,
            output_schema,
        })
    }

    /// The success response's JSON schema: the first 2xx (in the spec's order, `2XX` too),
    /// else `default`.
    fn output_schema(&mut self, op: &oas3::spec::Operation) -> Result<Option<Value>, LoadError> {
        let Some(responses) = &op.responses else {
            return Ok(None);
        };
        let code = responses
            .keys()
            .find(|code| code.starts_with('2'))
            .or_else(|| responses.keys().find(|code| code.as_str() == "default"));
        let Some(code) = code else {
            return Ok(None);
        };
        let at = format!("{}/responses/{}", self.pointer, escape(code));
        let Some(response) = responses.get(code) else {
            return Ok(None);
        };
        let (response, raw_pointer) = self.resolve(response, &at)?;
        let Some(media) = response.content.keys().find(|m| is_json(m)) else {
            return Ok(None);
        };
        let pointer = format!("{raw_pointer}/content/{}/schema", escape(media));
        if self.doc.root.pointer(&pointer).is_none() {
            return Ok(None);
        }
        let mut deps = Vec::new();
        let schema = self.schema_at(&pointer, &mut deps);
        Ok(Some(self.schemas.document(schema, deps)))
    }

    /// The schema at `pointer`, localised; `{}` when there is none.
    fn schema_at(&mut self, pointer: &str, deps: &mut Vec<String>) -> Value {
        match self.doc.root.pointer(pointer) {
            None => json!({}),
            Some(raw) => {
                let Local { value, deps: more } = self.schemas.local(raw);
                deps.extend(more);
                value
            }
        }
    }

    fn resolve_param(
        &self,
        param: &ObjectOrReference<Parameter>,
        at: &str,
    ) -> Result<(Parameter, String), LoadError> {
        self.resolve(param, at)
    }

    /// The typed object and the JSON pointer of its body (a reference's target).
    fn resolve<T: oas3::spec::FromRef>(
        &self,
        item: &ObjectOrReference<T>,
        at: &str,
    ) -> Result<(T, String), LoadError> {
        let broken = |reference: &str, reason: String| LoadError::Reference {
            origin: self.doc.origin.clone(),
            pointer: at.to_owned(),
            reference: reference.to_owned(),
            reason,
        };
        match item {
            ObjectOrReference::Object(object) => Ok((object.clone(), at.to_owned())),
            ObjectOrReference::Ref { ref_path, .. } => {
                let typed = item
                    .resolve(&self.doc.model)
                    .map_err(|err| broken(ref_path, err.to_string()))?;
                let mut pointer = ref_path.trim_start_matches('#').to_owned();
                // A chain of references ends at the object the model resolved.
                for _ in 0..16 {
                    match self
                        .doc
                        .root
                        .pointer(&pointer)
                        .and_then(|v| v.get("$ref"))
                        .and_then(Value::as_str)
                    {
                        Some(next) => pointer = next.trim_start_matches('#').to_owned(),
                        None => break,
                    }
                }
                Ok((typed, pointer))
            }
        }
    }
}

/// Puts a parameter's or body's own description (and `deprecated`) on its schema, unless the
/// schema has one of its own.
fn describe(schema: &mut Value, description: Option<&str>, deprecated: bool) {
    let Value::Object(map) = schema else {
        return;
    };
    if let Some(text) = description
        .map(crate::text::plain)
        .filter(|s| !s.is_empty())
    {
        map.entry("description")
            .or_insert_with(|| Value::String(text));
    }
    if deprecated {
        map.insert("deprecated".into(), Value::Bool(true));
    }
}

fn location_of(location: oas3::spec::ParameterIn) -> Location {
    use oas3::spec::ParameterIn as In;
    match location {
        In::Path => Location::Path,
        In::Query => Location::Query,
        In::Header => Location::Header,
        In::Cookie => Location::Cookie,
    }
}

fn style_of(style: oas3::spec::ParameterStyle) -> Style {
    use oas3::spec::ParameterStyle as S;
    match style {
        S::Matrix => Style::Matrix,
        S::Label => Style::Label,
        S::Form => Style::Form,
        S::Simple => Style::Simple,
        S::SpaceDelimited => Style::SpaceDelimited,
        S::PipeDelimited => Style::PipeDelimited,
        S::DeepObject => Style::DeepObject,
    }
}

/// Whether a style is defined for a location (a spec that says otherwise gets the default).
fn fits(style: Style, location: Location) -> bool {
    match location {
        Location::Path => matches!(style, Style::Simple | Style::Label | Style::Matrix),
        Location::Query => !matches!(style, Style::Simple | Style::Label | Style::Matrix),
        Location::Header => style == Style::Simple,
        Location::Cookie => style == Style::Form,
    }
}

pub(crate) fn is_json(media: &str) -> bool {
    let essence = media
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json") || essence == "*/*"
}

/// The request body media type to send: JSON first, then forms, then anything else (a
/// string as it is).
fn choose_media(body: &oas3::spec::RequestBody) -> Option<(String, BodyKind)> {
    let essence = |m: &str| {
        m.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    };
    let find =
        |wanted: &dyn Fn(&str) -> bool| body.content.keys().find(|m| wanted(&essence(m))).cloned();
    if let Some(m) = find(&|e| e == "application/json" || e.ends_with("+json")) {
        return Some((m, BodyKind::Json));
    }
    if let Some(m) = find(&|e| e == "application/x-www-form-urlencoded") {
        return Some((m, BodyKind::Form));
    }
    if let Some(m) = find(&|e| e == "multipart/form-data") {
        return Some((m, BodyKind::Multipart));
    }
    let first = body.content.keys().next()?.clone();
    let kind = if first.contains('*') {
        BodyKind::Json
    } else {
        BodyKind::Raw
    };
    Some((first, kind))
}

/// Top-level properties of a multipart schema that are files.
fn binary_fields(doc: &Document, pointer: &str) -> Vec<String> {
    let mut schema = doc.root.pointer(pointer);
    for _ in 0..16 {
        match schema.and_then(|s| s.get("$ref")).and_then(Value::as_str) {
            Some(r) => schema = doc.root.pointer(r.trim_start_matches('#')),
            None => break,
        }
    }
    let Some(properties) = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    else {
        return Vec::new();
    };
    properties
        .iter()
        .filter(|(_, p)| {
            let binary = |s: &Value| {
                s.get("format").and_then(Value::as_str) == Some("binary")
                    || s.get("contentMediaType").is_some()
            };
            binary(p) || p.get("items").is_some_and(binary)
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// `$request`: any request to this API's server on one of the spec's paths.
fn request_tool(base_url: &Url, routes: &[Route], secrets: &[String]) -> ToolSpec {
    let mut methods: Vec<&str> = Vec::new();
    for route in routes {
        for (method, _) in &route.operations {
            if !methods.contains(&method.as_str()) {
                methods.push(method.as_str());
            }
        }
    }
    let examples: Vec<&str> = routes.iter().take(3).map(|r| r.template.as_str()).collect();
    let mut spec = ToolSpec::new(
        REQUEST_TOOL,
        json!({
            "type": "object",
            "properties": {
                "method": {"type": "string", "enum": methods, "description": "The HTTP method."},
                "path": {
                    "type": "string",
                    "description": format!(
                        "A concrete path of this API, its template's variables filled in (templates: {}); no query string, use `query`.",
                        examples.join(", ")
                    )
                },
                "query": {
                    "type": "object",
                    "description": "Query parameters; a list repeats the parameter.",
                    "additionalProperties": {}
                },
                "headers": {
                    "type": "object",
                    "description": "Extra request headers.",
                    "additionalProperties": {"type": "string"}
                },
                "body": {"description": "The request body, sent as JSON (a string is sent as it is)."}
            },
            "required": ["method", "path"],
            "additionalProperties": false
        }),
    );
    spec.title = Some("Raw HTTP request".into());
    // The base URL may have come out of a `${VAR}`: a description never carries a secret.
    spec.description = Some(crate::client::redact(&format!(
        "Sends any request to this API's server ({base_url}) for what the typed functions do not cover: the method and path must be one of the spec's operations (the path a concrete instance of its template), and the configured credentials are added as for that operation. The answer is the parsed JSON, or {{contentType, text}} for other content."
    ), secrets));
    spec.annotations = Some(json!({"openWorldHint": true}));
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_and_its_method_give_the_rest_verb_when_the_name_does_not() {
        let kw = |method: Method, path: &str, id: Option<&str>| {
            keywords(&method, &Route::new(path), id, &[])
        };
        assert_eq!(
            kw(Method::GET, "/v1/customers", Some("GetCustomers")),
            "list customers"
        );
        assert_eq!(
            kw(
                Method::GET,
                "/v1/customers/{customer}",
                Some("GetCustomersCustomer")
            ),
            "get customers"
        );
        assert_eq!(kw(Method::POST, "/v1/refunds", None), "create refunds");
        assert_eq!(
            kw(Method::POST, "/v1/customers/{customer}", None),
            "update customers"
        );
        assert_eq!(kw(Method::DELETE, "/api/pets/{id}", None), "delete pets");
        // An action route names its own verb.
        assert_eq!(
            kw(Method::POST, "/v1/payment_intents/{intent}/confirm", None),
            "payment_intents confirm"
        );
        // A name with a verb of its own keeps it: no REST verb is guessed over it.
        assert_eq!(
            keywords(
                &Method::GET,
                &Route::new("/repos/{owner}/{repo}/pulls"),
                Some("pulls/list"),
                &["pulls".into()]
            ),
            "repos pulls"
        );
    }

    #[test]
    fn names_from_method_and_path() {
        assert_eq!(
            tool_name(None, &Method::GET, "/pets/{petId}/toys"),
            "get_pets_petId_toys"
        );
        assert_eq!(
            tool_name(Some(" repos/get "), &Method::GET, "/x"),
            "repos/get"
        );
        let mut taken = HashSet::new();
        assert_eq!(unique(&mut taken, "a".into()), "a");
        assert_eq!(unique(&mut taken, "a".into()), "a_2");
    }

    #[test]
    fn routes_match_concrete_paths() {
        let route = Route::new("/repos/{owner}/{repo}/contents/{path}.json");
        assert!(route.matches(&["repos", "octo", "hello", "contents", "a.json"]));
        assert!(!route.matches(&["repos", "octo", "hello", "contents", ".json"]));
        assert!(!route.matches(&["repos", "octo", "hello"]));
        let plain = Route::new("/pets");
        assert!(plain.matches(&["pets"]));
        assert!(!plain.matches(&["pets", "1"]));
    }
}
