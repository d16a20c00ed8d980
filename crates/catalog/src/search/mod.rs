//! Finding the few tools a task needs among thousands: BM25 over names, descriptions and
//! parameter names (the `bm25` crate), plus boosts for exact and fuzzy name matches, which
//! BM25's word statistics alone rank too low ("batchGet" should find `batchGet` first).

use bm25::{Document, Language, SearchEngine, SearchEngineBuilder};
use serde_json::Value;

/// One searchable tool: where it lives and the text it is found by.
#[derive(Debug, Clone)]
pub(crate) struct SearchDoc {
    pub namespace: String,
    pub ident: String,
    pub original_name: String,
    pub text: String,
}

pub(crate) struct SearchIndex {
    engine: SearchEngine<u32>,
    docs: Vec<SearchDoc>,
}

impl SearchIndex {
    pub fn new(docs: Vec<SearchDoc>) -> Self {
        let documents = docs
            .iter()
            .enumerate()
            .map(|(i, doc)| Document::new(i as u32, doc.text.clone()));
        let engine =
            SearchEngineBuilder::<u32>::with_documents(Language::English, documents).build();
        SearchIndex { engine, docs }
    }

    /// Indices into the documents, best first, with their scores.
    pub fn search(&self, query: &str, limit: usize) -> Vec<(usize, f32)> {
        let query = query.trim();
        if query.is_empty() || self.docs.is_empty() {
            return Vec::new();
        }
        let expanded = split_words(query);
        let mut scores = vec![0f32; self.docs.len()];
        let hits = self.engine.search(&expanded, self.docs.len());
        let best = hits.first().map_or(1.0, |hit| hit.score.max(f32::EPSILON));
        for hit in hits {
            scores[hit.document.id as usize] = hit.score / best;
        }
        let query_lower = query.to_lowercase();
        let terms: Vec<String> = query_lower
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
        for (i, doc) in self.docs.iter().enumerate() {
            scores[i] += name_boost(&query_lower, &terms, doc);
        }
        let mut ranked: Vec<(usize, f32)> = scores
            .into_iter()
            .enumerate()
            .filter(|(_, score)| *score > 0.05)
            .collect();
        ranked.sort_by(|a, b| {
            b.1.total_cmp(&a.1)
                .then_with(|| self.docs[a.0].namespace.cmp(&self.docs[b.0].namespace))
                .then_with(|| self.docs[a.0].ident.cmp(&self.docs[b.0].ident))
        });
        ranked.truncate(limit);
        ranked
    }

    pub fn doc(&self, index: usize) -> &SearchDoc {
        &self.docs[index]
    }
}

/// Exact and fuzzy matches of the query against a tool's names (`orders.list`,
/// `list`, `get-sum`). Scaled to dominate BM25's normalised score only when they are strong.
fn name_boost(query: &str, terms: &[String], doc: &SearchDoc) -> f32 {
    let ident = doc.ident.to_lowercase();
    let original = doc.original_name.to_lowercase();
    let qualified = format!("{}.{}", doc.namespace.to_lowercase(), ident);
    let bare = query.trim_start_matches("tools.");
    if bare == qualified || bare == ident || bare == original {
        return 3.0;
    }
    let mut boost = 0f32;
    for term in terms {
        let term = term.trim_start_matches("tools.");
        if term == ident || term == original || term == qualified {
            boost = boost.max(1.5);
            continue;
        }
        let similarity =
            strsim::jaro_winkler(term, &ident).max(strsim::jaro_winkler(term, &original));
        if similarity >= 0.88 {
            boost = boost.max((similarity as f32 - 0.88) * 8.0);
        }
        if term.len() >= 3 && (ident.contains(term) || original.contains(term)) {
            boost = boost.max(0.5);
        }
    }
    boost
}

/// `batchGet get_sum create-entities` → `batch get get sum create entities`, so that BM25's
/// word tokenizer sees the words inside identifiers.
pub(crate) fn split_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut previous: Option<char> = None;
    for c in text.chars() {
        if c == '_' || c == '-' || c == '.' || c == '/' {
            out.push(' ');
        } else {
            if c.is_uppercase() && previous.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit())
            {
                out.push(' ');
            }
            out.push(c);
        }
        previous = Some(c);
    }
    out
}

/// The words a tool is found by: its names (split), title, description, and the names and
/// descriptions of its parameters (one level into objects and arrays of objects).
pub(crate) fn document_text(
    namespace: &str,
    original_name: &str,
    title: Option<&str>,
    description: Option<&str>,
    input_schema: &Value,
) -> String {
    let mut text = String::new();
    // Names count twice: they are the strongest evidence of what a tool does.
    for _ in 0..2 {
        text.push_str(&split_words(original_name));
        text.push(' ');
    }
    text.push_str(&split_words(namespace));
    text.push(' ');
    if let Some(title) = title {
        text.push_str(title);
        text.push(' ');
    }
    if let Some(description) = description {
        // Long descriptions would drown the name; their first part says what matters.
        let cut: String = description.chars().take(600).collect();
        text.push_str(&cut);
        text.push(' ');
    }
    collect_parameters(input_schema, 0, &mut text);
    text
}

fn collect_parameters(schema: &Value, depth: usize, text: &mut String) {
    if depth > 1 {
        return;
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            text.push_str(&split_words(name));
            text.push(' ');
            if let Some(description) = property.get("description").and_then(Value::as_str) {
                let cut: String = description.chars().take(120).collect();
                text.push_str(&cut);
                text.push(' ');
            }
            collect_parameters(property, depth + 1, text);
        }
    }
    if let Some(items) = schema.get("items") {
        collect_parameters(items, depth + 1, text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_split_into_words() {
        assert_eq!(split_words("batchGet"), "batch Get");
        assert_eq!(split_words("create_entities"), "create entities");
        assert_eq!(split_words("get-sum"), "get sum");
    }
}
