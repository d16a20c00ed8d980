//! Text → the terms search compares: identifiers split at case and separator boundaries,
//! lower-cased, stop words dropped, each word stemmed (Snowball English), so that
//! `listCommits`, "list the commits" and "commit list" meet on `list` and `commit`.

use std::collections::HashSet;

use rust_stemmers::{Algorithm, Stemmer};

/// Words that say nothing about which tool a task needs. Deliberately short: "all", "new",
/// "who" and "not" carry meaning in tasks and stay.
const STOP_WORDS: &[&str] = &[
    "a", "about", "am", "an", "and", "any", "are", "as", "at", "be", "by", "can", "could", "do",
    "does", "for", "from", "has", "have", "how", "i", "in", "into", "is", "it", "its", "let", "me",
    "my", "of", "on", "or", "our", "please", "should", "so", "some", "that", "the", "their",
    "them", "there", "these", "they", "this", "those", "to", "us", "using", "via", "want", "was",
    "we", "were", "what", "when", "where", "which", "will", "with", "would", "you", "your",
];

/// Words Snowball stems into another word's stem, or away from their own family's:
/// "customers" is not "custom", "subscribe" is what a "subscription" does.
const STEM_OVERRIDES: &[(&str, &str)] = &[
    ("customer", "customer"),
    ("customers", "customer"),
    ("subscribe", "subscript"),
    ("subscribed", "subscript"),
    ("subscribes", "subscript"),
    ("subscribing", "subscript"),
];

/// Splits, lower-cases, drops stop words and stems. Reused across calls: building a
/// stemmer is cheap but not free.
pub(crate) struct Analyzer {
    stemmer: Stemmer,
}

impl Default for Analyzer {
    fn default() -> Self {
        Analyzer {
            stemmer: Stemmer::create(Algorithm::English),
        }
    }
}

impl Analyzer {
    /// The stemmed terms of `text`, in order, stop words left out.
    pub fn terms(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for_each_word(text, |word| {
            if let Some(term) = self.term(word) {
                out.push(term);
            }
        });
        out
    }

    /// One lower-case word's term, or `None` for a stop word.
    pub fn term(&self, word: &str) -> Option<String> {
        if word.is_empty() || STOP_WORDS.binary_search(&word).is_ok() {
            return None;
        }
        if let Some((_, stem)) = STEM_OVERRIDES.iter().find(|(w, _)| *w == word) {
            return Some((*stem).to_string());
        }
        Some(self.stemmer.stem(word).into_owned())
    }
}

/// Calls `each` with every lower-case word of `text`: runs of letters and digits, split
/// again where an identifier changes case (`batchGet` → `batch`, `get`; `HTTPServer` →
/// `http`, `server`) or from letters to digits.
pub(crate) fn for_each_word(text: &str, mut each: impl FnMut(&str)) {
    let mut word = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            flush(&mut word, &mut each);
            continue;
        }
        if let Some(&previous) = i.checked_sub(1).and_then(|p| chars.get(p)) {
            let next = chars.get(i + 1).copied();
            let boundary = (c.is_uppercase()
                && (previous.is_lowercase() || previous.is_ascii_digit()))
                || (c.is_uppercase()
                    && previous.is_uppercase()
                    && next.is_some_and(char::is_lowercase))
                || (c.is_ascii_digit() && previous.is_alphabetic())
                || (c.is_alphabetic() && previous.is_ascii_digit());
            if boundary {
                flush(&mut word, &mut each);
            }
        }
        word.extend(c.to_lowercase());
    }
    flush(&mut word, &mut each);
}

fn flush(word: &mut String, each: &mut impl FnMut(&str)) {
    if !word.is_empty() {
        each(word);
        word.clear();
    }
}

/// What a written token in a task stands for when it is a value rather than a word:
/// `https://…` a URL, `notes/todo.txt` a file, `PROJ-123` an issue, `#general` a channel,
/// `bob@example.com` an email. Identifiers (`git_log`, `orders.list`) are not values.
pub(crate) fn entity_kind(token: &str) -> Option<&'static str> {
    let token = token.trim_matches(|c: char| {
        matches!(
            c,
            '\'' | '"' | '`' | '(' | ')' | ',' | '?' | '!' | ':' | ';'
        )
    });
    let token = token.trim_end_matches('.');
    if token.contains("://") || token.starts_with("www.") {
        return Some("url");
    }
    if token.contains('@') && token.contains('.') {
        return Some("email");
    }
    if let Some(name) = token.strip_prefix('#') {
        if !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
            && !name.chars().all(|c| c.is_ascii_digit())
        {
            return Some("channel");
        }
        return None;
    }
    if let Some((key, number)) = token.split_once('-') {
        if key.len() >= 2
            && key.chars().all(|c| c.is_ascii_uppercase())
            && !number.is_empty()
            && number.chars().all(|c| c.is_ascii_digit())
        {
            return Some("issue");
        }
    }
    let file_name = token.rsplit('/').next().unwrap_or(token);
    if WELL_KNOWN_FILES.contains(&file_name) {
        return Some("file");
    }
    if let Some((stem, extension)) = file_name.rsplit_once('.') {
        let is_extension = (1..=5).contains(&extension.len())
            && extension.chars().all(|c| c.is_ascii_alphanumeric())
            && extension.chars().any(|c| c.is_ascii_lowercase());
        if is_extension
            && !stem.is_empty()
            && FILE_EXTENSIONS.contains(&extension.to_ascii_lowercase().as_str())
        {
            return Some("file");
        }
    }
    None
}

/// Files a task names without an extension.
const WELL_KNOWN_FILES: &[&str] = &[
    "README",
    "LICENSE",
    "CHANGELOG",
    "CONTRIBUTING",
    "Makefile",
    "Dockerfile",
    "Gemfile",
    "Procfile",
    "Jenkinsfile",
    "Vagrantfile",
];

/// Extensions that make a token a file name (`orders.list` is a tool, `notes.txt` a file).
const FILE_EXTENSIONS: &[&str] = &[
    "c", "cfg", "conf", "cpp", "css", "csv", "doc", "docx", "gif", "go", "h", "html", "ini",
    "java", "jpeg", "jpg", "js", "json", "log", "md", "pdf", "png", "ppt", "pptx", "py", "rs",
    "sh", "sql", "svg", "toml", "ts", "tsv", "txt", "xls", "xlsx", "xml", "yaml", "yml", "zip",
];

/// Every lower-case word of `texts`.
pub(crate) fn vocabulary<'a>(texts: impl Iterator<Item = &'a str>) -> HashSet<String> {
    let mut words = HashSet::new();
    for text in texts {
        for_each_word(text, |word| {
            if !words.contains(word) {
                words.insert(word.to_string());
            }
        });
    }
    words
}

/// Shortest part a compound word is split into.
const COMPOUND_PART_CHARS: usize = 3;

/// `text` (spaced lower-case words) with, after it, the two words each compound in it joins
/// (`worklog` → `work log`, `datasource` → `data source`), when both are words of
/// `vocabulary`, neither is a stop word nor `is_generic` (`checkout` is no "check").
pub(crate) fn with_compound_parts(
    text: &str,
    vocabulary: &HashSet<String>,
    is_generic: impl Fn(&str) -> bool,
) -> String {
    let mut out = text.to_string();
    for word in text.split(' ') {
        if word.len() < 2 * COMPOUND_PART_CHARS + 1 || !word.is_ascii() {
            continue;
        }
        let usable = |part: &str| {
            part.len() >= COMPOUND_PART_CHARS
                && vocabulary.contains(part)
                && STOP_WORDS.binary_search(&part).is_err()
                && !is_generic(part)
        };
        // The most even split, so `worklog` is `work log` rather than a lucky `wor klog`.
        let split = (COMPOUND_PART_CHARS..=word.len() - COMPOUND_PART_CHARS)
            .filter(|&at| usable(&word[..at]) && usable(&word[at..]))
            .min_by_key(|&at| at.abs_diff(word.len() - at));
        if let Some(at) = split {
            out.push(' ');
            out.push_str(&word[..at]);
            out.push(' ');
            out.push_str(&word[at..]);
        }
    }
    out
}

/// The lower-case words of `text` joined by spaces (`get_sum` → `get sum`).
pub(crate) fn spaced_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for_each_word(text, |word| {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for_each_word(text, |w| out.push(w.to_string()));
        out
    }

    #[test]
    fn identifiers_split_at_case_separators_and_digits() {
        assert_eq!(words("batchGet"), ["batch", "get"]);
        assert_eq!(words("create_entities"), ["create", "entities"]);
        assert_eq!(words("get-sum"), ["get", "sum"]);
        assert_eq!(
            words("HTTPServer v2Api"),
            ["http", "server", "v", "2", "api"]
        );
        assert_eq!(
            words("ms365.list-mail_Messages"),
            ["ms", "365", "list", "mail", "messages"]
        );
    }

    #[test]
    fn values_in_a_task_are_read_as_their_kind() {
        assert_eq!(entity_kind("https://example.com"), Some("url"));
        assert_eq!(entity_kind("notes/todo.txt"), Some("file"));
        assert_eq!(entity_kind("'README.md'"), Some("file"));
        assert_eq!(entity_kind("PROJ-123"), Some("issue"));
        assert_eq!(entity_kind("#general"), Some("channel"));
        assert_eq!(entity_kind("#12"), None);
        assert_eq!(entity_kind("bob@example.com"), Some("email"));
        assert_eq!(entity_kind("orders.list"), None);
        assert_eq!(entity_kind("README"), Some("file"));
        assert_eq!(entity_kind("readme"), None, "a word, not the file");
        assert_eq!(entity_kind("git_log"), None);
        assert_eq!(entity_kind("meeting."), None);
    }

    #[test]
    fn the_stop_word_list_is_sorted_for_binary_search() {
        assert!(STOP_WORDS.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn a_compound_of_two_known_words_is_also_its_parts() {
        let vocabulary =
            vocabulary(["add a worklog, log the work, checkout and check out"].into_iter());
        let generic = |w: &str| w == "check";
        assert_eq!(
            with_compound_parts("add worklog", &vocabulary, generic),
            "add worklog work log"
        );
        assert_eq!(
            with_compound_parts("create checkout", &vocabulary, generic),
            "create checkout"
        );
    }

    #[test]
    fn terms_are_stemmed_without_stop_words() {
        let analyzer = Analyzer::default();
        assert_eq!(analyzer.terms("Show the commits"), ["show", "commit"]);
        assert_eq!(analyzer.terms("changed changes"), ["chang", "chang"]);
    }
}
