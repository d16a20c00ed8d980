//! Arguments → the parts of an HTTP request, as the spec says to write them.
//!
//! Parameters follow OpenAPI's `style` and `explode` (RFC 6570 underneath):
//!
//! | style            | where        | `explode: false`              | `explode: true`              |
//! |------------------|--------------|-------------------------------|------------------------------|
//! | `simple`         | path, header | `blue,black` / `R,100,G,200`  | `blue,black` / `R=100,G=200` |
//! | `label`          | path         | `.blue,black` / `.R,100,G,200`| `.blue.black` / `.R=100.G=200` |
//! | `matrix`         | path         | `;color=blue,black` / `;color=R,100,G,200` | `;color=blue;color=black` / `;R=100;G=200` |
//! | `form`           | query, cookie| `color=blue,black` / `color=R,100,G,200` | `color=blue&color=black` / `R=100&G=200` |
//! | `spaceDelimited` | query        | `color=blue%20black`          | as `form`                    |
//! | `pipeDelimited`  | query        | `color=blue\|black`           | as `form`                    |
//! | `deepObject`     | query        | —                             | `color[R]=100&color[G]=200`  |
//!
//! (Label with `explode: false` follows RFC 6570 and OpenAPI 3.1.1's table, `.blue,black`;
//! 3.0.3's table printed `.blue.black`.) Defaults: `simple` in path and header, `form` in
//! query and cookie; `explode` is true for `form` only. A `null` or empty list/object is not
//! sent. Values are percent-encoded (everything but RFC 3986's unreserved characters); a
//! query parameter with `allowReserved` keeps reserved characters other than `&`, `=`, `#`
//! and `+`. Nested values inside a list or object are sent as JSON text.
//!
//! Bodies by media type: JSON as JSON; `application/x-www-form-urlencoded` field by field,
//! a field's `encoding` style honoured, nested objects and lists written `a[b]=…`,
//! `a[0]=…` (`deepObject`) unless the spec says otherwise; `multipart/form-data` one part
//! per field (text, JSON for objects, a file part for `format: binary` fields, whose string
//! is the file's content); anything else takes a string as it is.

use std::collections::HashMap;
use std::fmt::Write as _;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{Map, Value};

/// Everything but RFC 3986's unreserved characters is encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// `allowReserved`: reserved characters stay, except those that would end the pair.
const RESERVED_ALLOWED: &AsciiSet = &COMPONENT
    .remove(b':')
    .remove(b'/')
    .remove(b'?')
    .remove(b'[')
    .remove(b']')
    .remove(b'@')
    .remove(b'!')
    .remove(b'$')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b',')
    .remove(b';');

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Location {
    Path,
    Query,
    Header,
    Cookie,
}

impl Location {
    pub fn word(self) -> &'static str {
        match self {
            Location::Path => "path",
            Location::Query => "query",
            Location::Header => "header",
            Location::Cookie => "cookie",
        }
    }

    pub fn default_style(self) -> Style {
        match self {
            Location::Path | Location::Header => Style::Simple,
            Location::Query | Location::Cookie => Style::Form,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Simple,
    Form,
    Label,
    Matrix,
    SpaceDelimited,
    PipeDelimited,
    DeepObject,
}

impl Style {
    pub fn parse(text: &str) -> Option<Style> {
        match text {
            "simple" => Some(Style::Simple),
            "form" => Some(Style::Form),
            "label" => Some(Style::Label),
            "matrix" => Some(Style::Matrix),
            "spaceDelimited" => Some(Style::SpaceDelimited),
            "pipeDelimited" => Some(Style::PipeDelimited),
            "deepObject" => Some(Style::DeepObject),
            _ => None,
        }
    }

    pub fn default_explode(self) -> bool {
        self == Style::Form
    }
}

/// A value as RFC 6570 sees it: one string, a list of strings, or pairs.
enum Shape {
    One(String),
    List(Vec<String>),
    Pairs(Vec<(String, String)>),
}

/// `None` for what is not sent at all (null, an empty list or object).
fn shape(value: &Value) -> Option<Shape> {
    match value {
        Value::Null => None,
        Value::Array(items) if items.is_empty() => None,
        Value::Object(map) if map.is_empty() => None,
        Value::Array(items) => Some(Shape::List(items.iter().map(scalar).collect())),
        Value::Object(map) => Some(Shape::Pairs(
            map.iter().map(|(k, v)| (k.clone(), scalar(v))).collect(),
        )),
        other => Some(Shape::One(scalar(other))),
    }
}

/// A scalar as text; anything nested as JSON text.
pub(crate) fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(_) | Value::Number(_) => value.to_string(),
        nested => nested.to_string(),
    }
}

fn enc(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

fn join_encoded(items: impl IntoIterator<Item = String>, separator: &str) -> String {
    items
        .into_iter()
        .map(|s| enc(&s))
        .collect::<Vec<_>>()
        .join(separator)
}

fn flat_pairs(pairs: &[(String, String)]) -> impl Iterator<Item = String> + '_ {
    pairs.iter().flat_map(|(k, v)| [k.clone(), v.clone()])
}

/// What replaces `{name}` in the path template. `None`: nothing to send.
pub(crate) fn path_segment(
    name: &str,
    value: &Value,
    style: Style,
    explode: bool,
) -> Option<String> {
    let shape = shape(value)?;
    let name = enc(name);
    Some(match (style, shape) {
        (Style::Label, Shape::One(v)) => format!(".{}", enc(&v)),
        (Style::Label, Shape::List(items)) => {
            format!(".{}", join_encoded(items, if explode { "." } else { "," }))
        }
        (Style::Label, Shape::Pairs(pairs)) if explode => format!(
            ".{}",
            pairs
                .iter()
                .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
                .collect::<Vec<_>>()
                .join(".")
        ),
        (Style::Label, Shape::Pairs(pairs)) => {
            format!(".{}", join_encoded(flat_pairs(&pairs), ","))
        }
        (Style::Matrix, Shape::One(v)) if v.is_empty() => format!(";{name}"),
        (Style::Matrix, Shape::One(v)) => format!(";{name}={}", enc(&v)),
        (Style::Matrix, Shape::List(items)) if explode => items
            .iter()
            .map(|v| format!(";{name}={}", enc(v)))
            .collect(),
        (Style::Matrix, Shape::List(items)) => format!(";{name}={}", join_encoded(items, ",")),
        (Style::Matrix, Shape::Pairs(pairs)) if explode => pairs
            .iter()
            .map(|(k, v)| format!(";{}={}", enc(k), enc(v)))
            .collect(),
        (Style::Matrix, Shape::Pairs(pairs)) => {
            format!(";{name}={}", join_encoded(flat_pairs(&pairs), ","))
        }
        // simple, and anything a path cannot take otherwise.
        (_, shape) => simple(shape, explode, enc),
    })
}

fn simple(shape: Shape, explode: bool, encode: fn(&str) -> String) -> String {
    match shape {
        Shape::One(v) => encode(&v),
        Shape::List(items) => items
            .iter()
            .map(|v| encode(v))
            .collect::<Vec<_>>()
            .join(","),
        Shape::Pairs(pairs) if explode => pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join(","),
        Shape::Pairs(pairs) => flat_pairs(&pairs)
            .map(|v| encode(&v))
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// A header's value (`simple` style, not percent-encoded: header values are not URLs).
pub(crate) fn header_value(value: &Value, explode: bool) -> Option<String> {
    Some(simple(shape(value)?, explode, |s| s.to_owned()))
}

/// `name=value` pairs of a query string, encoded.
pub(crate) fn query_pairs(
    name: &str,
    value: &Value,
    style: Style,
    explode: bool,
    allow_reserved: bool,
) -> Vec<String> {
    let encode = |s: &str| {
        if allow_reserved {
            utf8_percent_encode(s, RESERVED_ALLOWED).to_string()
        } else {
            enc(s)
        }
    };
    if style == Style::DeepObject {
        let mut out = Vec::new();
        deep_pairs(&enc(name), value, &mut out);
        return out;
    }
    let Some(shape) = shape(value) else {
        return Vec::new();
    };
    let key = enc(name);
    let delimited = |items: Vec<String>, separator: &str| {
        vec![format!(
            "{key}={}",
            items
                .iter()
                .map(|v| encode(v))
                .collect::<Vec<_>>()
                .join(separator)
        )]
    };
    match (style, shape, explode) {
        (_, Shape::One(v), _) => vec![format!("{key}={}", encode(&v))],
        (Style::SpaceDelimited, Shape::List(items), false) => delimited(items, "%20"),
        (Style::SpaceDelimited, Shape::Pairs(pairs), false) => {
            delimited(flat_pairs(&pairs).collect(), "%20")
        }
        (Style::PipeDelimited, Shape::List(items), false) => delimited(items, "|"),
        (Style::PipeDelimited, Shape::Pairs(pairs), false) => {
            delimited(flat_pairs(&pairs).collect(), "|")
        }
        (_, Shape::List(items), true) => items
            .iter()
            .map(|v| format!("{key}={}", encode(v)))
            .collect(),
        (_, Shape::List(items), false) => delimited(items, ","),
        (_, Shape::Pairs(pairs), true) => pairs
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), encode(v)))
            .collect(),
        (_, Shape::Pairs(pairs), false) => delimited(flat_pairs(&pairs).collect(), ","),
    }
}

/// `deepObject`: `key[a][b]=v`, lists as `key[0]=v`; brackets encoded as `%5B`/`%5D`.
fn deep_pairs(key: &str, value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Null => {}
        Value::Object(map) => {
            for (k, v) in map {
                deep_pairs(&format!("{key}%5B{}%5D", enc(k)), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                deep_pairs(&format!("{key}%5B{i}%5D"), v, out);
            }
        }
        scalar_value => out.push(format!("{key}={}", enc(&scalar(scalar_value)))),
    }
}

/// `name=value` pairs of a `Cookie` header (`form` style).
pub(crate) fn cookie_pairs(name: &str, value: &Value, explode: bool) -> Vec<String> {
    let Some(shape) = shape(value) else {
        return Vec::new();
    };
    match (shape, explode) {
        (Shape::One(v), _) => vec![format!("{name}={}", enc(&v))],
        (Shape::List(items), true) => items.iter().map(|v| format!("{name}={}", enc(v))).collect(),
        (Shape::List(items), false) => vec![format!("{name}={}", join_encoded(items, ","))],
        (Shape::Pairs(pairs), true) => pairs
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect(),
        (Shape::Pairs(pairs), false) => {
            vec![format!("{name}={}", join_encoded(flat_pairs(&pairs), ","))]
        }
    }
}

/// How one field of a form or multipart body is written (the media type's `encoding`).
#[derive(Debug, Clone, Default)]
pub(crate) struct FieldEncoding {
    pub style: Option<Style>,
    pub explode: Option<bool>,
    pub content_type: Option<String>,
}

/// An `application/x-www-form-urlencoded` body.
pub(crate) fn form_body(
    value: &Value,
    encoding: &HashMap<String, FieldEncoding>,
) -> Result<String, String> {
    let Value::Object(fields) = value else {
        return Err("a form body is an object of fields".into());
    };
    let mut pairs = Vec::new();
    for (name, field) in fields {
        let spec = encoding.get(name);
        let nested = matches!(field, Value::Object(_))
            || matches!(field, Value::Array(items) if items.iter().any(|i| i.is_object() || i.is_array()));
        let style = spec.and_then(|e| e.style).unwrap_or(if nested {
            Style::DeepObject
        } else {
            Style::Form
        });
        let explode = spec
            .and_then(|e| e.explode)
            .unwrap_or_else(|| style.default_explode());
        pairs.extend(query_pairs(name, field, style, explode, false));
    }
    Ok(pairs.join("&"))
}

/// A `multipart/form-data` body and its boundary. `binary` names the fields whose string is
/// a file's content.
pub(crate) fn multipart_body(
    value: &Value,
    encoding: &HashMap<String, FieldEncoding>,
    binary: &[String],
) -> Result<(String, Vec<u8>), String> {
    let Value::Object(fields) = value else {
        return Err("a multipart body is an object of fields".into());
    };
    let boundary = boundary(fields);
    let mut body = Vec::new();
    for (name, field) in fields {
        let items: Vec<&Value> = match field {
            Value::Null => continue,
            Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
                items.iter().collect()
            }
            other => vec![other],
        };
        for item in items {
            let quoted = name.replace(['"', '\r', '\n'], "_");
            let _ = write!(body_writer(&mut body), "--{boundary}\r\n");
            let declared = encoding.get(name).and_then(|e| e.content_type.clone());
            let (disposition, content_type, content) = if binary.contains(name) {
                (
                    format!("form-data; name=\"{quoted}\"; filename=\"{quoted}\""),
                    declared.unwrap_or_else(|| "application/octet-stream".into()),
                    scalar(item).into_bytes(),
                )
            } else if item.is_object() || item.is_array() {
                (
                    format!("form-data; name=\"{quoted}\""),
                    declared.unwrap_or_else(|| "application/json".into()),
                    item.to_string().into_bytes(),
                )
            } else {
                (
                    format!("form-data; name=\"{quoted}\""),
                    declared.unwrap_or_else(|| "text/plain; charset=utf-8".into()),
                    scalar(item).into_bytes(),
                )
            };
            let _ = write!(
                body_writer(&mut body),
                "Content-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n\r\n"
            );
            body.extend_from_slice(&content);
            body.extend_from_slice(b"\r\n");
        }
    }
    let _ = write!(body_writer(&mut body), "--{boundary}--\r\n");
    Ok((boundary, body))
}

/// A boundary that occurs in none of the fields.
fn boundary(fields: &Map<String, Value>) -> String {
    let text = Value::Object(fields.clone()).to_string();
    let mut n: u64 = 0x5eed_c0de;
    loop {
        let candidate = format!("codemode-boundary-{n:x}");
        if !text.contains(&candidate) {
            return candidate;
        }
        n = n.wrapping_mul(6364136223846793005).wrapping_add(1);
    }
}

/// `write!` into a byte buffer.
fn body_writer(buffer: &mut Vec<u8>) -> impl std::fmt::Write + '_ {
    struct W<'a>(&'a mut Vec<u8>);
    impl std::fmt::Write for W<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.extend_from_slice(s.as_bytes());
            Ok(())
        }
    }
    W(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The OpenAPI specification's style examples: `color` as `"blue"`,
    /// `["blue", "black", "brown"]` and `{"R": 100, "G": 200, "B": 150}`.
    fn values() -> [Value; 3] {
        [
            json!("blue"),
            json!(["blue", "black", "brown"]),
            json!({"R": 100, "G": 200, "B": 150}),
        ]
    }

    fn path_row(style: Style, explode: bool) -> Vec<String> {
        values()
            .iter()
            .map(|v| path_segment("color", v, style, explode).unwrap_or_default())
            .collect()
    }

    fn query_row(style: Style, explode: bool) -> Vec<String> {
        values()
            .iter()
            .map(|v| query_pairs("color", v, style, explode, false).join("&"))
            .collect()
    }

    #[test]
    fn the_specifications_style_table() {
        assert_eq!(
            path_row(Style::Matrix, false),
            [
                ";color=blue",
                ";color=blue,black,brown",
                ";color=R,100,G,200,B,150"
            ]
        );
        assert_eq!(
            path_row(Style::Matrix, true),
            [
                ";color=blue",
                ";color=blue;color=black;color=brown",
                ";R=100;G=200;B=150"
            ]
        );
        assert_eq!(
            path_row(Style::Label, false),
            [".blue", ".blue,black,brown", ".R,100,G,200,B,150"]
        );
        assert_eq!(
            path_row(Style::Label, true),
            [".blue", ".blue.black.brown", ".R=100.G=200.B=150"]
        );
        assert_eq!(
            path_row(Style::Simple, false),
            ["blue", "blue,black,brown", "R,100,G,200,B,150"]
        );
        assert_eq!(
            path_row(Style::Simple, true),
            ["blue", "blue,black,brown", "R=100,G=200,B=150"]
        );
        assert_eq!(
            query_row(Style::Form, false),
            [
                "color=blue",
                "color=blue,black,brown",
                "color=R,100,G,200,B,150"
            ]
        );
        assert_eq!(
            query_row(Style::Form, true),
            [
                "color=blue",
                "color=blue&color=black&color=brown",
                "R=100&G=200&B=150"
            ]
        );
        assert_eq!(
            query_row(Style::SpaceDelimited, false)[1..],
            [
                "color=blue%20black%20brown",
                "color=R%20100%20G%20200%20B%20150"
            ]
        );
        assert_eq!(
            query_row(Style::PipeDelimited, false)[1..],
            ["color=blue|black|brown", "color=R|100|G|200|B|150"]
        );
        assert_eq!(
            query_row(Style::DeepObject, true)[2],
            "color%5BR%5D=100&color%5BG%5D=200&color%5BB%5D=150"
        );
        assert_eq!(
            header_value(&values()[2], true).as_deref(),
            Some("R=100,G=200,B=150")
        );
        assert_eq!(
            cookie_pairs("color", &values()[1], false),
            ["color=blue,black,brown"]
        );
    }

    #[test]
    fn values_are_encoded_and_nothing_is_sent_for_nothing() {
        assert_eq!(
            path_segment("id", &json!("a/b c"), Style::Simple, false).as_deref(),
            Some("a%2Fb%20c")
        );
        assert_eq!(
            query_pairs("q", &json!("a&b=c,d"), Style::Form, true, false),
            ["q=a%26b%3Dc%2Cd"]
        );
        assert_eq!(
            query_pairs("q", &json!("a/b:c&d"), Style::Form, true, true),
            ["q=a/b:c%26d"]
        );
        assert!(query_pairs("q", &json!(null), Style::Form, true, false).is_empty());
        assert!(query_pairs("q", &json!([]), Style::Form, true, false).is_empty());
        assert_eq!(
            query_pairs("n", &json!(true), Style::Form, true, false),
            ["n=true"]
        );
    }

    #[test]
    fn form_bodies_nest_as_deep_objects_unless_told_otherwise() {
        let mut encoding = HashMap::new();
        encoding.insert(
            "tags".to_owned(),
            FieldEncoding {
                style: Some(Style::Form),
                explode: Some(false),
                content_type: None,
            },
        );
        let body = form_body(
            &json!({"amount": 100, "metadata": {"order": "7"}, "expand": ["a", "b"], "tags": ["x", "y"]}),
            &encoding,
        )
        .expect("an object");
        assert_eq!(
            body,
            "amount=100&metadata%5Border%5D=7&expand=a&expand=b&tags=x,y"
        );
    }

    #[test]
    fn multipart_parts() {
        let (boundary, body) = multipart_body(
            &json!({"name": "n", "meta": {"a": 1}, "file": "content"}),
            &HashMap::new(),
            &["file".to_owned()],
        )
        .expect("an object");
        let text = String::from_utf8(body).expect("utf-8");
        assert!(text.starts_with(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n"
        )));
        assert!(text.contains("Content-Type: application/json\r\n\r\n{\"a\":1}\r\n"));
        assert!(text.contains("name=\"file\"; filename=\"file\"\r\nContent-Type: application/octet-stream\r\n\r\ncontent\r\n"));
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
    }
}
