//! One naming rule for every TypeScript identifier the agent sees: namespaces (server names),
//! tool functions and the type names derived from them.
//!
//! The rule keeps names recognisable (original spelling and case) and only repairs what would
//! not parse, so an agent that knows the upstream name `get-sum` finds `get_sum`:
//!
//! 1. every character that is not an ASCII letter, digit, `_` or `$` becomes `_`
//!    (non-ASCII letters are replaced too: simpler to predict than Unicode ID_Start rules);
//! 2. a leading digit gets a `_` prefix; an empty name becomes `_`;
//! 3. a [reserved word](RESERVED_WORDS) gets a `_` suffix.
//!
//! Two names of one namespace can map to the same identifier (`get-sum`, `get_sum`);
//! [`NameMap`] resolves that deterministically.

use std::collections::{BTreeMap, BTreeSet};

/// Words that get a `_` suffix. Chosen so that the identifier is valid wherever we use it:
/// as a `declare namespace` name, a binding in strict-mode agent code, and a property name.
///
/// * ECMAScript reserved words (`break` … `with`, plus the literals `null`, `true`, `false`);
/// * words reserved in strict mode or in modules (`await`, `enum`, `implements`,
///   `interface`, `let`, `package`, `private`, `protected`, `public`, `static`, `yield`);
/// * names strict mode forbids as bindings (`arguments`, `eval`);
/// * globals TypeScript refuses as declaration names (`undefined`, `globalThis`: error TS2397).
///
/// TypeScript's contextual keywords (`type`, `namespace`, `string`, `any`, …) are deliberately
/// absent: `tsc` accepts them as namespace and property names, and suffixing them would only
/// make common tool names (`type`, `set`, `get`) harder to guess.
pub const RESERVED_WORDS: &[&str] = &[
    // ECMAScript reserved words.
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "import",
    "in",
    "instanceof",
    "new",
    "null",
    "return",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    // Strict mode / module reserved words.
    "await",
    "enum",
    "implements",
    "interface",
    "let",
    "package",
    "private",
    "protected",
    "public",
    "static",
    "yield",
    // Forbidden as bindings in strict mode.
    "arguments",
    "eval",
    // Globals that TypeScript will not let a declaration reuse.
    "globalThis",
    "undefined",
];

/// Whether `word` is one of the [`RESERVED_WORDS`] (case-sensitive, as in JavaScript).
pub fn is_reserved(word: &str) -> bool {
    RESERVED_WORDS.contains(&word)
}

/// Whether `name` can be written bare as a JavaScript/TypeScript property name under this
/// crate's ASCII-only rule. Reserved words qualify: `{ default: string }` is valid TypeScript.
pub fn is_property_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) if is_ident_start(first) => chars.all(is_ident_char),
        _ => false,
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '$'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$'
}

/// The TypeScript identifier for an original name, by the module's rule.
///
/// The function is idempotent: an identifier it returns maps to itself.
///
/// ```
/// use codemode_catalog::naming::identifier;
/// assert_eq!(identifier("get-sum"), "get_sum");
/// assert_eq!(identifier("git.status"), "git_status");
/// assert_eq!(identifier("2fa"), "_2fa");
/// assert_eq!(identifier("delete"), "delete_");
/// assert_eq!(identifier(""), "_");
/// ```
pub fn identifier(name: &str) -> String {
    let mut ident: String = name
        .chars()
        .map(|c| if is_ident_char(c) { c } else { '_' })
        .collect();
    if ident.is_empty() || ident.starts_with(|c: char| c.is_ascii_digit()) {
        ident.insert(0, '_');
    }
    if is_reserved(&ident) {
        ident.push('_');
    }
    ident
}

/// A type name derived from an identifier: `_`-separated words are capitalised and joined
/// (`get_sum` → `GetSum`, `createEntities` → `CreateEntities`, `$search` → `$search`).
///
/// The result is always a valid identifier that starts with an upper-case letter, `_` or `$`,
/// so it can never be a reserved word. Different identifiers may share a type name
/// (`get_sum`, `getSum`); whoever declares the types must allocate unique names.
pub fn pascal_case(ident: &str) -> String {
    let mut out = String::with_capacity(ident.len());
    for word in identifier(ident).split('_').filter(|w| !w.is_empty()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The identifiers of one namespace: each original name mapped to a unique identifier.
///
/// Collisions are resolved independently of input order:
/// 1. an original name that already *is* its identifier keeps it (`get_sum` stays `get_sum`
///    even when `get-sum` also exists, so the exact upstream name is never taken by another);
/// 2. otherwise, among the names sharing an identifier, the first in byte order keeps it;
/// 3. the others, in byte order, get `_2`, `_3`, … appended, skipping any candidate that
///    is already some other name's identifier.
///
/// Duplicate original names are kept once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameMap {
    by_original: BTreeMap<String, String>,
    by_ident: BTreeMap<String, String>,
}

impl NameMap {
    /// Builds the map for a namespace's original names (in any order).
    pub fn new<I, S>(originals: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let originals: BTreeSet<String> = originals.into_iter().map(Into::into).collect();

        // Group by plain identifier; pick each group's winner, queue the losers.
        let mut groups: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for original in &originals {
            groups
                .entry(identifier(original))
                .or_default()
                .push(original);
        }
        let mut map = NameMap::default();
        let mut losers: Vec<(&str, &str)> = Vec::new();
        for (ident, members) in &groups {
            // `members` is in byte order (from the BTreeSet); an exact match wins over it.
            let winner = members
                .iter()
                .copied()
                .find(|m| *m == ident.as_str())
                .unwrap_or(members[0]);
            map.insert(winner, ident.clone());
            losers.extend(
                members
                    .iter()
                    .filter(|m| **m != winner)
                    .map(|m| (*m, ident.as_str())),
            );
        }
        // Every plain identifier is claimed before any suffix is chosen, so a suffix never
        // steals a name that some original maps to plainly.
        losers.sort_unstable();
        for (original, ident) in losers {
            let candidate = (2u64..)
                .map(|n| format!("{ident}_{n}"))
                .find(|c| !map.by_ident.contains_key(c));
            if let Some(candidate) = candidate {
                map.insert(original, candidate);
            }
        }
        map
    }

    fn insert(&mut self, original: &str, ident: String) {
        self.by_ident.insert(ident.clone(), original.to_owned());
        self.by_original.insert(original.to_owned(), ident);
    }

    /// The identifier of an original name, if it is in the map.
    pub fn ident(&self, original: &str) -> Option<&str> {
        self.by_original.get(original).map(String::as_str)
    }

    /// The original name behind an identifier, if it is in the map.
    pub fn original(&self, ident: &str) -> Option<&str> {
        self.by_ident.get(ident).map(String::as_str)
    }

    /// `(original, identifier)` pairs, ordered by original name (byte order).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.by_original
            .iter()
            .map(|(o, i)| (o.as_str(), i.as_str()))
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.by_original.len()
    }

    /// Whether the map holds no names.
    pub fn is_empty(&self) -> bool {
        self.by_original.is_empty()
    }
}

impl<S: Into<String>> FromIterator<S> for NameMap {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        NameMap::new(iter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifier_repairs_only_what_does_not_parse() {
        assert_eq!(identifier("get-sum"), "get_sum");
        assert_eq!(identifier("git.status"), "git_status");
        assert_eq!(identifier("createEntities"), "createEntities");
        assert_eq!(identifier("$search"), "$search");
        assert_eq!(identifier("a b/c:d"), "a_b_c_d");
        assert_eq!(identifier("héllo"), "h_llo");
        assert_eq!(identifier("2fa"), "_2fa");
        assert_eq!(identifier(""), "_");
        assert_eq!(identifier("-"), "_");
    }

    #[test]
    fn identifier_suffixes_reserved_words_only() {
        for word in [
            "delete", "default", "new", "class", "function", "await", "yield",
        ] {
            assert_eq!(identifier(word), format!("{word}_"));
        }
        for word in [
            "let",
            "static",
            "enum",
            "implements",
            "interface",
            "package",
        ] {
            assert_eq!(identifier(word), format!("{word}_"));
        }
        for word in [
            "private",
            "protected",
            "public",
            "arguments",
            "eval",
            "undefined",
        ] {
            assert_eq!(identifier(word), format!("{word}_"));
        }
        // Case-sensitive, and contextual TypeScript keywords stay.
        assert_eq!(identifier("Delete"), "Delete");
        assert_eq!(identifier("type"), "type");
        assert_eq!(identifier("string"), "string");
    }

    #[test]
    fn identifier_is_idempotent() {
        for name in [
            "get-sum", "2fa", "delete", "", "delete_", "a.b", "$x", "x y",
        ] {
            let once = identifier(name);
            assert_eq!(identifier(&once), once, "{name}");
        }
    }

    #[test]
    fn property_names() {
        assert!(is_property_name("entityType"));
        assert!(is_property_name("default"));
        assert!(is_property_name("$ref"));
        assert!(!is_property_name("a-b"));
        assert!(!is_property_name("2"));
        assert!(!is_property_name(""));
    }

    #[test]
    fn pascal_case_for_type_names() {
        assert_eq!(pascal_case("get_sum"), "GetSum");
        assert_eq!(pascal_case("createEntities"), "CreateEntities");
        assert_eq!(pascal_case("git_status"), "GitStatus");
        assert_eq!(pascal_case("$search"), "$search");
        assert_eq!(pascal_case("_2fa"), "_2fa");
        assert_eq!(pascal_case("delete_"), "Delete");
        assert_eq!(pascal_case("get-sum"), "GetSum");
        assert_eq!(pascal_case("_"), "_");
        assert_eq!(pascal_case("__a__b"), "AB");
    }

    #[test]
    fn name_map_resolves_collisions_independent_of_order() {
        let a = NameMap::new(["get-sum", "get_sum", "get.sum", "echo"]);
        let b = NameMap::new(["echo", "get.sum", "get_sum", "get-sum"]);
        assert_eq!(a, b);
        // The exact name keeps its identifier; the others follow in byte order.
        assert_eq!(a.ident("get_sum"), Some("get_sum"));
        assert_eq!(a.ident("get-sum"), Some("get_sum_2"));
        assert_eq!(a.ident("get.sum"), Some("get_sum_3"));
        assert_eq!(a.ident("echo"), Some("echo"));
        assert_eq!(a.original("get_sum_3"), Some("get.sum"));
        assert_eq!(a.len(), 4);
    }

    #[test]
    fn name_map_without_exact_match_uses_byte_order() {
        let map = NameMap::new(["get.sum", "get-sum"]);
        // '-' (0x2d) sorts before '.' (0x2e).
        assert_eq!(map.ident("get-sum"), Some("get_sum"));
        assert_eq!(map.ident("get.sum"), Some("get_sum_2"));
    }

    #[test]
    fn name_map_suffix_skips_names_already_taken() {
        let map: NameMap = ["a-b", "a.b", "a_b_2"].into_iter().collect();
        assert_eq!(map.ident("a_b_2"), Some("a_b_2"));
        assert_eq!(map.ident("a-b"), Some("a_b"));
        assert_eq!(map.ident("a.b"), Some("a_b_3"));
    }

    #[test]
    fn name_map_iterates_by_original_and_dedupes() {
        let map = NameMap::new(["b", "a", "b", "delete"]);
        let pairs: Vec<_> = map.iter().collect();
        assert_eq!(pairs, [("a", "a"), ("b", "b"), ("delete", "delete_")]);
        assert!(!map.is_empty());
        assert_eq!(map.ident("missing"), None);
        assert_eq!(map.original("delete_"), Some("delete"));
    }
}
