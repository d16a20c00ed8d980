//! [`TsType`] → TypeScript text, in two styles:
//!
//! * [`Pretty`]: for declaration files. Objects go on one line when they carry no JSDoc and
//!   fit in [`WIDTH`] columns, otherwise one property per line with its JSDoc; `unknown`
//!   keeps the comment that says why.
//! * [`Compact`]: one line for search results, named types expanded in place and qualified
//!   with the namespace (`memory.Entity`) where they are kept; past a depth limit, objects are
//!   elided as `{...}` and named types stay names, so the text shortens without lying.

use serde_json::Value;

use super::ast::{Object, Property, TsType, Tuple};
use super::convert::NamedTypes;
use super::doc::{escape_comment, write_jsdoc};
use crate::naming::is_property_name;

/// Preferred line width of declaration files.
pub(crate) const WIDTH: usize = 100;
const INDENT: &str = "  ";

/// A single-line rendering without comments and without expanding names.
pub(crate) fn plain(ty: &TsType) -> String {
    Compact::plain().render(ty, 0)
}

/// A property name, quoted when it is not an identifier.
fn property_key(property: &Property) -> String {
    let name = if is_property_name(&property.name) {
        property.name.clone()
    } else {
        Value::String(property.name.clone()).to_string()
    };
    if property.optional {
        format!("{name}?")
    } else {
        name
    }
}

/// Whether a union or intersection must be parenthesised as an array element.
fn needs_parens_in_array(ty: &TsType) -> bool {
    matches!(ty, TsType::Union(_) | TsType::Intersection(_))
}

/// Whether any property inside `ty` (at any depth) carries JSDoc.
pub(crate) fn has_docs(ty: &TsType) -> bool {
    match ty {
        TsType::Object(object) => {
            object
                .properties
                .iter()
                .any(|p| !p.doc.is_empty() || has_docs(&p.ty))
                || object.index.as_deref().is_some_and(has_docs)
        }
        TsType::Array(element) => has_docs(element),
        TsType::Tuple(tuple) => {
            tuple.elements.iter().any(has_docs) || tuple.rest.as_deref().is_some_and(has_docs)
        }
        TsType::Union(members) | TsType::Intersection(members) => members.iter().any(has_docs),
        _ => false,
    }
}

/// Multi-line rendering for declaration files; in a search answer, named types are
/// qualified with their namespace (`memory.Entity`), as they are read outside it.
pub(crate) struct Pretty<'a> {
    qualify: Option<&'a str>,
}

impl Pretty<'_> {
    /// Renders `ty` whose first line starts at indentation `level` (the caller writes that
    /// indentation); continuation lines are indented by the renderer.
    pub fn render(ty: &TsType, level: usize) -> String {
        Pretty { qualify: None }.ty(ty, level)
    }
}

impl<'a> Pretty<'a> {
    /// Named types written `namespace.Name`.
    pub fn qualified(namespace: &'a str) -> Self {
        Pretty {
            qualify: Some(namespace),
        }
    }

    pub fn ty(&self, ty: &TsType, level: usize) -> String {
        match ty {
            TsType::Named(name) => match self.qualify {
                Some(namespace) => format!("{namespace}.{name}"),
                None => name.clone(),
            },
            TsType::Object(object) => self.object(object, level, false),
            TsType::Array(element) => {
                let inner = self.ty(element, level);
                if needs_parens_in_array(element) {
                    format!("({inner})[]")
                } else {
                    format!("{inner}[]")
                }
            }
            TsType::Tuple(tuple) => tuple_text(tuple, |t| self.ty(t, level)),
            TsType::Union(members) => {
                let one_line = members
                    .iter()
                    .map(|m| self.ty(m, level))
                    .collect::<Vec<_>>()
                    .join(" | ");
                let too_wide = level * INDENT.len() + one_line.len() > WIDTH;
                if !too_wide || one_line.contains('\n') {
                    return one_line;
                }
                // Break the object members instead of writing one very long line.
                members
                    .iter()
                    .map(|m| match m {
                        TsType::Object(object) => self.object(object, level, true),
                        other => self.ty(other, level),
                    })
                    .collect::<Vec<_>>()
                    .join(" | ")
            }
            TsType::Intersection(members) => members
                .iter()
                .map(|m| {
                    let text = self.ty(m, level);
                    if matches!(m, TsType::Union(_)) {
                        format!("({text})")
                    } else {
                        text
                    }
                })
                .collect::<Vec<_>>()
                .join(" & "),
            other => Compact::declaration().render(other, 0),
        }
    }

    fn object(&self, object: &Object, level: usize, force_multiline: bool) -> String {
        if object.properties.is_empty() && object.index.is_none() {
            return "{}".into();
        }
        let documented = object
            .properties
            .iter()
            .any(|p| !p.doc.is_empty() || has_docs(&p.ty))
            || object.index.as_deref().is_some_and(has_docs);
        if !documented && !force_multiline {
            let one_line = Compact::declaration().object(object, 0);
            if level * INDENT.len() + one_line.len() <= WIDTH && !one_line.contains('\n') {
                return one_line;
            }
        }
        let indent = INDENT.repeat(level + 1);
        let mut out = String::from("{\n");
        for property in &object.properties {
            write_jsdoc(&mut out, &property.doc, &indent);
            out.push_str(&format!(
                "{indent}{}: {};\n",
                property_key(property),
                self.ty(&property.ty, level + 1)
            ));
        }
        if let Some(index) = &object.index {
            out.push_str(&format!(
                "{indent}[key: string]: {};\n",
                self.ty(index, level + 1)
            ));
        }
        out.push_str(&INDENT.repeat(level));
        out.push('}');
        out
    }
}

fn tuple_text(tuple: &Tuple, mut render: impl FnMut(&TsType) -> String) -> String {
    let mut parts: Vec<String> = tuple
        .elements
        .iter()
        .enumerate()
        .map(|(i, element)| {
            let text = render(element);
            if i >= tuple.required {
                // `[A | B?]` does not parse as an optional element: it needs `[(A | B)?]`.
                if needs_parens_in_array(element) {
                    format!("({text})?")
                } else {
                    format!("{text}?")
                }
            } else {
                text
            }
        })
        .collect();
    if let Some(rest) = &tuple.rest {
        let text = render(rest);
        parts.push(if needs_parens_in_array(rest) {
            format!("...({text})[]")
        } else {
            format!("...{text}[]")
        });
    }
    format!("[{}]", parts.join(", "))
}

/// Single-line rendering.
pub(crate) struct Compact<'a> {
    /// Keep `unknown`'s reasons as `/* … */` comments.
    comments: bool,
    /// Expand named types from this registry; names that stay are prefixed with the
    /// namespace. `None` writes names bare, as inside the namespace.
    expand: Option<(&'a NamedTypes, &'a str)>,
    /// Objects at this depth or deeper are elided (`usize::MAX`: never).
    depth_limit: usize,
    /// Declared names; any other named type must be expanded, whatever the depth.
    is_declared: &'a dyn Fn(&str) -> bool,
    /// Expand only a tool's whole input or output; named parts stay names, declared once
    /// beside the signatures.
    roots_only: bool,
    expanding: Vec<String>,
}

impl<'a> Compact<'a> {
    fn plain() -> Self {
        Compact {
            comments: false,
            expand: None,
            depth_limit: usize::MAX,
            is_declared: &|_| true,
            roots_only: false,
            expanding: Vec::new(),
        }
    }

    /// Inline parts of a declaration file: names bare, comments kept.
    pub fn declaration() -> Self {
        Compact {
            comments: true,
            ..Self::plain()
        }
    }

    /// Search-result style: names expanded up to `depth_limit` object levels.
    pub fn signature(
        registry: &'a NamedTypes,
        namespace: &'a str,
        depth_limit: usize,
        is_declared: &'a dyn Fn(&str) -> bool,
    ) -> Self {
        Compact {
            comments: false,
            expand: Some((registry, namespace)),
            depth_limit,
            is_declared,
            roots_only: false,
            expanding: Vec::new(),
        }
    }

    /// A search answer's one-line style: the tool's input and output written out, every
    /// other named type kept as `namespace.Name`.
    pub fn roots(
        registry: &'a NamedTypes,
        namespace: &'a str,
        is_declared: &'a dyn Fn(&str) -> bool,
    ) -> Self {
        Compact {
            roots_only: true,
            ..Self::signature(registry, namespace, usize::MAX, is_declared)
        }
    }

    pub fn render(&mut self, ty: &TsType, depth: usize) -> String {
        match ty {
            TsType::Unknown(Some(reason)) if self.comments => {
                format!("unknown /* {} */", escape_comment(reason))
            }
            TsType::Unknown(_) => "unknown".into(),
            TsType::Never => "never".into(),
            TsType::String => "string".into(),
            TsType::Number => "number".into(),
            TsType::Boolean => "boolean".into(),
            TsType::Null => "null".into(),
            TsType::Undefined => "undefined".into(),
            TsType::Literal(text) => text.clone(),
            TsType::Array(element) => {
                let inner = self.render(element, depth);
                if needs_parens_in_array(element) || self.expands_to_composite(element) {
                    format!("({inner})[]")
                } else {
                    format!("{inner}[]")
                }
            }
            TsType::Tuple(tuple) => {
                let mut parts: Vec<String> = Vec::new();
                for (i, element) in tuple.elements.iter().enumerate() {
                    let text = self.render(element, depth);
                    let composite =
                        needs_parens_in_array(element) || self.expands_to_composite(element);
                    parts.push(match (i >= tuple.required, composite) {
                        (true, true) => format!("({text})?"),
                        (true, false) => format!("{text}?"),
                        (false, _) => text,
                    });
                }
                if let Some(rest) = &tuple.rest {
                    let text = self.render(rest, depth);
                    parts.push(
                        if needs_parens_in_array(rest) || self.expands_to_composite(rest) {
                            format!("...({text})[]")
                        } else {
                            format!("...{text}[]")
                        },
                    );
                }
                format!("[{}]", parts.join(", "))
            }
            TsType::Object(object) => self.object(object, depth),
            TsType::Union(members) => members
                .iter()
                .map(|m| self.render(m, depth))
                .collect::<Vec<_>>()
                .join(" | "),
            TsType::Intersection(members) => members
                .iter()
                .map(|m| {
                    let text = self.render(m, depth);
                    if matches!(m, TsType::Union(_)) || self.expands_to_union(m) {
                        format!("({text})")
                    } else {
                        text
                    }
                })
                .collect::<Vec<_>>()
                .join(" & "),
            TsType::Named(name) => self.named(name, depth),
        }
    }

    fn object(&mut self, object: &Object, depth: usize) -> String {
        if object.properties.is_empty() && object.index.is_none() {
            return "{}".into();
        }
        if depth >= self.depth_limit {
            return "{...}".into();
        }
        let mut parts: Vec<String> = object
            .properties
            .iter()
            .map(|p| format!("{}: {}", property_key(p), self.render(&p.ty, depth + 1)))
            .collect();
        if let Some(index) = &object.index {
            parts.push(format!("[key: string]: {}", self.render(index, depth + 1)));
        }
        format!("{{ {} }}", parts.join("; "))
    }

    fn named(&mut self, name: &str, depth: usize) -> String {
        let Some((registry, namespace)) = self.expand else {
            return name.to_owned();
        };
        let declared = (self.is_declared)(name);
        let part = self.roots_only && registry.get(name).is_some_and(|named| !named.is_root);
        let keep_name = declared
            && (part || depth >= self.depth_limit || self.expanding.iter().any(|n| n == name));
        match registry.get(name) {
            Some(named) if !keep_name => {
                // An undeclared type has no name to fall back on: show at least its top
                // level, as its declaration-file form does.
                let saved_limit = self.depth_limit;
                if !declared {
                    self.depth_limit = self.depth_limit.max(depth.saturating_add(1));
                }
                self.expanding.push(name.to_owned());
                let text = self.render(&named.ty, depth);
                self.expanding.pop();
                self.depth_limit = saved_limit;
                text
            }
            _ => format!("{namespace}.{name}"),
        }
    }

    /// Whether a named type will be written expanded as a union or intersection, which
    /// then needs parentheses where the name did not.
    fn expands_to_composite(&self, ty: &TsType) -> bool {
        self.expanded_body(ty)
            .is_some_and(|body| needs_parens_in_array(body) || self.expands_to_composite(body))
    }

    fn expands_to_union(&self, ty: &TsType) -> bool {
        self.expanded_body(ty)
            .is_some_and(|body| matches!(body, TsType::Union(_)) || self.expands_to_union(body))
    }

    fn expanded_body(&self, ty: &TsType) -> Option<&'a TsType> {
        let TsType::Named(name) = ty else { return None };
        let (registry, _) = self.expand?;
        if self.expanding.iter().any(|n| n == name) {
            return None;
        }
        let named = registry.get(name)?;
        if self.roots_only && !named.is_root && (self.is_declared)(name) {
            return None;
        }
        Some(&named.ty)
    }
}
