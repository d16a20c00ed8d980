//! Reading a spec: bytes from a file or an https URL, JSON or YAML into one JSON tree, the
//! version told apart, Swagger 2.0 converted, external files bundled, and the tree read by
//! the `oas3` document model.
//!
//! The JSON tree is kept beside the model: schemas are taken from it as written (the model
//! would drop keywords it does not know, such as 3.0's `nullable`), the model supplies
//! everything else. Every error names the file and, where the spec does not fit, the JSON
//! pointer of the part that does not.

use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;

use crate::config::SpecLocation;
use crate::external::{self, escape};

/// The largest spec read (the GitHub REST spec is about 13 MB).
const MAX_SPEC_BYTES: u64 = 64 * 1024 * 1024;
/// How long fetching a spec by URL may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a spec could not be used.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum LoadError {
    #[error("{origin}: cannot read the spec: {detail}")]
    Read { origin: String, detail: String },
    #[error("{origin}: not valid {format}: {detail}")]
    Syntax {
        origin: String,
        format: &'static str,
        detail: String,
    },
    #[error("{origin}: not an OpenAPI document: {reason}")]
    NotOpenApi { origin: String, reason: String },
    #[error("{origin}: at {pointer}: {message}")]
    Invalid {
        origin: String,
        /// JSON pointer of the part that does not fit (`/paths/~1pets/get/responses`).
        pointer: String,
        message: String,
    },
    #[error("{origin}: at {pointer}: `$ref` {reference:?}: {reason}")]
    Reference {
        origin: String,
        pointer: String,
        reference: String,
        reason: String,
    },
    /// The spec is fine but the API cannot be called as configured (no server URL, …).
    #[error("{origin}: {reason}")]
    Unusable { origin: String, reason: String },
}

/// Which spec language a document is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpecVersion {
    Swagger2,
    OpenApi30,
    OpenApi31,
}

/// A parsed spec: the JSON tree (bundled, in OpenAPI 3 form) and the model read from it.
pub(crate) struct Document {
    pub origin: String,
    pub root: Value,
    pub model: oas3::Spec,
}

/// The spec's bytes. `client` fetches a URL (never with the API's credentials).
pub(crate) async fn read(
    location: &SpecLocation,
    client: &reqwest::Client,
) -> Result<Vec<u8>, LoadError> {
    let origin = location.to_string();
    let failed = |detail: String| LoadError::Read {
        origin: origin.clone(),
        detail,
    };
    match location {
        SpecLocation::Path(path) => tokio::fs::read(path)
            .await
            .map_err(|err| failed(err.to_string())),
        SpecLocation::Url(url) => {
            let fetch = async {
                let response = client
                    .get(url.clone())
                    .send()
                    .await
                    .map_err(|err| failed(crate::client::describe(&err)))?;
                if !response.status().is_success() {
                    return Err(failed(format!("HTTP {}", response.status())));
                }
                let mut body = Vec::new();
                let mut stream = response.bytes_stream();
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|err| failed(crate::client::describe(&err)))?;
                    if (body.len() + chunk.len()) as u64 > MAX_SPEC_BYTES {
                        return Err(failed(format!("larger than {MAX_SPEC_BYTES} bytes")));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(body)
            };
            tokio::time::timeout(FETCH_TIMEOUT, fetch)
                .await
                .map_err(|_| failed(format!("no answer within {}s", FETCH_TIMEOUT.as_secs())))?
        }
    }
}

/// Parses a spec's bytes into a [`Document`]. `spec_path` is the file it came from, whose
/// folder its external `$ref`s are read from (a spec from a URL may have none).
pub(crate) fn parse(
    origin: &str,
    bytes: &[u8],
    spec_path: Option<&Path>,
) -> Result<Document, LoadError> {
    let mut root = parse_text(origin, bytes)?;
    let version = version(origin, &root)?;
    match spec_path {
        Some(path) => external::bundle(&mut root, path, origin)?,
        None => refuse_external(origin, &root)?,
    }
    if version == SpecVersion::Swagger2 {
        root = crate::load::swagger::to_openapi_3(origin, root)?;
    }
    if version != SpecVersion::OpenApi31 {
        crate::schema::upgrade_3_0(&mut root);
    }
    external::inline_structural(&mut root, origin)?;
    let model = read_model(origin, &mut root)?;
    Ok(Document {
        origin: origin.to_owned(),
        root,
        model,
    })
}

/// The document model of `root`. Component schemas are set aside while it is read: schemas
/// are taken from the JSON tree, never from the model, so reading them into the model would
/// only cost time (a third of the GitHub spec's) and refuse schemas the tree carries fine.
fn read_model(origin: &str, root: &mut Value) -> Result<oas3::Spec, LoadError> {
    let components = root.get_mut("components").and_then(Value::as_object_mut);
    let schemas = components.and_then(|c| c.remove("schemas"));
    // The fast path first; on failure, again with the path tracked, for the pointer.
    let model = oas3::Spec::deserialize(&*root).or_else(|_| {
        serde_path_to_error::deserialize::<_, oas3::Spec>(&*root).map_err(|err| {
            LoadError::Invalid {
                origin: origin.to_owned(),
                pointer: json_pointer(err.path()),
                message: err.inner().to_string(),
            }
        })
    });
    if let Some(schemas) = schemas {
        if let Some(components) = root.get_mut("components").and_then(Value::as_object_mut) {
            components.insert("schemas".into(), schemas);
        }
    }
    model
}

/// JSON when it looks like JSON (`{` first), else YAML; either way one JSON tree.
pub(crate) fn parse_text(origin: &str, bytes: &[u8]) -> Result<Value, LoadError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let json = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    if json {
        serde_json::from_slice(bytes).map_err(|err| LoadError::Syntax {
            origin: origin.to_owned(),
            format: "JSON",
            detail: err.to_string(),
        })
    } else {
        yaml_serde::from_slice(bytes).map_err(|err| LoadError::Syntax {
            origin: origin.to_owned(),
            format: "YAML",
            detail: err.to_string(),
        })
    }
}

fn version(origin: &str, root: &Value) -> Result<SpecVersion, LoadError> {
    let not = |reason: String| LoadError::NotOpenApi {
        origin: origin.to_owned(),
        reason,
    };
    if !root.is_object() {
        return Err(not("the document is not an object".into()));
    }
    if let Some(version) = root.get("openapi") {
        let text = version
            .as_str()
            .ok_or_else(|| not("`openapi` is not a string".into()))?;
        return if text.starts_with("3.0") {
            Ok(SpecVersion::OpenApi30)
        } else if text.starts_with("3.1") || text.starts_with("3.2") {
            // 3.2 only adds to 3.1; what it adds is not used, the rest reads the same.
            Ok(SpecVersion::OpenApi31)
        } else {
            Err(not(format!(
                "unsupported version {text:?} (3.0, 3.1 and Swagger 2.0 are read)"
            )))
        };
    }
    match root.get("swagger").and_then(Value::as_str) {
        Some("2.0") => Ok(SpecVersion::Swagger2),
        Some(other) => Err(not(format!("unsupported Swagger version {other:?}"))),
        None => Err(not("no `openapi` or `swagger` field".into())),
    }
}

fn refuse_external(origin: &str, root: &Value) -> Result<(), LoadError> {
    let mut found = None;
    find_external(root, &mut String::new(), &mut found);
    match found {
        None => Ok(()),
        Some((pointer, reference)) => Err(LoadError::Reference {
            origin: origin.to_owned(),
            pointer,
            reference,
            reason: "a spec read from a URL can only use references inside itself".into(),
        }),
    }
}

fn find_external(value: &Value, pointer: &mut String, found: &mut Option<(String, String)>) {
    if found.is_some() {
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if external::DATA_KEYS.contains(&key.as_str()) {
                    continue;
                }
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&escape(key));
                match (key.as_str(), child) {
                    ("$ref", Value::String(r)) if !r.starts_with('#') => {
                        *found = Some((pointer.clone(), r.clone()));
                    }
                    _ => find_external(child, pointer, found),
                }
                pointer.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&i.to_string());
                find_external(child, pointer, found);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

/// A serde path as a JSON pointer.
fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => {
                pointer.push('/');
                pointer.push_str(&index.to_string());
            }
            Segment::Map { key } => {
                pointer.push('/');
                pointer.push_str(&escape(key));
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    if pointer.is_empty() {
        pointer.push('/');
    }
    pointer
}

/// Swagger 2.0 through `roas`: its 2.0 model and its 2.0 → 3.0 conversion (body and
/// formData parameters into request bodies, `collectionFormat` into style and explode,
/// `securityDefinitions` into security schemes, `host`/`basePath`/`schemes` into servers).
mod swagger {
    use serde_json::Value;

    use super::{json_pointer, LoadError};

    /// Integer and number formats `roas`' model knows; it refuses any other, which real
    /// specs use (`unix-time`), so those are hidden from it and put back afterwards.
    const MODELLED_FORMATS: &[&str] = &["int32", "int64", "float", "double"];
    const HIDDEN_FORMAT: &str = "x-codemode-format";

    pub(super) fn to_openapi_3(origin: &str, mut root: Value) -> Result<Value, LoadError> {
        walk(&mut root, &hide_format);
        let v2 =
            serde_path_to_error::deserialize::<_, roas::v2::spec::Spec>(&root).map_err(|err| {
                LoadError::Invalid {
                    origin: origin.to_owned(),
                    pointer: json_pointer(err.path()),
                    message: err.inner().to_string(),
                }
            })?;
        let v3: roas::v3_0::spec::Spec = v2.into();
        let mut converted = serde_json::to_value(&v3).map_err(|err| LoadError::Invalid {
            origin: origin.to_owned(),
            pointer: "/".into(),
            message: format!("the converted 3.0 document cannot be written: {err}"),
        })?;
        walk(&mut converted, &restore_format);
        // `roas` writes the version it converted to; say 3.0 to the 3.x model either way.
        if let Value::Object(map) = &mut converted {
            map.insert("openapi".into(), Value::String("3.0.3".into()));
            if let Some(bundle) = root.get(crate::external::BUNDLE_KEY) {
                map.entry(crate::external::BUNDLE_KEY)
                    .or_insert_with(|| bundle.clone());
            }
        }
        Ok(converted)
    }

    fn hide_format(map: &mut serde_json::Map<String, Value>) {
        let numeric = matches!(
            map.get("type").and_then(Value::as_str),
            Some("integer" | "number")
        );
        let unmodelled = map
            .get("format")
            .and_then(Value::as_str)
            .is_some_and(|f| !MODELLED_FORMATS.contains(&f));
        if numeric && unmodelled {
            if let Some(format) = map.remove("format") {
                map.insert(HIDDEN_FORMAT.into(), format);
            }
        }
    }

    fn restore_format(map: &mut serde_json::Map<String, Value>) {
        if let Some(format) = map.remove(HIDDEN_FORMAT) {
            map.insert("format".into(), format);
        }
    }

    fn walk(value: &mut Value, visit: &dyn Fn(&mut serde_json::Map<String, Value>)) {
        match value {
            Value::Object(map) => {
                visit(map);
                for child in map.values_mut() {
                    walk(child, visit);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|child| walk(child, visit)),
            _ => {}
        }
    }
}
