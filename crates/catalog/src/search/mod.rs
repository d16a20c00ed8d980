//! Finding the few tools a task needs among thousands.
//!
//! Ranking is BM25F: each tool is a document of fields (its name's words, title, keywords,
//! description, parameters, namespace) weighted by how strongly each says what the tool
//! does, with term frequencies saturated per document. On top of it:
//!
//! * words are stemmed and stop words dropped ([`words`]); a word also matches its
//!   synonyms, for less ([`synonyms`]), and longer words match the terms they begin;
//! * generic verbs ("get", "list") count for less than the task's nouns;
//! * an order's opening verb is what it asks for ("add 'renew passport' to my To Do list"
//!   adds), and the content a tool will be given (quoted text, a name after "called", what
//!   a message is about) counts little ([`phrasing`]); a negated word asks for its
//!   opposite (`not staged` → `unstaged`) or for nothing; after the order's verb, a word
//!   that could be a verb is a thing ("post an update"), and a tool named for the place
//!   the order acts in ("to my To Do list") would make that place instead;
//! * a word naming a namespace ("in git", "jira") prefers that namespace's tools instead of
//!   scoring as text, and a word whose synonym names one ("remember" → `memory`) a little;
//!   so does a place only one namespace's tools speak of ("in this checkout" → git);
//! * a question about something ("what do you know about Alice") asks to search;
//! * the tool's exact name (`batchGet`, `orders.list`) wins outright, and a near miss of it
//!   (one identifier-like word) is boosted.
//!
//! Scores are precomputed per (term, tool) when the catalogue is built, so a query is a
//! few posting-list walks: well under a millisecond over 10,000 tools. The `bm25` crate
//! ranks one field; this needs fields, synonyms and namespace preference, so the scorer is
//! written here, on `rust-stemmers` for the words.

mod phrasing;
mod synonyms;
mod words;

use std::collections::HashMap;

use serde_json::Value;

use synonyms::{Synonyms, GENERIC_WEIGHT, SYNONYM_WEIGHT};
pub(crate) use words::spaced_words;
use words::{for_each_word, Analyzer};

/// One searchable tool: where it lives and the text it is found by, field by field.
#[derive(Debug, Clone, Default)]
pub(crate) struct SearchDoc {
    /// The namespace identifier.
    pub namespace: String,
    pub ident: String,
    pub original_name: String,
    /// The namespace's name at its source and its description.
    pub namespace_text: String,
    pub title: String,
    pub description: String,
    /// Parameter names and descriptions, one level into objects and arrays of objects.
    pub parameters: String,
    /// The source's words for the tool that it does not show ([`crate::ToolSpec::keywords`]).
    pub keywords: String,
}

#[derive(Clone, Copy)]
enum Field {
    Name,
    Title,
    /// The description's first sentence: what the tool does, before usage notes.
    Summary,
    /// The rest of the description.
    Description,
    Parameters,
    Namespace,
    Keywords,
}

const FIELDS: [Field; 7] = [
    Field::Name,
    Field::Title,
    Field::Summary,
    Field::Description,
    Field::Parameters,
    Field::Namespace,
    Field::Keywords,
];

impl Field {
    /// How much a term in this field says about what the tool does.
    fn weight(self) -> f32 {
        match self {
            Field::Name => 3.0,
            Field::Title => 2.0,
            Field::Summary => SUMMARY_WEIGHT,
            Field::Description => DESCRIPTION_WEIGHT,
            Field::Parameters => 0.1,
            Field::Namespace => 0.3,
            Field::Keywords => KEYWORDS_WEIGHT,
        }
    }

    /// BM25's length normalisation: names are short by nature, descriptions are not.
    fn length_normalisation(self) -> f32 {
        match self {
            Field::Name | Field::Title | Field::Keywords => 0.3,
            Field::Summary => 0.5,
            Field::Description | Field::Parameters => 0.75,
            Field::Namespace => 0.5,
        }
    }

    fn text(self, doc: &SearchDoc) -> String {
        match self {
            Field::Name => {
                let original = spaced_words(&doc.original_name);
                let ident = spaced_words(&doc.ident);
                if original == ident {
                    original
                } else {
                    format!("{original} {ident}")
                }
            }
            Field::Title => doc.title.clone(),
            Field::Summary => summary_and_rest(&doc.description).0.to_string(),
            Field::Description => summary_and_rest(&doc.description).1.to_string(),
            Field::Parameters => doc.parameters.clone(),
            Field::Namespace => doc.namespace_text.clone(),
            Field::Keywords => doc.keywords.clone(),
        }
    }
}

const SUMMARY_WEIGHT: f32 = 1.5;
const KEYWORDS_WEIGHT: f32 = 2.0;
const DESCRIPTION_WEIGHT: f32 = 0.5;

/// A description's first sentence (at most [`SUMMARY_CHARS`]) and the rest.
fn summary_and_rest(description: &str) -> (&str, &str) {
    let mut end = description.len();
    for (i, c) in description.char_indices() {
        let at_end = matches!(c, '.' | '!' | '?' | '\n')
            && description[i + c.len_utf8()..]
                .chars()
                .next()
                .is_none_or(char::is_whitespace);
        if at_end || i >= SUMMARY_CHARS {
            end = i;
            break;
        }
    }
    (&description[..end], &description[end..])
}

/// Words that open a question: one without a verb of its own asks to read.
pub(crate) const QUESTION_WORDS: &[&str] = &[
    "what", "which", "who", "whom", "whose", "where", "when", "how", "is", "are", "do", "does",
    "any",
];

/// Verbs that read; with a plural noun they ask for a list.
const READ_VERBS: &[&str] = &[
    "show", "get", "fetch", "view", "see", "display", "give", "retrieve",
];

/// BM25's term-frequency saturation.
const K1: f32 = 1.2;
/// Longest first sentence taken as the summary.
const SUMMARY_CHARS: usize = 240;
/// Characters of a description indexed: its start says what matters.
const DESCRIPTION_CHARS: usize = 1500;
/// A query word of at least this many characters also matches terms it begins
/// ("repo" → "repositori").
const PREFIX_MIN_CHARS: usize = 4;
const PREFIX_WEIGHT: f32 = 0.5;
/// A term that extends a query word's stem by a suffix ("react" → "reaction").
const FAMILY_MIN_CHARS: usize = 5;
const FAMILY_EXTRA_CHARS: usize = 4;
const FAMILY_WEIGHT: f32 = 0.6;
/// A word no tool uses matches the terms this close to it (Jaro-Winkler), for this much.
const TYPO_SIMILARITY: f64 = 0.88;
const TYPO_WEIGHT: f32 = 0.5;
/// A tool whose name has two of the query's words side by side counts this much more.
const NAME_PAIR_BONUS: f32 = 1.5;
/// What a tool whose name's verb disagrees with the task's keeps of its score.
const VERB_CONFLICT: f32 = 0.75;
/// The share of a score that depends on how much of the tool's name the query explains.
const NAME_PRECISION_WEIGHT: f32 = 0.4;
/// How much more a tool counts whose name holds the whole query.
const NAME_COVERAGE_BONUS: f32 = 1.5;
/// A namespace named in the query multiplies its tools' scores by this.
const NAMESPACE_PREFERENCE: f32 = 2.5;
const BARE_NAMESPACE_PREFERENCE: f32 = 1.5;
/// A word whose synonym names a namespace ("what do you remember", namespace `memory`).
const SYNONYM_NAMESPACE_PREFERENCE: f32 = 1.5;
/// A place whose words one namespace holds this share of prefers it this much.
const PLACE_SHARE: f32 = 0.8;
const PLACE_PREFERENCE: f32 = 2.5;
/// Words after which a namespace's name is meant as one ("in git", "on github").
pub(crate) const NAMESPACE_INTRODUCERS: &[&str] = &[
    "in", "on", "from", "via", "using", "with", "to", "into", "inside", "through",
];
/// A tool whose name starts with the verb the task's order opens with counts this much more.
const ORDER_NAME_BONUS: f32 = 1.3;
/// A tool whose name is the task's words as written counts this much more; one that has
/// some of them, its share of it.
const SURFACE_BONUS: f32 = 0.3;
/// A word of the content the tool will be given ("post 'deploy done'") counts this much.
const CONTENT_WEIGHT: f32 = 0.3;
/// Below this share of the query's weight matched by the best tool, the answer is weak.
const WEAK_COVERAGE: f32 = 0.5;

struct Posting {
    doc: u32,
    /// BM25F's saturated, weighted term frequency for this tool (idf applied at query time).
    weight: f32,
    /// The term is in the tool's name or title: the strongest evidence there is.
    named: bool,
}

/// What a query found: tool indices best first with scores in (0, 1], and whether even the
/// best is a weak match.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ranking {
    pub hits: Vec<(usize, f32)>,
    pub weak: bool,
}

pub(crate) struct SearchIndex {
    analyzer: Analyzer,
    synonyms: Synonyms,
    docs: Vec<SearchDoc>,
    /// Each tool's namespace, as an index into `namespaces`.
    doc_namespace: Vec<u32>,
    /// Namespace identifiers and the lower-case words that name each.
    namespaces: Vec<(String, Vec<String>)>,
    /// Each namespace identifier's stem, for a query word whose synonym names it.
    namespace_stems: Vec<Option<String>>,
    terms: HashMap<String, u32>,
    /// Every term, sorted, for prefix matches.
    sorted_terms: Vec<(String, u32)>,
    postings: Vec<Vec<Posting>>,
    /// Lower-case `ident`, `original_name` and `namespace.ident` → tools.
    names: HashMap<String, Vec<u32>>,
    /// Two stems side by side in a tool's name (`merge request`, `knowledge graph`) → tools.
    name_pairs: HashMap<(String, String), Vec<u32>>,
    /// Each tool's name terms, its namespace's own words left out (`git_log` → `log`).
    name_terms: Vec<Vec<u32>>,
    /// Each tool's identifier and source name, lower-cased, for near misses.
    lower_names: Vec<(String, String)>,
    /// What each tool does, as generic verbs ([`tool_verbs`]).
    verbs: Vec<Vec<String>>,
    /// Each tool's name words as written, lower-cased and unstemmed (`my_issues` → `my`,
    /// `issues`): the task's own form of a word ("the pipelines") says more than its stem.
    surface: Vec<Vec<String>>,
}

impl SearchIndex {
    pub fn new(docs: Vec<SearchDoc>) -> Self {
        let analyzer = Analyzer::default();
        let synonyms = Synonyms::new(&analyzer);
        let mut namespaces: Vec<(String, Vec<String>)> = Vec::new();
        let mut doc_namespace = Vec::with_capacity(docs.len());
        let mut names: HashMap<String, Vec<u32>> = HashMap::new();
        let mut name_pairs: HashMap<(String, String), Vec<u32>> = HashMap::new();
        let mut name_words: Vec<Vec<String>> = Vec::with_capacity(docs.len());
        // Per tool, per field: term → count, and the field's length in terms.
        let mut counted: Vec<[(HashMap<String, u32>, usize); FIELDS.len()]> =
            Vec::with_capacity(docs.len());
        let mut total_lengths = [0usize; FIELDS.len()];
        let vocabulary = words::vocabulary(docs.iter().flat_map(|doc| {
            [
                doc.original_name.as_str(),
                doc.title.as_str(),
                doc.description.as_str(),
            ]
        }));
        for (index, doc) in docs.iter().enumerate() {
            let ns = match namespaces
                .iter()
                .position(|(ident, _)| *ident == doc.namespace)
            {
                Some(ns) => ns,
                None => {
                    let mut words = vec![doc.namespace.to_lowercase()];
                    for_each_word(&doc.namespace, |w| {
                        if w.len() >= 2 && !words.iter().any(|x| x == w) {
                            words.push(w.to_string());
                        }
                    });
                    namespaces.push((doc.namespace.clone(), words));
                    namespaces.len() - 1
                }
            };
            doc_namespace.push(ns as u32);
            for name in [
                doc.ident.to_lowercase(),
                doc.original_name.to_lowercase(),
                format!("{}.{}", doc.namespace, doc.ident).to_lowercase(),
            ] {
                let entry = names.entry(name).or_default();
                if !entry.contains(&(index as u32)) {
                    entry.push(index as u32);
                }
            }
            // `jira_add_worklog` is also found by "log work": a name word that joins two
            // words the catalogue uses is indexed as them too.
            let name_text =
                words::with_compound_parts(&Field::Name.text(doc), &vocabulary, |word| {
                    analyzer
                        .term(word)
                        .is_some_and(|stem| synonyms.is_generic(&stem))
                });
            let name_terms = analyzer.terms(&name_text);
            let own: Vec<String> = namespaces[ns]
                .1
                .iter()
                .filter_map(|w| analyzer.term(w))
                .collect();
            let mut distinct: Vec<String> = Vec::new();
            for term in &name_terms {
                if !own.contains(term) && !distinct.contains(term) {
                    distinct.push(term.clone());
                }
            }
            name_words.push(distinct);
            let title_terms = analyzer.terms(&doc.title);
            for pair in name_terms.windows(2).chain(title_terms.windows(2)) {
                let entry = name_pairs
                    .entry((pair[0].clone(), pair[1].clone()))
                    .or_default();
                if entry.last() != Some(&(index as u32)) {
                    entry.push(index as u32);
                }
            }
            let fields = FIELDS.map(|field| {
                let text = match field {
                    Field::Name => name_text.clone(),
                    _ => field.text(doc),
                };
                let mut counts: HashMap<String, u32> = HashMap::new();
                let terms = analyzer.terms(&text);
                for term in &terms {
                    *counts.entry(term.clone()).or_default() += 1;
                }
                (counts, terms.len())
            });
            for (i, (_, length)) in fields.iter().enumerate() {
                total_lengths[i] += length;
            }
            counted.push(fields);
        }
        let count = docs.len().max(1) as f32;
        let average = total_lengths.map(|total| (total as f32 / count).max(1.0));

        let mut terms: HashMap<String, u32> = HashMap::new();
        let mut postings: Vec<Vec<Posting>> = Vec::new();
        for (index, fields) in counted.into_iter().enumerate() {
            let mut frequency: HashMap<String, (f32, bool)> = HashMap::new();
            for (i, (counts, length)) in fields.into_iter().enumerate() {
                let field = FIELDS[i];
                let b = field.length_normalisation();
                let norm = 1.0 - b + b * length as f32 / average[i];
                let named = matches!(field, Field::Name | Field::Title | Field::Keywords);
                for (term, n) in counts {
                    let entry = frequency.entry(term).or_default();
                    entry.0 += field.weight() * n as f32 / norm;
                    entry.1 |= named;
                }
            }
            for (term, (tf, named)) in frequency {
                let next = terms.len() as u32;
                let id = *terms.entry(term).or_insert(next);
                if id as usize == postings.len() {
                    postings.push(Vec::new());
                }
                postings[id as usize].push(Posting {
                    doc: index as u32,
                    weight: tf / (K1 + tf),
                    named,
                });
            }
        }
        // Servers often start every tool's name with their product (`jira_`, `browser_`,
        // `hubspot-`): such a word says which server, not what the tool does.
        let mut first_words: HashMap<(u32, String), usize> = HashMap::new();
        let mut namespace_sizes: HashMap<u32, usize> = HashMap::new();
        for (index, words) in name_words.iter().enumerate() {
            *namespace_sizes.entry(doc_namespace[index]).or_default() += 1;
            if let Some(first) = words.first() {
                *first_words
                    .entry((doc_namespace[index], first.clone()))
                    .or_default() += 1;
            }
        }
        for (index, words) in name_words.iter_mut().enumerate() {
            let ns = doc_namespace[index];
            let size = namespace_sizes.get(&ns).copied().unwrap_or(0);
            let is_family = words.first().is_some_and(|first| {
                let count = first_words.get(&(ns, first.clone())).copied().unwrap_or(0);
                size >= 4 && count * 4 >= size && words.len() > 1
            });
            if is_family {
                words.remove(0);
            }
        }
        let name_terms: Vec<Vec<u32>> = name_words
            .iter()
            .map(|words| words.iter().filter_map(|w| terms.get(w).copied()).collect())
            .collect();
        let verbs: Vec<Vec<String>> = name_words
            .iter()
            .zip(&docs)
            .map(|(words, doc)| tool_verbs(doc, words, &analyzer, &synonyms))
            .collect();
        let mut sorted_terms: Vec<(String, u32)> =
            terms.iter().map(|(t, id)| (t.clone(), *id)).collect();
        sorted_terms.sort();
        let surface = docs
            .iter()
            .map(|doc| {
                let mut words: Vec<String> = Vec::new();
                for_each_word(&format!("{} {}", doc.original_name, doc.ident), |w| {
                    if !words.iter().any(|x| x == w) {
                        words.push(w.to_string());
                    }
                });
                words
            })
            .collect();
        let lower_names = docs
            .iter()
            .map(|doc| (doc.ident.to_lowercase(), doc.original_name.to_lowercase()))
            .collect();
        let namespace_stems = namespaces
            .iter()
            .map(|(_, names)| names.first().and_then(|ident| analyzer.term(ident)))
            .collect();
        SearchIndex {
            analyzer,
            synonyms,
            docs,
            doc_namespace,
            namespaces,
            namespace_stems,
            terms,
            sorted_terms,
            postings,
            lower_names,
            verbs,
            surface,
            names,
            name_pairs,
            name_terms,
        }
    }

    pub fn doc(&self, index: usize) -> &SearchDoc {
        &self.docs[index]
    }

    fn idf(&self, term: u32) -> f32 {
        let n = self.docs.len() as f32;
        let df = self.postings[term as usize].len() as f32;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    /// Every term that starts with `prefix`, from the sorted list.
    fn terms_starting_with<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = &'a (String, u32)> + 'a {
        let start = self
            .sorted_terms
            .partition_point(|(t, _)| t.as_str() < prefix);
        self.sorted_terms[start..]
            .iter()
            .take_while(move |(t, _)| t.starts_with(prefix))
    }

    /// The terms a query term matches, with the weight of each kind of match. A synonym
    /// that is itself a word of the query is left to that word: each word brings its own
    /// evidence ("commit history" is not "commit commit").
    fn expansions(&self, word: &str, stem: &str, query_stems: &[String]) -> Vec<(u32, f32)> {
        let mut out: Vec<(u32, f32)> = Vec::new();
        fn add_to(out: &mut Vec<(u32, f32)>, id: u32, weight: f32) {
            match out.iter_mut().find(|(t, _)| *t == id) {
                Some(existing) => existing.1 = existing.1.max(weight),
                None => out.push((id, weight)),
            }
        }
        if let Some(&id) = self.terms.get(stem) {
            add_to(&mut out, id, 1.0);
        }
        for synonym in self.synonyms.of(stem) {
            if query_stems.contains(synonym) {
                continue;
            }
            if let Some(&id) = self.terms.get(synonym) {
                add_to(&mut out, id, SYNONYM_WEIGHT);
            }
        }
        // "react" is what a `reaction` does, "approve" an `approval`: a longer term that
        // starts with the word's stem is of its family.
        if stem.chars().count() >= FAMILY_MIN_CHARS {
            for (term, id) in self.terms_starting_with(stem) {
                if term.len() > stem.len() && term.len() <= stem.len() + FAMILY_EXTRA_CHARS {
                    add_to(&mut out, *id, FAMILY_WEIGHT);
                }
            }
        }
        // A word no tool uses may be a typo ("ordr lst"): the terms close to it, among
        // those starting with the same letter, stand in for it.
        if out.is_empty() && word.chars().count() >= 3 {
            if let Some(first) = stem.chars().next() {
                let mut from = [0u8; 4];
                let from = &*first.encode_utf8(&mut from);
                for (term, id) in self.terms_starting_with(from) {
                    if strsim::jaro_winkler(stem, term) >= TYPO_SIMILARITY {
                        add_to(&mut out, *id, TYPO_WEIGHT);
                    }
                }
            }
        }
        // A word no tool uses whole may begin the words tools use ("repo" → "repositories").
        if out.is_empty() && word.chars().count() >= PREFIX_MIN_CHARS {
            for (term, id) in self.terms_starting_with(stem) {
                if term != stem {
                    add_to(&mut out, *id, PREFIX_WEIGHT);
                }
            }
        }
        out
    }

    /// Ranks the tools for `query`, at most `limit`, optionally only those of one namespace.
    pub fn search(&self, query: &str, limit: usize, only: Option<&str>) -> Ranking {
        let query = query.trim();
        if query.is_empty() || self.docs.is_empty() {
            return Ranking::default();
        }
        let only = only.map(|ns| self.namespaces.iter().position(|(ident, _)| ident == ns));
        if only == Some(None) {
            return Ranking::default();
        }
        let allowed =
            |doc: usize| only.is_none_or(|ns| ns == Some(self.doc_namespace[doc] as usize));

        let mut words: Vec<String> = Vec::new();
        for written in query.split_whitespace() {
            match words::entity_kind(written) {
                // A file name, URL or ticket key says what kind of thing the task is about;
                // its own letters ("draft.txt", "PROJ-123") would only match by accident.
                Some(kind) => {
                    words.push(kind.to_string());
                    // A well-known file's name is also a word tools use (`get_readme`).
                    if written.chars().all(char::is_alphabetic) {
                        words.push(written.to_lowercase());
                    }
                }
                None => for_each_word(written, |w| words.push(w.to_string())),
            }
        }
        // "but don't send it yet": a negated word asks for its opposite when tools name
        // one ("not staged" → `unstaged`), else for nothing.
        let negated = phrasing::negated_words(query);
        if !negated.is_empty() {
            words = words
                .into_iter()
                .filter_map(|word| {
                    if !negated.contains(&word) {
                        return Some(word);
                    }
                    let opposite = format!("un{word}");
                    let named = self
                        .analyzer
                        .term(&opposite)
                        .is_some_and(|stem| self.terms.contains_key(&stem));
                    named.then_some(opposite)
                })
                .collect();
        }
        // A question with no verb of its own ("what meetings do I have") asks to read.
        let asks = words
            .first()
            .is_some_and(|w| QUESTION_WORDS.contains(&w.as_str()));
        let mut words = synonyms::replace_phrases(words);
        let content = phrasing::content_words(query);
        let sums = phrasing::asks_for_sum(query);
        if sums {
            if let Some(verb) = words.iter_mut().find(|w| *w == "add" || *w == "sum") {
                *verb = "sum".into();
            }
        }
        // "add 'renew passport' to my To Do list": an order's opening verb is what it asks
        // for; later words that could be verbs ("list", "update") are things.
        let opening = phrasing::opening_word(&words);
        let opening_stem = opening.and_then(|w| self.analyzer.term(w));
        let mut ordered: Vec<String> = Vec::new();
        ordered.extend(
            opening_stem
                .clone()
                .filter(|stem| self.synonyms.is_generic(stem)),
        );
        ordered.extend(
            opening
                .and_then(phrasing::order_verb)
                .and_then(|verb| self.analyzer.term(verb)),
        );
        // "stage README.md": the verb a word means is a word of the task too, unless the
        // word already is that verb's synonym.
        let mapped = opening
            .filter(|_| {
                !opening_stem
                    .as_ref()
                    .is_some_and(|stem| self.synonyms.is_generic(stem))
            })
            .and_then(phrasing::order_verb)
            .map(str::to_string);
        // A sum is computed and read back.
        if sums {
            ordered.extend(self.analyzer.term("get"));
        }
        let is_order = !ordered.is_empty();
        let opening_action = opening_stem.filter(|_| phrasing::opens_with_order(query));
        if is_order && words.iter().any(|w| w == "new") {
            ordered.extend(self.analyzer.term("create"));
        }
        // "to my To Do list", "post an update": after an order's verb, a word that could be
        // another verb is a thing. It matches what tools act on (`list-workflow-runs`),
        // never what they do (`list-todo-tasks`, `update-team-channel`).
        let mut things: Vec<String> = Vec::new();
        if is_order {
            let opening_at = words.iter().position(|w| Some(w.as_str()) == opening);
            for (index, word) in words.iter().enumerate() {
                if opening_at.is_none_or(|at| index <= at) {
                    continue;
                }
                let Some(stem) = self.analyzer.term(word) else {
                    continue;
                };
                let is_ordered = ordered
                    .iter()
                    .any(|verb| *verb == stem || self.synonyms.of(verb).contains(&stem));
                if self.synonyms.is_generic(&stem) && !is_ordered {
                    things.push(word.clone());
                }
            }
            // "tickets assigned to me": a participle says which things, not what to do.
            words.retain(|word| !(things.contains(word) && word.len() > 4 && word.ends_with("ed")));
        }
        words.extend(mapped);
        let words_before_rules = words.len();
        // In a question, "when was it last modified" describes a state: its verb asks
        // for nothing.
        let is_state = |word: &str| asks && word.len() > 4 && word.ends_with("ed");
        let has_verb = words
            .iter()
            .filter(|w| !is_state(w))
            .filter_map(|w| self.analyzer.term(w))
            .any(|stem| self.synonyms.is_generic(&stem));
        if asks && !has_verb {
            words.push("list".into());
            // "what's new in my inbox", "what was said lately": what is recent is many.
            let recent = words
                .iter()
                .any(|w| matches!(w.as_str(), "recent" | "latest" | "lately" | "new"));
            if !recent {
                words.push("get".into());
            }
        }
        // "what do you know about Alice": a question about something searches for it.
        if asks && words.iter().any(|w| w == "about") {
            words.push("search".into());
        }
        // "show my clusters", "get the pipelines": reading many things is listing them.
        let reads = words.iter().any(|w| READ_VERBS.contains(&w.as_str()));
        let plural = words.iter().any(|w| {
            w.len() > 3
                && w.ends_with('s')
                && !w.ends_with("ss")
                && self
                    .analyzer
                    .term(w)
                    .is_some_and(|stem| !self.synonyms.is_generic(&stem))
        });
        if reads && plural && !words.iter().any(|w| w == "list") {
            words.push("list".into());
        }
        // What the rules read into the task is what it asks for, as much as its verb.
        if is_order {
            for word in &words[words_before_rules..] {
                ordered.extend(self.analyzer.term(word));
            }
        }
        // "work log" is the `worklog` a tool names: adjacent words whose join is a term.
        let joined: Vec<String> = words
            .windows(2)
            .map(|pair| format!("{}{}", pair[0], pair[1]))
            .filter(|compound| {
                self.analyzer
                    .term(compound)
                    .is_some_and(|stem| self.terms.contains_key(&stem))
            })
            .collect();
        words.extend(joined);
        let written: Vec<&str> = query
            .split(|c: char| c.is_whitespace() || c == ',')
            .map(|w| w.trim_start_matches("tools."))
            .filter(|w| !w.is_empty())
            .collect();
        let whole_words: Vec<String> = written.iter().map(|w| w.to_lowercase()).collect();

        // "in git", "on github", "from mongo" name a namespace for sure; a bare word that
        // happens to be one ("forget everything") only a little.
        let mut preferred: Vec<(usize, f32)> = Vec::new();
        let mut previous = "";
        let mut introduced_before = false;
        for word in &whole_words {
            // "from the mongodb users collection": determiners stand between.
            if NAMESPACE_INTRODUCERS.contains(&previous) {
                introduced_before = true;
            } else if !phrasing::DETERMINERS.contains(&previous) {
                introduced_before = false;
            }
            let introduced = introduced_before;
            let mut inner = Vec::new();
            for_each_word(word, |w| inner.push(w.to_string()));
            for candidate in std::iter::once(word).chain(inner.iter()) {
                let related = self
                    .analyzer
                    .term(candidate)
                    .map_or(&[][..], |stem| self.synonyms.of(&stem));
                for (ns, (_, names)) in self.namespaces.iter().enumerate() {
                    let strength = if names_namespace(candidate, names) {
                        if introduced {
                            NAMESPACE_PREFERENCE
                        } else {
                            BARE_NAMESPACE_PREFERENCE
                        }
                    } else if self.namespace_stems[ns]
                        .as_ref()
                        .is_some_and(|stem| related.contains(stem))
                    {
                        SYNONYM_NAMESPACE_PREFERENCE
                    } else {
                        continue;
                    };
                    match preferred.iter_mut().find(|(n, _)| *n == ns) {
                        Some(entry) => entry.1 = entry.1.max(strength),
                        None => preferred.push((ns, strength)),
                    }
                }
            }
            previous = word.as_str();
        }
        // "in this checkout", "in the CRM": a place the task names, whose words only one
        // namespace's tools use, is in that namespace.
        if preferred.is_empty() {
            for place in phrasing::places(query) {
                if let Some(ns) = self.namespace_of_place(&place) {
                    if !preferred.iter().any(|(n, _)| *n == ns) {
                        preferred.push((ns, PLACE_PREFERENCE));
                    }
                }
            }
        }

        let query_stems: Vec<String> = words.iter().filter_map(|w| self.analyzer.term(w)).collect();
        let mut scores = vec![0f32; self.docs.len()];
        let mut covered = vec![0f32; self.docs.len()];
        let mut best_for_term = vec![0f32; self.docs.len()];
        // Per tool: the share of the query its name says, and for this term, how well.
        let mut named = vec![0f32; self.docs.len()];
        let mut named_for_term = vec![0f32; self.docs.len()];
        // Every term the query matched, and how strongly.
        let mut matched: HashMap<u32, f32> = HashMap::new();
        let mut matched_sorted: Vec<(u32, f32)> = Vec::new();
        let mut touched: Vec<u32> = Vec::new();
        let mut query_weight = 0f32;
        let mut seen_stems: Vec<String> = Vec::new();
        for word in &words {
            let Some(stem) = self.analyzer.term(word) else {
                continue;
            };
            if seen_stems.contains(&stem) {
                continue;
            }
            let is_thing = things.contains(word);
            let weight = if self.synonyms.is_generic(&stem) {
                GENERIC_WEIGHT
            } else {
                1.0
            } * if content.contains(word.as_str()) {
                CONTENT_WEIGHT
            } else {
                1.0
            };
            query_weight += weight;
            // A synonym is evidence for the word, not a rarer word: it counts at most as
            // much as the word itself would.
            let word_idf = self.terms.get(&stem).map(|&id| self.idf(id));
            for (term, match_weight) in self.expansions(word, &stem, &query_stems) {
                let entry = matched.entry(term).or_insert(0.0);
                *entry = entry.max(match_weight);
                let idf = match word_idf {
                    Some(word_idf) => self.idf(term).min(word_idf),
                    None => self.idf(term),
                };
                for posting in &self.postings[term as usize] {
                    let doc = posting.doc as usize;
                    if is_thing
                        && self.verbs[doc]
                            .iter()
                            .any(|verb| self.terms.get(verb) == Some(&term))
                    {
                        continue;
                    }
                    let value = weight * match_weight * idf * posting.weight;
                    if best_for_term[doc] == 0.0 {
                        touched.push(posting.doc);
                    }
                    if value > best_for_term[doc] {
                        best_for_term[doc] = value;
                    }
                    if posting.named && match_weight > named_for_term[doc] {
                        named_for_term[doc] = match_weight;
                    }
                }
            }
            for &doc in &touched {
                let doc = doc as usize;
                scores[doc] += best_for_term[doc];
                covered[doc] += weight;
                named[doc] += weight * named_for_term[doc];
                best_for_term[doc] = 0.0;
                named_for_term[doc] = 0.0;
            }
            touched.clear();
            seen_stems.push(stem);
        }

        // Tools matching more of the query rank above tools matching one word many times,
        // and a name that says what the task asks for above a description that mentions it.
        if query_weight > 0.0 {
            for doc in 0..scores.len() {
                let coverage = covered[doc] / query_weight;
                let naming = named[doc] / query_weight;
                scores[doc] *= coverage * (1.0 + NAME_COVERAGE_BONUS * naming);
            }
        }
        matched_sorted.extend(matched.iter().map(|(&term, &weight)| (term, weight)));
        matched_sorted.sort_by_key(|&(term, _)| term);
        let matched = matched_sorted;
        // A task that says what to do disagrees with a tool that does something else:
        // "read the README" is no call for `create_repository`.
        // "commit the staged changes": an order whose verb no tool family shares is still
        // an order, and a tool that does something generic instead disagrees with it.
        let action_id = opening_action
            .as_ref()
            .and_then(|stem| self.terms.get(stem).copied());
        let query_verbs: Vec<String> = match &opening_action {
            _ if is_order => ordered,
            Some(stem) => vec![stem.clone()],
            None => words
                .iter()
                .filter(|w| !is_state(w))
                .filter_map(|w| self.analyzer.term(w))
                .filter(|stem| self.synonyms.is_generic(stem))
                .collect(),
        };
        // Per tool, whether it does what the task says: its verb then counts as explained.
        let mut agreed = vec![false; self.docs.len()];
        if !query_verbs.is_empty() {
            for (doc, score) in scores.iter_mut().enumerate() {
                let verbs = &self.verbs[doc];
                if verbs.is_empty() {
                    continue;
                }
                let named_action =
                    action_id.is_some() && self.name_terms[doc].first() == action_id.as_ref();
                let agrees = named_action
                    || query_verbs.iter().any(|q| {
                        verbs
                            .iter()
                            .any(|verb| q == verb || self.synonyms.of(q).contains(verb))
                    });
                agreed[doc] = agrees;
                if !agrees {
                    *score *= VERB_CONFLICT;
                }
            }
        }
        // A name the task explains word for word beats one it explains in part:
        // `list_pipelines` over `list_pipeline_schedules` for "the pipelines".
        for (doc, score) in scores.iter_mut().enumerate() {
            let terms = &self.name_terms[doc];
            if *score == 0.0 || terms.is_empty() {
                continue;
            }
            let is_agreed_verb = |t: &u32| {
                agreed[doc]
                    && self.verbs[doc]
                        .iter()
                        .any(|verb| self.terms.get(verb) == Some(t))
            };
            let explained: f32 = terms
                .iter()
                .map(|t| {
                    if is_agreed_verb(t) {
                        return 1.0;
                    }
                    matched
                        .binary_search_by_key(t, |&(term, _)| term)
                        .map_or(0.0, |i| matched[i].1)
                })
                .sum();
            let precision = explained / terms.len() as f32;
            *score *= 1.0 - NAME_PRECISION_WEIGHT + NAME_PRECISION_WEIGHT * precision;
        }
        // Two words of the task side by side in a tool's name say more than either alone.
        for pair in query_stems.windows(2) {
            if let Some(docs) = self.name_pairs.get(&(pair[0].clone(), pair[1].clone())) {
                for &doc in docs {
                    scores[doc as usize] *= NAME_PAIR_BONUS;
                }
            }
        }
        // "cancel the subscription": the verb an order opens with, as the first word of a
        // tool's name, is what that tool does.
        if let Some(action) = action_id {
            for (doc, score) in scores.iter_mut().enumerate() {
                if self.name_terms[doc].first() == Some(&action) {
                    *score *= ORDER_NAME_BONUS;
                }
            }
        }
        // "add 'renew passport' to my To Do list": where an order acts exists; a tool named
        // for that place makes or changes it instead, unless its name says "to" too
        // (`move_issues_to_backlog`).
        let places: Vec<u32> = if is_order {
            phrasing::destinations(query)
                .iter()
                .filter_map(|head| self.analyzer.term(head))
                .filter_map(|stem| self.terms.get(&stem).copied())
                .collect()
        } else {
            Vec::new()
        };
        for (doc, score) in scores.iter_mut().enumerate() {
            let terms = &self.name_terms[doc];
            let ends_in_place = terms.len() > 1 && terms.last().is_some_and(|t| places.contains(t));
            if ends_in_place && !self.surface[doc].iter().any(|w| w == "to" || w == "into") {
                *score *= VERB_CONFLICT;
            }
        }
        // "the pipelines", "my manager": a name that has the task's word as written.
        let written_words: Vec<&String> = words
            .iter()
            .filter(|w| !content.contains(w.as_str()))
            .collect();
        for (doc, score) in scores.iter_mut().enumerate() {
            if *score == 0.0 {
                continue;
            }
            let same = self.surface[doc]
                .iter()
                .filter(|w| written_words.contains(w))
                .count();
            *score *= 1.0 + SURFACE_BONUS * same as f32 / self.surface[doc].len().max(1) as f32;
        }
        let text_best = scores.iter().cloned().fold(0f32, f32::max);
        if !preferred.is_empty() {
            // Every tool of a named namespace is a candidate, the matching ones first.
            let floor = if text_best > 0.0 {
                text_best * 0.05
            } else {
                1.0
            };
            let mut strength = vec![0f32; self.namespaces.len()];
            for &(ns, preference) in &preferred {
                strength[ns] = preference;
            }
            for (doc, score) in scores.iter_mut().enumerate() {
                let preference = strength[self.doc_namespace[doc] as usize];
                if preference >= NAMESPACE_PREFERENCE {
                    *score = (*score + floor) * preference;
                } else if preference > 0.0 {
                    // A bare mention lifts what matched; it does not make a candidate of
                    // every tool there ("forget everything" is no call for `everything`).
                    *score *= preference;
                }
            }
        }
        let best = scores.iter().cloned().fold(0f32, f32::max);
        if best > 0.0 {
            for score in &mut scores {
                *score /= best;
            }
        }
        self.boost_names(query, &written, &whole_words, &mut scores);

        let mut ranked: Vec<(usize, f32)> = scores
            .iter()
            .enumerate()
            .filter(|&(doc, &score)| score > 0.02 && allowed(doc))
            .map(|(doc, &score)| (doc, score))
            .collect();
        // Ties keep the catalogue's order (namespaces as configured, tools as listed).
        let order = |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        // Only the best `limit` need an order: select them first, then sort those.
        if ranked.len() > limit.max(1) {
            ranked.select_nth_unstable_by(limit.max(1) - 1, order);
            ranked.truncate(limit.max(1));
        }
        ranked.sort_by(order);
        let weak = match ranked.first() {
            None => true,
            Some(&(doc, score)) => {
                let named = score >= 1.5;
                let coverage = if query_weight > 0.0 {
                    covered[doc] / query_weight
                } else {
                    1.0
                };
                !named && coverage < WEAK_COVERAGE
            }
        };
        ranked.truncate(limit);
        Ranking { hits: ranked, weak }
    }

    /// The namespace a place is in: the one whose tools hold nearly all uses of the place's
    /// head word. The head is its last word but adverbs ("this checkout recently"); the
    /// words before it only say which one ("the products collection" is a collection).
    fn namespace_of_place(&self, place: &[String]) -> Option<usize> {
        if place.iter().any(|word| {
            self.namespaces
                .iter()
                .any(|(_, names)| names_namespace(word, names))
        }) {
            return None;
        }
        let head = place.iter().rev().find(|word| !word.ends_with("ly"))?;
        let stem = self.analyzer.term(head)?;
        if self.synonyms.is_generic(&stem) {
            return None;
        }
        let &id = self.terms.get(&stem)?;
        let mut mass = vec![0f32; self.namespaces.len()];
        for posting in &self.postings[id as usize] {
            mass[self.doc_namespace[posting.doc as usize] as usize] += posting.weight;
        }
        let total: f32 = mass.iter().sum();
        let (ns, &most) = mass.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
        (total > 0.0 && most / total >= PLACE_SHARE).then_some(ns)
    }

    /// The tool's own name in the query wins; a near miss of it (one identifier-like
    /// word) is lifted.
    fn boost_names(
        &self,
        query: &str,
        written: &[&str],
        whole_words: &[String],
        scores: &mut [f32],
    ) {
        let bare = query.trim_start_matches("tools.").to_lowercase();
        if let Some(docs) = self.names.get(&bare) {
            for &doc in docs {
                scores[doc as usize] += 3.0;
            }
            return;
        }
        // A word written as an identifier (`git_log`, `listIssues`) names a tool; a plain
        // word that happens to be a tool's name ("find", "login") does not.
        for (word, lower) in written.iter().zip(whole_words) {
            if !looks_like_identifier(word) {
                continue;
            }
            if let Some(docs) = self.names.get(lower.as_str()) {
                for &doc in docs {
                    scores[doc as usize] += 1.5;
                }
            }
        }
        // Fuzzy matching walks every tool: only for a query that is one identifier, or one
        // word nothing else matched.
        let [word] = whole_words else { return };
        let unmatched = scores.iter().all(|&score| score == 0.0);
        if word.len() < 4
            || self.names.contains_key(word)
            || !(unmatched || written.first().is_some_and(|w| looks_like_identifier(w)))
        {
            return;
        }
        let first = word.chars().next();
        for (index, doc) in self.docs.iter().enumerate() {
            if doc.ident.chars().next().map(|c| c.to_ascii_lowercase()) != first
                && doc
                    .original_name
                    .chars()
                    .next()
                    .map(|c| c.to_ascii_lowercase())
                    != first
            {
                continue;
            }
            let (ident, original) = &self.lower_names[index];
            let similarity =
                strsim::jaro_winkler(word, ident).max(strsim::jaro_winkler(word, original));
            if similarity >= 0.88 {
                scores[index] += (similarity as f32 - 0.88) * 8.0;
            }
        }
    }
}

/// What a tool does, as the generic verbs that say it: the source's own verb for it
/// (`GET /customers` lists), else its name's (`create` in `create_repository`, `list` in
/// `pulls/list` or `orders.list`); and the verb its title or first sentence starts with
/// ("Cancels a subscription" for `DeleteSubscriptionsSubscription`).
fn tool_verbs(
    doc: &SearchDoc,
    name_words: &[String],
    analyzer: &Analyzer,
    synonyms: &Synonyms,
) -> Vec<String> {
    let first_term = |text: &str| analyzer.terms(text).into_iter().next();
    let stated = first_term(&doc.keywords);
    let after_resource = doc
        .original_name
        .split_once(['/', '.'])
        .and_then(|(_, rest)| first_term(rest));
    let named = stated
        .into_iter()
        .chain(after_resource)
        .chain(name_words.first().cloned())
        .find(|w| synonyms.is_generic(w));
    let summary = if doc.title.is_empty() {
        summary_and_rest(&doc.description).0
    } else {
        &doc.title
    };
    // After a product's name that opens it: "Notion | Append block children".
    let summary = match summary.split_once(" | ") {
        Some((product, rest)) if product.split_whitespace().count() <= 3 => rest,
        _ => summary,
    };
    let described = first_term(summary).filter(|w| synonyms.is_generic(w));
    let mut verbs: Vec<String> = named.into_iter().collect();
    // `API-post-search`, `post_query`: an HTTP method that opens a name is how the tool is
    // called; the verb after it is what it does.
    if let [method, action, ..] = name_words {
        if HTTP_METHODS.contains(&method.as_str()) && synonyms.is_generic(action) {
            verbs.push(action.clone());
        }
    }
    if let Some(verb) = described {
        if !verbs.contains(&verb) {
            verbs.push(verb);
        }
    }
    verbs
}

/// HTTP methods, as stems, that tool names generated from routes start with.
const HTTP_METHODS: &[&str] = &["get", "post", "put", "patch", "delet"];

/// Whether a query word names the namespace whose identifier and name words are `names`
/// (the identifier first): exactly, as one of its words, or nearly (`gitlab` → `gitlabx`).
fn names_namespace(word: &str, names: &[String]) -> bool {
    let ident = names.first().map_or("", String::as_str);
    let close = word.len() >= 4
        && (ident.starts_with(word) || word.starts_with(ident))
        && ident.len().abs_diff(word.len()) <= 2;
    ident == word || close || (word.len() >= 3 && names.iter().any(|n| n == word))
}

/// `git_log`, `get-sum`, `orders.list`, `listIssues`: not a word of prose.
fn looks_like_identifier(word: &str) -> bool {
    word.contains(['_', '-', '.'])
        || word
            .chars()
            .zip(word.chars().skip(1))
            .any(|(a, b)| a.is_lowercase() && b.is_uppercase())
}

impl SearchDoc {
    /// The fields of one tool: its names, title, description and parameters, and its
    /// namespace's name and description.
    pub fn new(
        namespace_ident: &str,
        namespace_name: &str,
        namespace_description: Option<&str>,
        ident: &str,
        spec: &crate::ToolSpec,
    ) -> SearchDoc {
        let mut parameters = String::new();
        collect_parameters(&spec.input_schema, 0, &mut parameters);
        let description: String = spec
            .description
            .as_deref()
            .unwrap_or("")
            .chars()
            .take(DESCRIPTION_CHARS)
            .collect();
        let mut namespace_text = spaced_words(namespace_name);
        if let Some(text) = namespace_description {
            namespace_text.push(' ');
            namespace_text.extend(text.chars().take(300));
        }
        SearchDoc {
            namespace: namespace_ident.to_string(),
            ident: ident.to_string(),
            original_name: spec.name.clone(),
            namespace_text,
            title: spec.title.clone().unwrap_or_default(),
            description,
            parameters,
            keywords: spec.keywords.clone().unwrap_or_default(),
        }
    }
}

fn collect_parameters(schema: &Value, depth: usize, text: &mut String) {
    if depth > 1 {
        return;
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            text.push_str(&spaced_words(name));
            text.push(' ');
            if let Some(description) = property.get("description").and_then(Value::as_str) {
                text.extend(description.chars().take(160));
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
mod tests;
