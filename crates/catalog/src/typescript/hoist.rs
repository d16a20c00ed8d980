//! Gives repeated anonymous object types one name.
//!
//! Schema generators such as zod inline every nested object, so a namespace can spell out
//! the same `{ name: string; entityType: string; observations: string[] }` in five tools.
//! Declaring it once (`Entity`) and referring to it by name says exactly the same, costs the
//! agent fewer tokens and shows that the five are one thing. Names come from where the
//! object first appears: the property `entities: {...}[]` gives `Entity`.

use std::collections::HashMap;

use super::ast::TsType;
use super::convert::NamedTypes;
use crate::naming::{identifier, pascal_case};

/// Objects with fewer properties are left in place: a name would not be shorter.
const MIN_PROPERTIES: usize = 2;

/// Repeatedly names the first (outermost, earliest) object that occurs twice or more below
/// the top of the namespace's types, or that equals an already named non-root type.
pub(crate) fn hoist_repeated_objects(registry: &mut NamedTypes) {
    while let Some((object, hint)) = first_repeated(registry) {
        let existing = registry
            .types()
            .find(|t| !t.is_root && t.ty == object)
            .map(|t| t.name.clone());
        let name = existing.unwrap_or_else(|| registry.add(&hint, object.clone()));
        for named in registry.types_mut() {
            replace_below_top(&mut named.ty, &object, &name);
        }
    }
}

fn first_repeated(registry: &NamedTypes) -> Option<(TsType, String)> {
    let mut found: Vec<(&TsType, String)> = Vec::new();
    for named in registry.types() {
        walk(&named.ty, &format!("{}Item", named.name), true, &mut found);
    }
    let mut counts: HashMap<&TsType, usize> = HashMap::new();
    for (ty, _) in &found {
        *counts.entry(*ty).or_default() += 1;
    }
    found
        .into_iter()
        .find(|(ty, _)| {
            counts.get(ty).is_some_and(|n| *n >= 2)
                || registry.types().any(|t| !t.is_root && t.ty == **ty)
        })
        .map(|(ty, hint)| (ty.clone(), hint))
}

/// Collects candidate objects in pre-order with a name hint for each.
fn walk<'t>(ty: &'t TsType, hint: &str, top: bool, found: &mut Vec<(&'t TsType, String)>) {
    match ty {
        TsType::Object(object) => {
            if !top && object.properties.len() >= MIN_PROPERTIES {
                found.push((ty, hint.to_owned()));
            }
            for property in &object.properties {
                let mut name = pascal_case(&identifier(&property.name));
                if matches!(property.ty, TsType::Array(_)) {
                    name = singular(&name);
                }
                walk(&property.ty, &name, false, found);
            }
            if let Some(index) = &object.index {
                walk(index, hint, false, found);
            }
        }
        TsType::Array(element) => walk(element, hint, false, found),
        TsType::Tuple(tuple) => {
            for element in tuple.elements.iter().chain(tuple.rest.as_deref()) {
                walk(element, hint, false, found);
            }
        }
        TsType::Union(members) | TsType::Intersection(members) => {
            for member in members {
                walk(member, hint, false, found);
            }
        }
        _ => {}
    }
}

/// Replaces every occurrence of `object` inside `ty` (but not `ty` itself) by `name`.
fn replace_below_top(ty: &mut TsType, object: &TsType, name: &str) {
    let children: Vec<&mut TsType> = match ty {
        TsType::Object(o) => o
            .properties
            .iter_mut()
            .map(|p| &mut p.ty)
            .chain(o.index.as_deref_mut())
            .collect(),
        TsType::Array(element) => vec![element.as_mut()],
        TsType::Tuple(t) => t.elements.iter_mut().chain(t.rest.as_deref_mut()).collect(),
        TsType::Union(members) | TsType::Intersection(members) => members.iter_mut().collect(),
        _ => Vec::new(),
    };
    for child in children {
        if child == object {
            *child = TsType::Named(name.to_owned());
        } else {
            replace_below_top(child, object, name);
        }
    }
}

/// A plural English noun made singular, for naming the items of an array property
/// (`Entities` → `Entity`, `Matches` → `Match`, `Relations` → `Relation`).
fn singular(name: &str) -> String {
    let rules: [(&str, &str); 5] = [
        ("ies", "y"),
        ("sses", "ss"),
        ("ches", "ch"),
        ("shes", "sh"),
        ("xes", "x"),
    ];
    for (plural, single) in rules {
        if let Some(stem) = name.strip_suffix(plural) {
            if stem.len() >= 2 {
                return format!("{stem}{single}");
            }
        }
    }
    match name.strip_suffix('s') {
        Some(stem) if stem.len() >= 3 && !stem.ends_with(['s', 'u', 'i']) => stem.to_owned(),
        _ => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::singular;

    #[test]
    fn singular_names() {
        for (plural, single) in [
            ("Entities", "Entity"),
            ("Relations", "Relation"),
            ("Matches", "Match"),
            ("Addresses", "Address"),
            ("Boxes", "Box"),
            ("Status", "Status"),
            ("Content", "Content"),
            ("Analysis", "Analysis"),
            ("Ids", "Ids"),
        ] {
            assert_eq!(singular(plural), single);
        }
    }
}
