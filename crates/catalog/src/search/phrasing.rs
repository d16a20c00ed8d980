//! How a task is phrased, beyond its words: which words are the *content* the tool will be
//! given ("post 'deploy done'", "a page called Roadmap", "an email about the meeting") and
//! not what picks the tool, and which verb the task is an order for ("add 'renew passport'
//! to my To Do list" adds; the "list" is a thing).

use std::collections::HashSet;

use super::words::for_each_word;

/// Words after which the next word (or quoted text) is a name the task gives, not a word
/// about the tool; "per region" is a key the tool groups by.
const NAMING_WORDS: &[&str] = &["called", "named", "titled", "per"];

/// Verbs that pass on a message: a `that` clause after one is what the message says
/// ("remember that Alice likes tea", "tell Priya that I'm late").
const SAYING_VERBS: &[&str] = &[
    "remember", "memorize", "note", "tell", "say", "says", "saying", "mention", "record", "write",
    "post", "comment", "reply", "message", "ask", "confirm", "announce", "notify",
];

/// Words a task may open with before its verb.
const FILLERS: &[&str] = &[
    "please", "can", "could", "would", "will", "you", "i", "want", "need", "to", "let", "s",
    "lets", "just", "now", "quickly", "also",
];

/// Words that, opening an order, mean a generic verb they are not otherwise a synonym of:
/// "log 2 hours" records, "comment LGTM" adds a comment. The verb is matched against what
/// tools do, never as text.
pub(crate) const ORDER_VERBS: &[(&str, &str)] = &[
    ("remember", "create"),
    ("memorize", "create"),
    ("record", "create"),
    ("note", "create"),
    ("comment", "create"),
    ("log", "create"),
    ("draft", "create"),
    ("file", "create"),
    ("leave", "create"),
    ("write", "create"),
    ("put", "create"),
    ("store", "create"),
    ("schedule", "create"),
    ("book", "create"),
    ("start", "create"),
    ("change", "update"),
    // git's word for adding to the index.
    ("stage", "add"),
    ("mark", "update"),
    ("tell", "send"),
    ("message", "send"),
    ("email", "send"),
    ("mail", "send"),
];

/// The lower-case words of `query` that only ever appear inside content: quoted text, a
/// name after "called", what a message is about, what a `that` clause says.
pub(crate) fn content_words(query: &str) -> HashSet<String> {
    let tokens: Vec<&str> = query.split_whitespace().collect();
    let lower: Vec<String> = tokens
        .iter()
        .map(|t| {
            t.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .collect();
    let asks = lower
        .first()
        .is_some_and(|w| super::QUESTION_WORDS.contains(&w.as_str()));
    let mut content = vec![false; tokens.len()];
    let mut quote: Option<char> = None;
    // In a span of content until punctuation; `Some(true)`: a preposition that places the
    // task ("about the release process in our gitlab project") ends it too.
    let mut span: Option<bool> = None;
    let mut name_next = false;
    for (i, token) in tokens.iter().enumerate() {
        let word = lower[i].as_str();
        if let Some(close) = quote {
            content[i] = true;
            if token
                .trim_end_matches(['.', ',', '?', '!', ';', ':'])
                .ends_with(close)
            {
                quote = None;
            }
            continue;
        }
        if let Some(close) = opening_quote(token) {
            content[i] = true;
            name_next = false;
            let rest = &token[token.chars().next().map_or(0, char::len_utf8)..];
            if !rest
                .trim_end_matches(['.', ',', '?', '!', ';', ':'])
                .ends_with(close)
                || rest.is_empty()
            {
                quote = Some(close);
            }
            continue;
        }
        if name_next {
            content[i] = true;
            name_next = false;
            continue;
        }
        if let Some(breaks_at_prepositions) = span {
            if breaks_at_prepositions
                && (word == "but" || super::NAMESPACE_INTRODUCERS.contains(&word))
            {
                span = None;
            } else {
                content[i] = true;
                if token.ends_with([',', '.', ';', '?', '!', ':']) {
                    span = None;
                }
                continue;
            }
        }
        if NAMING_WORDS.contains(&word) {
            name_next = true;
        } else if word == "about" && !asks {
            span = Some(true);
        } else if word == "that"
            && lower[..i]
                .iter()
                .any(|w| SAYING_VERBS.contains(&w.as_str()))
        {
            span = Some(false);
        }
    }
    words_only_inside(tokens.into_iter().zip(content))
}

/// The words of the tokens marked inside that no token outside has.
fn words_only_inside<'a>(tokens: impl Iterator<Item = (&'a str, bool)>) -> HashSet<String> {
    let mut inside = HashSet::new();
    let mut outside = HashSet::new();
    for (token, is_inside) in tokens {
        let set = if is_inside { &mut inside } else { &mut outside };
        for_each_word(token, |w| {
            set.insert(w.to_string());
        });
    }
    inside.retain(|w| !outside.contains(w));
    inside
}

/// The closing quote a token opens with, if it opens one.
fn opening_quote(token: &str) -> Option<char> {
    match token.chars().next()? {
        '\'' => Some('\''),
        '"' => Some('"'),
        '‘' => Some('’'),
        '“' => Some('”'),
        '`' => Some('`'),
        _ => None,
    }
}

/// Words that, before a word, make it a thing: an opening word followed by one is a verb
/// ("commit the changes"), not a noun ("commit history").
pub(crate) const DETERMINERS: &[&str] = &[
    "a", "an", "the", "my", "our", "your", "his", "her", "its", "their", "this", "that", "these",
    "those", "all", "every", "each", "some", "me", "us", "him", "them", "it", "up", "out", "with",
    "in", "on", "to", "back", "down",
];

/// Words that negate the word after them: "don't send it yet" is no call for sending.
const NEGATORS: &[&str] = &[
    "not", "don't", "dont", "never", "without", "doesn't", "didn't",
];

/// Whether the task opens with an order: its first word (past fillers) is followed by a
/// determiner, a value (`README.md`, `PROJ-5`, `#12`, `'…'`), a name or a possessive.
pub(crate) fn opens_with_order(query: &str) -> bool {
    let mut tokens = query
        .split_whitespace()
        .skip_while(|t| FILLERS.contains(&t.to_lowercase().as_str()));
    let (Some(_), Some(next)) = (tokens.next(), tokens.next()) else {
        return false;
    };
    let lower = next.to_lowercase();
    DETERMINERS.contains(&lower.trim_end_matches([',', '.']))
        || super::words::entity_kind(next).is_some()
        || next.starts_with(|c: char| c.is_ascii_digit() || "#!'\"‘“`@$".contains(c))
        || next.starts_with(char::is_uppercase)
        || lower.ends_with("'s")
}

/// The lower-case words of `query` that a negation governs ("but don't send it", "not
/// staged"), and nowhere else.
pub(crate) fn negated_words(query: &str) -> HashSet<String> {
    let mut marked = Vec::new();
    let mut after_negator = false;
    for token in query.split_whitespace() {
        let word = token
            .trim_matches(|c: char| !c.is_alphanumeric() && c != '\'')
            .to_lowercase();
        if NEGATORS.contains(&word.as_str()) || word == "do" && after_negator {
            after_negator = true;
            continue;
        }
        marked.push((token, after_negator));
        after_negator = false;
    }
    words_only_inside(marked.into_iter())
}

/// The word an order opens with, past fillers ("please", "can you"): `words` are the
/// task's lower-case words, phrases already replaced.
pub(crate) fn opening_word(words: &[String]) -> Option<&str> {
    words
        .iter()
        .map(String::as_str)
        .find(|w| !FILLERS.contains(w))
}

/// Prepositions that place a task; "to" and "with" mostly do not ("to test the
/// connection", "with the message 'fix typo'").
const PLACE_PREPOSITIONS: &[&str] = &["in", "on", "from", "inside", "into", "within", "using"];

/// The places a task names after a preposition ("in this checkout", "in the CRM", "on the
/// products collection"): per place, its lower-case words past determiners, at most three,
/// until the next preposition, conjunction or punctuation.
pub(crate) fn places(query: &str) -> Vec<Vec<String>> {
    phrases_after(query, PLACE_PREPOSITIONS)
}

/// Where an order acts ("add 'renew passport' to my To Do list", "post an update in the
/// release channel"): the head word of each phrase after "to", "into", "in" or "on", past
/// adverbs. The place exists; a tool named for it (`create-todo-task-list`,
/// `create-team-channel`) would make or change the place instead.
pub(crate) fn destinations(query: &str) -> Vec<String> {
    phrases_after(query, &["to", "into", "onto", "in", "on", "inside"])
        .into_iter()
        .filter_map(|phrase| phrase.into_iter().rev().find(|w| !w.ends_with("ly")))
        .collect()
}

/// Per phrase after one of `prepositions`: its lower-case words past determiners, at most
/// three, until the next preposition, conjunction or punctuation.
fn phrases_after(query: &str, prepositions: &[&str]) -> Vec<Vec<String>> {
    let mut places: Vec<Vec<String>> = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for token in query.split_whitespace() {
        let word = token
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        if prepositions.contains(&word.as_str()) {
            places.extend(current.take().filter(|place| !place.is_empty()));
            current = Some(Vec::new());
            continue;
        }
        if let Some(place) = current.as_mut() {
            let ends = matches!(
                word.as_str(),
                "and" | "or" | "but" | "for" | "that" | "than"
            );
            if ends || word.is_empty() {
                places.extend(current.take().filter(|place| !place.is_empty()));
                continue;
            }
            if place.is_empty() && DETERMINERS.contains(&word.as_str()) {
                continue;
            }
            if place.len() < 3 {
                place.push(word);
            }
            if token.ends_with([',', '.', ';', '?', '!', ':']) {
                places.extend(current.take().filter(|place| !place.is_empty()));
            }
        }
    }
    places.extend(current.filter(|place| !place.is_empty()));
    places
}

/// "add 17 and 25": an order to add numbers asks for their sum, which a tool computes and
/// returns; nothing is created.
pub(crate) fn asks_for_sum(query: &str) -> bool {
    let tokens: Vec<String> = query
        .split_whitespace()
        .map(|t| t.trim_end_matches([',', '.', '?', '!']).to_lowercase())
        .skip_while(|t| FILLERS.contains(&t.as_str()))
        .collect();
    let is_number = |t: &str| !t.is_empty() && t.parse::<f64>().is_ok();
    match tokens.as_slice() {
        [verb, first, joiner, second, ..] => {
            matches!(verb.as_str(), "add" | "sum")
                && is_number(first)
                && matches!(joiner.as_str(), "and" | "to" | "plus" | "with")
                && is_number(second)
        }
        [verb, first, second, ..] => verb == "sum" && is_number(first) && is_number(second),
        _ => false,
    }
}

/// The generic verb an opening word means when it is not a synonym of one already.
pub(crate) fn order_verb(word: &str) -> Option<&'static str> {
    ORDER_VERBS
        .iter()
        .find(|(w, _)| *w == word)
        .map(|(_, verb)| *verb)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The content's words that are not stop words.
    fn content(query: &str) -> Vec<String> {
        let analyzer = super::super::words::Analyzer::default();
        let mut words: Vec<String> = content_words(query)
            .into_iter()
            .filter(|w| analyzer.term(w).is_some())
            .collect();
        words.sort();
        words
    }

    #[test]
    fn quoted_text_and_names_are_content() {
        assert_eq!(
            content("post 'deploy done' in the ops channel"),
            ["deploy", "done"]
        );
        assert_eq!(
            content("add 'renew passport' to my list"),
            ["passport", "renew"]
        );
        assert_eq!(content("make a folder called Invoices"), ["invoices"]);
        assert_eq!(
            content("draft a reply to the landlord's email"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn an_order_opens_with_a_verb_and_negated_words_are_known() {
        assert!(opens_with_order("commit the staged changes"));
        assert!(opens_with_order("stage README.md for the next commit"));
        assert!(opens_with_order("merge PR #12"));
        assert!(opens_with_order("approve Sam's merge request"));
        assert!(!opens_with_order("commit history of the local repo"));
        assert!(!opens_with_order("current time in UTC"));
        let negated: Vec<String> = negated_words("draft a reply but don't send it yet")
            .into_iter()
            .collect();
        assert_eq!(negated, ["send"]);
        let negated: Vec<String> = negated_words("what have I changed but not staged yet")
            .into_iter()
            .collect();
        assert_eq!(negated, ["staged"]);
    }

    #[test]
    fn places_are_the_words_after_a_preposition() {
        assert_eq!(
            places("who changed the code in this checkout recently"),
            [vec!["checkout", "recently"]]
        );
        assert_eq!(
            places("add Jane Doe as a new contact in the CRM"),
            [vec!["crm"]]
        );
        assert_eq!(
            places("fetch the users from the mongodb users collection, please"),
            [vec!["mongodb", "users", "collection"]]
        );
        assert!(places("what time is it").is_empty());
        assert!(places("echo 'hi' back to me to test the connection").is_empty());
    }

    #[test]
    fn where_an_order_acts_is_the_head_of_the_phrase_after_to_or_in() {
        assert!(
            destinations("add 'renew passport' to my Microsoft To Do list")
                .contains(&"list".to_string())
        );
        assert_eq!(
            destinations("post an update in the release channel on Teams"),
            ["channel", "teams"]
        );
        assert!(destinations("list my open pull requests").is_empty());
    }

    #[test]
    fn adding_numbers_asks_for_their_sum() {
        assert!(asks_for_sum("add 17 and 25 using the test server"));
        assert!(asks_for_sum("please add 2.5 to 4"));
        assert!(!asks_for_sum("add 3 users to the group"));
        assert!(!asks_for_sum("add 'renew passport' to my list"));
    }

    #[test]
    fn what_a_message_is_about_or_says_is_content() {
        assert_eq!(
            content("send an email to bob about the meeting"),
            ["meeting"]
        );
        assert_eq!(
            content("file a bug in gitlab about the broken login page"),
            ["broken", "login", "page"]
        );
        assert_eq!(
            content("write a page about the release process in our gitlab project"),
            ["process", "release"]
        );
        assert_eq!(
            content("remember that Alice likes tea"),
            ["alice", "likes", "tea"]
        );
        assert!(
            content("what do you remember about Alice").is_empty(),
            "a question"
        );
        assert!(content("get the text of that notion page").is_empty());
    }
}
