//! Words a task and a tool use for the same thing. A task says "fetch the tickets"; the
//! tool is `list_issues`. Groups are symmetric and a word may sit in several ("change" is
//! an edit and a commit's change). Matches through a synonym count less than the word
//! itself ([`SYNONYM_WEIGHT`]).
//!
//! The verbs are also *generic*: "get" or "list" appear in half the tools of a catalogue,
//! so a generic word counts for less than the task's nouns ([`GENERIC_WEIGHT`]).

use std::collections::{HashMap, HashSet};

use super::words::Analyzer;

/// A match through a synonym, against the word itself.
pub(crate) const SYNONYM_WEIGHT: f32 = 0.85;
/// A generic verb's share of a query term's weight.
pub(crate) const GENERIC_WEIGHT: f32 = 0.6;

/// What tools do, in the words tasks use for it. Every word here is generic.
const VERB_GROUPS: &[&[&str]] = &[
    &[
        "get", "fetch", "retrieve", "read", "show", "view", "display", "describe", "inspect",
        "lookup", "load", "see", "check", "info", "detail", "dump", "print",
    ],
    &["list", "all", "enumerate", "browse", "every"],
    &[
        "create", "add", "new", "post", "make", "insert", "register", "compose", "open", "append",
    ],
    &[
        "update", "edit", "change", "patch", "set", "modify", "alter", "rename", "replace",
        "adjust",
    ],
    &[
        "delete", "remove", "drop", "destroy", "erase", "purge", "trash", "discard", "unlink",
        "forget", "wipe",
    ],
    &[
        "search", "find", "query", "lookup", "locate", "filter", "look", "match",
    ],
    &[
        "send", "deliver", "notify", "dispatch", "reply", "forward", "tell", "ping", "post",
    ],
    &[
        "run", "execute", "invoke", "launch", "trigger", "start", "perform",
    ],
    &["stop", "cancel", "abort", "terminate", "kill", "halt"],
    &["download", "export", "save", "pull"],
    &["upload", "import", "push", "attach"],
    &["write", "save", "store", "record", "put"],
    &["move", "transfer", "relocate", "transition"],
    &["assign", "give", "allocate", "reassign", "delegate"],
    &["aggregate", "total", "sum", "summarize", "tally", "group"],
    &["copy", "duplicate", "clone"],
    &["close", "resolve", "finish", "complete"],
    &["navigate", "go", "visit", "browse", "open"],
    &["count", "total", "number", "sum", "add", "plus"],
];

/// Things tools act on. Not generic: these are the words that pick the tool.
const OBJECT_GROUPS: &[&[&str]] = &[
    &["disk", "local", "filesystem"],
    &["field", "column", "attribute", "property", "schema"],
    &["echo", "repeat", "say"],
    &["balance", "money", "funds", "cash"],
    &["spreadsheet", "workbook", "excel", "sheet", "worksheet"],
    &["deal", "opportunity"],
    &["message", "mail", "email", "inbox", "mailbox"],
    &["file", "document", "doc", "attachment"],
    &["issue", "ticket", "bug", "incident"],
    &[
        "commit",
        "history",
        "log",
        "change",
        "recent",
        "revision",
        "changelog",
        "lately",
        "latest",
    ],
    &["repo", "repository", "project", "codebase", "code"],
    &[
        "user", "person", "people", "member", "account", "profile", "who", "author", "contact",
    ],
    &["channel", "room", "conversation", "chat", "thread"],
    &["page", "wiki", "article", "note"],
    &["folder", "directory", "dir", "tree"],
    &[
        "calendar",
        "event",
        "meeting",
        "appointment",
        "schedule",
        "invite",
    ],
    &["database", "db", "collection", "table", "schema"],
    &["record", "row", "document", "entry", "item"],
    &["pr", "pull", "merge"],
    &["comment", "reply", "note", "remark"],
    &["image", "picture", "photo", "screenshot", "snapshot"],
    &[
        "price", "cost", "pricing", "bill", "billing", "invoice", "charge", "spend", "payment",
    ],
    &["time", "clock", "timezone", "zone", "date", "hour", "now"],
    &[
        "remember",
        "know",
        "memory",
        "memorize",
        "recall",
        "knowledge",
        "observation",
        "fact",
        "entity",
        "store",
    ],
    &["relation", "relationship", "link", "connection", "edge"],
    &["team", "group", "organization", "org"],
    &["task", "todo", "job", "work"],
    &["contents", "content", "text", "body"],
    &["difference", "diff", "compare", "changes"],
    &["status", "state", "health"],
    &["customer", "client", "buyer"],
    &["order", "purchase", "sale"],
    &["weather", "forecast", "temperature"],
    &["container", "pod", "deployment", "cluster"],
    &["label", "tag", "category"],
    &["web", "url", "website", "site", "link"],
    &["subscription", "plan"],
    &["key", "secret", "token", "credential"],
];

/// Phrases a task uses for one verb: the words on the left are read as the one on the right.
pub(crate) const PHRASES: &[(&[&str], &str)] = &[
    (&["set", "up"], "create"),
    (&["file", "a"], "create"),
    (&["file", "an"], "create"),
    (&["look", "up"], "get"),
    (&["look", "for"], "search"),
    (&["get", "rid", "of"], "delete"),
    (&["how", "many"], "count"),
    (&["sign", "in"], "login"),
    (&["log", "in"], "login"),
    (&["logged", "in", "as"], "authenticated"),
    (&["signed", "in", "as"], "authenticated"),
    (&["who", "am", "i"], "authenticated"),
    (&["what", "s", "new"], "recent"),
    (&["give", "me"], "show"),
    (&["at", "the", "bottom"], "append"),
    (&["at", "the", "end"], "append"),
    (&["give", "us"], "show"),
];

/// `words` with [`PHRASES`] replaced by their verb.
pub(crate) fn replace_phrases(words: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(words.len());
    let mut i = 0;
    'words: while i < words.len() {
        for (phrase, verb) in PHRASES {
            let end = i + phrase.len();
            if end <= words.len() && words[i..end].iter().zip(phrase.iter()).all(|(a, b)| a == b) {
                out.push((*verb).to_string());
                i = end;
                continue 'words;
            }
        }
        out.push(words[i].clone());
        i += 1;
    }
    out
}

/// Stems and their synonyms' stems; built once per catalogue.
pub(crate) struct Synonyms {
    related: HashMap<String, Vec<String>>,
    generic: HashSet<String>,
}

impl Synonyms {
    pub fn new(analyzer: &Analyzer) -> Self {
        let mut related: HashMap<String, Vec<String>> = HashMap::new();
        let mut generic = HashSet::new();

        let groups = VERB_GROUPS
            .iter()
            .map(|g| (g, true))
            .chain(OBJECT_GROUPS.iter().map(|g| (g, false)));
        for (group, is_verb) in groups {
            let stems: Vec<String> = group.iter().filter_map(|w| analyzer.term(w)).collect();
            for stem in &stems {
                if is_verb {
                    generic.insert(stem.clone());
                }
                let entry = related.entry(stem.clone()).or_default();
                for other in &stems {
                    if other != stem && !entry.contains(other) {
                        entry.push(other.clone());
                    }
                }
            }
        }
        // A word that also names a thing ("change", "record") is not generic.
        for group in OBJECT_GROUPS {
            for word in group.iter() {
                if let Some(stem) = analyzer.term(word) {
                    generic.remove(&stem);
                }
            }
        }
        Synonyms { related, generic }
    }

    /// The stems that mean about the same as `stem`, itself excluded.
    pub fn of(&self, stem: &str) -> &[String] {
        self.related.get(stem).map_or(&[], Vec::as_slice)
    }

    /// Whether `stem` is a verb so common in tool names that it picks no tool by itself.
    pub fn is_generic(&self, stem: &str) -> bool {
        self.generic.contains(stem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_relate_both_ways_and_verbs_are_generic() {
        let analyzer = Analyzer::default();
        let synonyms = Synonyms::new(&analyzer);
        let stem = |w: &str| analyzer.term(w).unwrap_or_default();
        assert!(synonyms.of(&stem("fetch")).contains(&stem("get")));
        assert!(synonyms.of(&stem("get")).contains(&stem("retrieve")));
        assert!(synonyms.of(&stem("email")).contains(&stem("message")));
        assert!(synonyms.of(&stem("history")).contains(&stem("commit")));
        assert!(synonyms.is_generic(&stem("list")));
        assert!(!synonyms.is_generic(&stem("commit")));
        assert!(!synonyms.is_generic(&stem("change")), "also a thing");
    }
}
