//! `$ref`s that leave the document: files next to the spec, bundled into the one document
//! before anything else reads it, so every later step sees only local references.
//!
//! Each referenced file is read once and stored under the root's [`BUNDLE_KEY`] (an
//! extension field, which the OpenAPI models keep as opaque JSON); every `$ref` into it,
//! and every `$ref` inside it, is rewritten to a local pointer there. Recursion across files
//! therefore stays a reference, never an expansion.
//!
//! Then [`inline_structural`] replaces the references the document model cannot follow
//! (a path item's `$ref`, and a parameter, request body, response or header that points
//! anywhere but its own `#/components/<kind>/` section, such as into a bundled file) by a
//! copy of their target. Those objects are not recursive, so a copy is bounded.
//!
//! Only files inside the spec's folder (or below it) are read, at most [`MAX_FILES`] of them:
//! a spec's references must not become a way to read the rest of the disk into tool
//! descriptions.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::load::{parse_text, LoadError};

/// Where bundled files live in the root document: `#/x-codemode-external/<n>/…`.
pub(crate) const BUNDLE_KEY: &str = "x-codemode-external";
/// The most files one spec may pull in.
const MAX_FILES: usize = 500;
/// How many `$ref` hops a structural reference may take before it is called broken.
const MAX_HOPS: usize = 16;

/// Keys whose values are data, not schema or spec structure: a `$ref` key inside them is
/// part of an example, not a reference.
pub(crate) const DATA_KEYS: &[&str] = &["example", "examples", "default", "enum", "const"];

/// Bundles every file `root` (read from `spec_path`) references, if it references any.
pub(crate) fn bundle(root: &mut Value, spec_path: &Path, origin: &str) -> Result<(), LoadError> {
    if !has_external_ref(root) {
        return Ok(());
    }
    let spec_path = spec_path.canonicalize().map_err(|err| LoadError::Read {
        origin: origin.to_owned(),
        detail: err.to_string(),
    })?;
    let folder = spec_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"));
    let mut bundler = Bundler {
        origin,
        folder,
        docs: Vec::new(),
        index: HashMap::new(),
    };
    bundler.rewrite(root, &spec_path, None, &mut String::new())?;
    let docs = std::mem::take(&mut bundler.docs);
    if let Value::Object(map) = root {
        map.insert(
            BUNDLE_KEY.to_owned(),
            Value::Array(docs.into_iter().map(|(_, doc)| doc).collect()),
        );
    }
    Ok(())
}

fn has_external_ref(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(key, child)| match (key.as_str(), child) {
            ("$ref", Value::String(reference)) => !reference.starts_with('#'),
            (key, _) if DATA_KEYS.contains(&key) => false,
            (_, child) => has_external_ref(child),
        }),
        Value::Array(items) => items.iter().any(has_external_ref),
        _ => false,
    }
}

struct Bundler<'a> {
    origin: &'a str,
    /// References may reach files in this folder and below.
    folder: PathBuf,
    /// The bundled files in the order first referenced: (path, rewritten content).
    docs: Vec<(PathBuf, Value)>,
    index: HashMap<PathBuf, usize>,
}

impl Bundler<'_> {
    /// Rewrites every `$ref` in `value`, which sits in `file` (bundled as `doc`, or the root
    /// when `None`). `pointer` is where `value` is, for messages.
    fn rewrite(
        &mut self,
        value: &mut Value,
        file: &Path,
        doc: Option<usize>,
        pointer: &mut String,
    ) -> Result<(), LoadError> {
        match value {
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    if DATA_KEYS.contains(&key.as_str()) {
                        continue;
                    }
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&escape(key));
                    if key == "$ref" {
                        if let Value::String(reference) = child {
                            *reference = self.local_reference(reference, file, doc, pointer)?;
                        }
                    } else {
                        self.rewrite(child, file, doc, pointer)?;
                    }
                    pointer.truncate(len);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter_mut().enumerate() {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&i.to_string());
                    self.rewrite(child, file, doc, pointer)?;
                    pointer.truncate(len);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The local pointer that replaces `reference`, reading its file if need be.
    fn local_reference(
        &mut self,
        reference: &str,
        file: &Path,
        doc: Option<usize>,
        pointer: &str,
    ) -> Result<String, LoadError> {
        let (target_file, fragment) = match reference.split_once('#') {
            Some((file_part, fragment)) => (file_part, fragment),
            None => (reference, ""),
        };
        let broken = |reason: String| LoadError::Reference {
            origin: self.origin.to_owned(),
            pointer: pointer.to_owned(),
            reference: reference.to_owned(),
            reason,
        };
        let target = if target_file.is_empty() {
            doc
        } else {
            if target_file.contains("://") {
                return Err(broken(
                    "only files next to the spec can be referenced, not URLs".into(),
                ));
            }
            let decoded = percent_encoding::percent_decode_str(target_file)
                .decode_utf8()
                .map_err(|_| broken("the file name is not UTF-8".into()))?;
            let base = file.parent().unwrap_or(Path::new("/"));
            let path = base
                .join(decoded.as_ref())
                .canonicalize()
                .map_err(|err| broken(format!("cannot read the file: {err}")))?;
            if !path.starts_with(&self.folder) {
                return Err(broken(format!(
                    "the file is outside the spec's folder {}",
                    self.folder.display()
                )));
            }
            Some(self.load(&path, reference, pointer)?)
        };
        Ok(match target {
            None => format!("#{fragment}"),
            Some(n) => format!("#/{BUNDLE_KEY}/{n}{fragment}"),
        })
    }

    fn load(&mut self, path: &Path, reference: &str, pointer: &str) -> Result<usize, LoadError> {
        if let Some(&n) = self.index.get(path) {
            return Ok(n);
        }
        if self.docs.len() >= MAX_FILES {
            return Err(LoadError::Reference {
                origin: self.origin.to_owned(),
                pointer: pointer.to_owned(),
                reference: reference.to_owned(),
                reason: format!("more than {MAX_FILES} referenced files"),
            });
        }
        let origin = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|err| LoadError::Read {
            origin: origin.clone(),
            detail: err.to_string(),
        })?;
        let mut content = parse_text(&origin, &bytes)?;
        let n = self.docs.len();
        // Registered before its own references are followed, so files that reference each
        // other end instead of recursing.
        self.index.insert(path.to_owned(), n);
        self.docs.push((path.to_owned(), Value::Null));
        self.rewrite(&mut content, path, Some(n), &mut String::new())?;
        self.docs[n].1 = content;
        Ok(n)
    }
}

/// Replaces structural references the document model cannot follow by copies of their
/// targets (see the module header).
pub(crate) fn inline_structural(root: &mut Value, origin: &str) -> Result<(), LoadError> {
    let Some(paths) = root.get("paths").and_then(Value::as_object) else {
        return Ok(());
    };
    let mut replacements: Vec<(String, Value)> = Vec::new();
    for (path, item) in paths {
        let item_pointer = format!("/paths/{}", escape(path));
        let item = if is_ref(item) {
            let target = follow(root, item, &item_pointer, origin)?;
            replacements.push((item_pointer.clone(), target.clone()));
            target
        } else {
            item
        };
        let Some(item_map) = item.as_object() else {
            continue;
        };
        for (key, child) in item_map {
            let child_pointer = format!("{item_pointer}/{}", escape(key));
            if key == "parameters" {
                collect_list(
                    root,
                    child,
                    &child_pointer,
                    "parameters",
                    origin,
                    &mut replacements,
                )?;
            } else if crate::operations::METHODS.contains(&key.as_str()) {
                let Some(operation) = child.as_object() else {
                    continue;
                };
                if let Some(list) = operation.get("parameters") {
                    let at = format!("{child_pointer}/parameters");
                    collect_list(root, list, &at, "parameters", origin, &mut replacements)?;
                }
                if let Some(body) = operation.get("requestBody") {
                    let at = format!("{child_pointer}/requestBody");
                    collect_one(root, body, &at, "requestBodies", origin, &mut replacements)?;
                }
                if let Some(responses) = operation.get("responses").and_then(Value::as_object) {
                    for (code, response) in responses {
                        let at = format!("{child_pointer}/responses/{}", escape(code));
                        collect_one(root, response, &at, "responses", origin, &mut replacements)?;
                    }
                }
            }
        }
    }
    // Path items first (shorter pointers), so a copied item's own slots land in the copy.
    replacements.sort_by_key(|(pointer, _)| pointer.len());
    for (pointer, target) in replacements {
        if let Some(slot) = root.pointer_mut(&pointer) {
            *slot = target;
        }
    }
    Ok(())
}

fn collect_list(
    root: &Value,
    list: &Value,
    pointer: &str,
    kind: &str,
    origin: &str,
    out: &mut Vec<(String, Value)>,
) -> Result<(), LoadError> {
    if let Some(items) = list.as_array() {
        for (i, item) in items.iter().enumerate() {
            collect_one(root, item, &format!("{pointer}/{i}"), kind, origin, out)?;
        }
    }
    Ok(())
}

/// Records a copy of `slot`'s target unless it is inline or a plain component reference
/// the model resolves itself.
fn collect_one(
    root: &Value,
    slot: &Value,
    pointer: &str,
    kind: &str,
    origin: &str,
    out: &mut Vec<(String, Value)>,
) -> Result<(), LoadError> {
    let Some(reference) = slot.get("$ref").and_then(Value::as_str) else {
        return Ok(());
    };
    let own_section = format!("#/components/{kind}/");
    let plain = reference
        .strip_prefix(&own_section)
        .is_some_and(|name| !name.contains('/'));
    if !plain {
        out.push((
            pointer.to_owned(),
            follow(root, slot, pointer, origin)?.clone(),
        ));
    }
    Ok(())
}

fn is_ref(value: &Value) -> bool {
    value.get("$ref").is_some_and(Value::is_string)
}

/// Follows a chain of local references from `slot` to the object at its end.
fn follow<'a>(
    root: &'a Value,
    slot: &'a Value,
    pointer: &str,
    origin: &str,
) -> Result<&'a Value, LoadError> {
    let mut current = slot;
    for _ in 0..MAX_HOPS {
        let Some(reference) = current.get("$ref").and_then(Value::as_str) else {
            return Ok(current);
        };
        let broken = |reason: &str| LoadError::Reference {
            origin: origin.to_owned(),
            pointer: pointer.to_owned(),
            reference: reference.to_owned(),
            reason: reason.to_owned(),
        };
        let fragment = reference
            .strip_prefix('#')
            .ok_or_else(|| broken("not a local reference"))?;
        current = root
            .pointer(fragment)
            .ok_or_else(|| broken("nothing is there"))?;
    }
    Err(LoadError::Reference {
        origin: origin.to_owned(),
        pointer: pointer.to_owned(),
        reference: slot
            .get("$ref")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        reason: format!("more than {MAX_HOPS} references in a row"),
    })
}

/// A JSON pointer segment (`~` → `~0`, `/` → `~1`).
pub(crate) fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}
