//! Gives repeated anonymous object types one name.
//!
//! Schema generators such as zod inline every nested object, so a namespace can spell out
//! the same `{ name: string; entityType: string; observations: string[] }` in five tools.
//! Declaring it once (`Entity`) and referring to it by name says exactly the same, costs the
//! agent fewer tokens and shows that the five are one thing. Names come from where the
//! object first appears: the property `entities: {...}[]` gives `Entity`.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use rustc_hash::FxHasher;

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
    let mut found: Vec<(Shape<'_>, Hint<'_>)> = Vec::new();
    let mut named: HashSet<Shape<'_>> = HashSet::new();
    for declared in registry.types() {
        let owner = declared.is_root.then(|| owner_of(&declared.name));
        let top = Top::Yes { owner };
        let hash = walk(&declared.ty, Hint::Item(&declared.name), top, &mut found);
        if !declared.is_root {
            named.insert(Shape {
                hash,
                ty: &declared.ty,
            });
        }
    }
    let mut counts: HashMap<Shape<'_>, usize> = HashMap::new();
    for (shape, _) in &found {
        *counts.entry(*shape).or_default() += 1;
    }
    found
        .into_iter()
        .find(|(shape, _)| counts.get(shape).is_some_and(|n| *n >= 2) || named.contains(shape))
        .map(|(shape, hint)| (shape.ty.clone(), hint.name()))
}

/// A type with the hash of its whole tree, computed bottom-up once by [`walk`]: hashing each
/// candidate again from scratch would hash every object once per object around it.
#[derive(Clone, Copy)]
struct Shape<'t> {
    hash: u64,
    ty: &'t TsType,
}

impl PartialEq for Shape<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.ty == other.ty
    }
}

impl Eq for Shape<'_> {}

impl Hash for Shape<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// Property names that say where a value goes, not what it is: an object found under one
/// of them, right below a tool's input or output, is named after the tool
/// (`PostRefundsBody`, not `Body7`).
const GENERIC_PROPERTY_NAMES: &[&str] = &[
    "body",
    "data",
    "params",
    "parameters",
    "options",
    "input",
    "output",
    "result",
    "request",
    "response",
    "payload",
    "value",
    "args",
    "arguments",
    "config",
];

/// Where [`walk`] is: at the top of a declared type (whose own object is not a candidate),
/// with the tool's name when that type is a tool's input or output, or below it.
#[derive(Clone, Copy)]
enum Top<'n> {
    Yes { owner: Option<&'n str> },
    No,
}

/// What a candidate would be named, kept as borrowed parts: only the one chosen is spelled
/// out, and a namespace of thousands of operations has hundreds of thousands of candidates.
#[derive(Clone, Copy)]
enum Hint<'n> {
    /// The items of the declared type so named (`<Name>Item`).
    Item(&'n str),
    /// The value of a property; `owner` is the tool whose input or output holds it when the
    /// name is generic.
    Property {
        name: &'n str,
        array: bool,
        owner: Option<&'n str>,
    },
}

impl Hint<'_> {
    fn name(self) -> String {
        match self {
            Hint::Item(name) => format!("{name}Item"),
            Hint::Property { name, array, owner } => {
                let mut name = pascal_case(&identifier(name));
                if array {
                    name = singular(&name);
                }
                match owner {
                    Some(owner) => format!("{owner}{name}"),
                    None => name,
                }
            }
        }
    }
}

/// The tool part of a root type's name: `PostRefundsInput` → `PostRefunds`.
fn owner_of(root_name: &str) -> &str {
    let trimmed = root_name.trim_end_matches(|c: char| c.is_ascii_digit());
    ["Input", "Output"]
        .iter()
        .find_map(|suffix| trimmed.strip_suffix(suffix))
        .filter(|owner| !owner.is_empty())
        .unwrap_or(root_name)
}

/// Collects candidate objects in pre-order with a name hint for each, and returns the hash
/// of `ty`'s whole tree (equal types hash equal).
fn walk<'t>(
    ty: &'t TsType,
    hint: Hint<'t>,
    top: Top<'t>,
    found: &mut Vec<(Shape<'t>, Hint<'t>)>,
) -> u64 {
    // Fx, not SipHash: every round hashes every property's name and documentation again.
    // Equal hashes are always compared in full, so a collision costs time, never a wrong
    // merge.
    let mut hasher = FxHasher::default();
    std::mem::discriminant(ty).hash(&mut hasher);
    // Reserved before the children are walked: candidates stay in pre-order.
    let slot = match ty {
        TsType::Object(object)
            if matches!(top, Top::No) && object.properties.len() >= MIN_PROPERTIES =>
        {
            found.push((Shape { hash: 0, ty }, hint));
            Some(found.len() - 1)
        }
        _ => None,
    };
    match ty {
        TsType::Object(object) => {
            for property in &object.properties {
                let owner = match top {
                    Top::Yes { owner } => owner.filter(|_| {
                        GENERIC_PROPERTY_NAMES
                            .iter()
                            .any(|g| property.name.eq_ignore_ascii_case(g))
                    }),
                    Top::No => None,
                };
                let hint = Hint::Property {
                    name: &property.name,
                    array: matches!(property.ty, TsType::Array(_)),
                    owner,
                };
                property.name.hash(&mut hasher);
                property.optional.hash(&mut hasher);
                property.doc.hash(&mut hasher);
                walk(&property.ty, hint, Top::No, found).hash(&mut hasher);
            }
            match &object.index {
                Some(index) => walk(index, hint, Top::No, found).hash(&mut hasher),
                None => 0u64.hash(&mut hasher),
            }
        }
        TsType::Array(element) => walk(element, hint, Top::No, found).hash(&mut hasher),
        TsType::Tuple(tuple) => {
            tuple.required.hash(&mut hasher);
            for element in &tuple.elements {
                walk(element, hint, Top::No, found).hash(&mut hasher);
            }
            match &tuple.rest {
                Some(rest) => walk(rest, hint, Top::No, found).hash(&mut hasher),
                None => 0u64.hash(&mut hasher),
            }
        }
        TsType::Union(members) | TsType::Intersection(members) => {
            for member in members {
                walk(member, hint, Top::No, found).hash(&mut hasher);
            }
        }
        leaf => leaf.hash(&mut hasher),
    }
    let hash = hasher.finish();
    if let Some(slot) = slot {
        found[slot].0.hash = hash;
    }
    hash
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
