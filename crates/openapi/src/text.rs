//! Descriptions as an agent reads them: many specs (Stripe's among them) write theirs in
//! HTML, and tags cost tokens without saying anything. Tags are dropped (a paragraph or line
//! break becomes a newline), the common entities decoded; Markdown is left as it is.

/// `text` without HTML tags; unchanged when it has none.
pub(crate) fn plain(text: &str) -> String {
    if !text.contains('<') && !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        // Only `<tag …>` / `</tag>` count as tags; a lone `<` (as in `a < b`) stays.
        let is_tag = after[1..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '!');
        match (is_tag, after.find('>')) {
            (true, Some(end)) => {
                let tag = after[1..end].trim_start_matches('/').to_ascii_lowercase();
                let name = tag
                    .split(|c: char| !c.is_ascii_alphanumeric())
                    .next()
                    .unwrap_or("");
                if matches!(name, "p" | "br" | "li" | "ul" | "ol" | "div" | "tr")
                    && !out.ends_with('\n')
                    && !out.is_empty()
                {
                    out.push('\n');
                }
                rest = &after[end + 1..];
            }
            _ => {
                out.push('<');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    let decoded = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    decoded.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::plain;

    #[test]
    fn tags_go_and_text_stays() {
        assert_eq!(plain("<p>Create a refund.</p>"), "Create a refund.");
        assert_eq!(
            plain("<p>Updates a <a href=\"/docs\">connected account</a>.</p><p>Second.</p>"),
            "Updates a connected account.\nSecond."
        );
        assert_eq!(plain("a < b &amp; c"), "a < b & c");
        assert_eq!(plain("no tags"), "no tags");
    }
}
