//! Description text prepared for JSDoc: first paragraph only, length caps that say so with
//! "…", and `*/` escaped so no text from a server can end a comment early.

use super::ast::Doc;

/// Longest description kept for a tool (characters).
pub(crate) const TOOL_DESCRIPTION_CAP: usize = 600;
/// Longest description kept for a property, a type or a namespace (characters).
pub(crate) const FIELD_DESCRIPTION_CAP: usize = 300;
/// Longest one-line summary for search results (characters).
pub(crate) const SUMMARY_CAP: usize = 160;
/// Longest JSON value shown in a tag such as `@default` (characters).
pub(crate) const TAG_VALUE_CAP: usize = 80;
/// A JSDoc comment is written on one line when it fits in this many columns.
const ONE_LINE_WIDTH: usize = 100;

/// The first paragraph of `text` (up to the first blank line), lines trimmed at the end,
/// capped at `cap` characters. `None` when nothing is left.
pub(crate) fn first_paragraph(text: &str, cap: usize) -> Option<String> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let paragraph: Vec<&str> = text
        .trim()
        .lines()
        .map(str::trim_end)
        .take_while(|line| !line.trim().is_empty())
        .collect();
    let paragraph = paragraph.join("\n");
    if paragraph.is_empty() {
        None
    } else {
        Some(cap_chars(&paragraph, cap))
    }
}

/// The first sentence of the first paragraph, on one line, capped at `cap` characters.
pub(crate) fn first_sentence(text: &str, cap: usize) -> Option<String> {
    let paragraph = first_paragraph(text, usize::MAX)?;
    let line = paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
    let end = sentence_end(&line).unwrap_or(line.len());
    Some(cap_chars(&line[..end], cap))
}

/// Byte index just after the first sentence's final punctuation, if the text has more
/// after it. A full stop ends a sentence only when followed by a space and an upper-case
/// letter or digit, and not after an abbreviation such as "e.g." or a single letter.
fn sentence_end(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if !matches!(b, b'.' | b'!' | b'?') || bytes.get(i + 1) != Some(&b' ') {
            continue;
        }
        let next_starts_sentence = line[i + 2..]
            .chars()
            .next()
            .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit() || c == '`');
        if !next_starts_sentence {
            continue;
        }
        if b == b'.' {
            let word = line[..i].rsplit(' ').next().unwrap_or("");
            let abbreviation = word.contains('.')
                || word.chars().count() <= 1
                || ["etc", "vs", "cf", "approx", "incl"].contains(&word.to_lowercase().as_str());
            if abbreviation {
                continue;
            }
        }
        return Some(i + 1);
    }
    None
}

/// `text` cut to at most `cap` characters (at a word boundary when one is near), with "…"
/// appended when anything was cut.
pub(crate) fn cap_chars(text: &str, cap: usize) -> String {
    if text.chars().count() <= cap {
        return text.to_owned();
    }
    let keep = cap.saturating_sub(1);
    let cut = text
        .char_indices()
        .nth(keep)
        .map_or(text.len(), |(index, _)| index);
    let head = &text[..cut];
    // Prefer ending on whole words, unless that would throw away most of the text.
    let head = match head.rfind(char::is_whitespace) {
        Some(space) if space > cut / 2 => &head[..space],
        _ => head,
    };
    format!("{}…", head.trim_end())
}

/// Text made safe inside a `/* */` comment.
pub(crate) fn escape_comment(text: &str) -> String {
    text.replace("*/", "*\\/")
}

/// Writes `doc` as a JSDoc comment at `indent`, on one line when it fits.
pub(crate) fn write_jsdoc(out: &mut String, doc: &Doc, indent: &str) {
    let mut lines: Vec<String> = Vec::new();
    if let Some(description) = &doc.description {
        lines.extend(description.lines().map(escape_comment));
    }
    for tag in &doc.tags {
        let value = escape_comment(&tag.value);
        lines.push(if value.is_empty() {
            format!("@{}", tag.name)
        } else {
            format!("@{} {value}", tag.name)
        });
    }
    if lines.is_empty() {
        return;
    }
    let description_lines = doc.description.as_ref().map_or(0, |d| d.lines().count());
    let one_line = lines.join(" ");
    // A lone description line stays on one line however long: wrapping it in three lines
    // would add tokens, not clarity.
    let fits = indent.len() + one_line.len() + 7 <= ONE_LINE_WIDTH;
    if description_lines <= 1 && (doc.tags.is_empty() || fits) {
        out.push_str(&format!("{indent}/** {one_line} */\n"));
        return;
    }
    out.push_str(&format!("{indent}/**\n"));
    for line in lines {
        if line.is_empty() {
            out.push_str(&format!("{indent} *\n"));
        } else {
            out.push_str(&format!("{indent} * {line}\n"));
        }
    }
    out.push_str(&format!("{indent} */\n"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::typescript::ast::Tag;

    #[test]
    fn first_paragraph_stops_at_blank_line() {
        let text = "  Summary line.\r\nMore detail.  \n\n  Args:\n    x: thing\n";
        assert_eq!(
            first_paragraph(text, 100).as_deref(),
            Some("Summary line.\nMore detail.")
        );
        assert_eq!(first_paragraph(" \n\n ", 100), None);
    }

    #[test]
    fn caps_say_so() {
        assert_eq!(cap_chars("short", 10), "short");
        assert_eq!(cap_chars("one two three four", 12), "one two…");
        assert_eq!(cap_chars("abcdefghij", 5), "abcd…");
        assert_eq!(cap_chars("ééééé", 3), "éé…");
    }

    #[test]
    fn first_sentence_skips_abbreviations() {
        let text = "Get the time, e.g. in UTC. Then more.\nSecond line.";
        assert_eq!(
            first_sentence(text, 100).as_deref(),
            Some("Get the time, e.g. in UTC.")
        );
        assert_eq!(
            first_sentence("No full stop here", 100).as_deref(),
            Some("No full stop here")
        );
        assert_eq!(
            first_sentence("Version 1.2 is here. Next", 100).as_deref(),
            Some("Version 1.2 is here.")
        );
    }

    #[test]
    fn jsdoc_escapes_comment_end_and_chooses_layout() {
        let mut out = String::new();
        let doc = Doc {
            description: Some("Matches a/*/b */ paths".into()),
            tags: vec![Tag {
                name: "default",
                value: "3".into(),
            }],
        };
        write_jsdoc(&mut out, &doc, "  ");
        assert_eq!(out, "  /** Matches a/*\\/b *\\/ paths @default 3 */\n");

        let mut out = String::new();
        let doc = Doc {
            description: Some("Line one\nLine two".into()),
            tags: vec![Tag {
                name: "deprecated",
                value: String::new(),
            }],
        };
        write_jsdoc(&mut out, &doc, "");
        assert_eq!(out, "/**\n * Line one\n * Line two\n * @deprecated\n */\n");
    }
}
