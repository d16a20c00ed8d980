//! What a model pays, in tokens, to know the tools: the classic way (every upstream tool's
//! name, description and schemas, as `tools/list` sends them) against this gateway's own
//! `tools/list` (two tools whose size does not depend on the catalogue).
//!
//! Per namespace it also counts the generated TypeScript declarations (what an agent reads
//! from `codemode://types/<ns>.d.ts`, or a slice of which `search` returns): the typed
//! API's cost against the raw schemas it was made from.
//!
//! Tokens are counted with o200k_base (the tokenizer of current OpenAI models; other
//! vendors' tokenizers land within a few percent on JSON) over each tool's compact JSON.
//!
//! This crate only measures: it must never change what the gateway serves.

use std::collections::BTreeMap;

use serde::Serialize;
use tiktoken_rs::CoreBPE;

use codemode_gateway::Gateway;

/// The comparison for one catalogue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenReport {
    /// Tokens of every upstream tool, as a classic client loads them.
    pub classic: usize,
    /// Tokens of the gateway's own tools (`search` and `execute`).
    pub codemode: usize,
    /// `1 - codemode / classic`: the share of tokens saved (negative when the gateway costs
    /// more, as it does for a handful of tiny tools).
    pub reduction: f64,
    /// Per namespace (an upstream server, or a demo namespace).
    pub upstreams: BTreeMap<String, UpstreamTokens>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpstreamTokens {
    pub tools: usize,
    /// The namespace's tools as `tools/list` JSON.
    pub classic: usize,
    /// The namespace's generated `.d.ts`.
    pub declarations: usize,
}

/// Why tokens could not be counted.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the tokenizer o200k_base could not be loaded: {0}")]
    Tokenizer(String),
}

/// Counts both sides for the gateway's current catalogue.
pub fn token_report(gateway: &Gateway) -> Result<TokenReport, TokenError> {
    let bpe = tiktoken_rs::o200k_base().map_err(|e| TokenError::Tokenizer(e.to_string()))?;
    let mut upstreams = BTreeMap::new();
    let catalog = gateway.catalog();
    for (namespace, specs) in catalog.tool_specs() {
        let classic = specs.iter().map(|spec| count_json(&bpe, spec)).sum();
        let declarations = catalog
            .namespace_declarations(&namespace)
            .map_or(0, |text| bpe.encode_ordinary(&text).len());
        upstreams.insert(
            namespace,
            UpstreamTokens {
                tools: specs.len(),
                classic,
                declarations,
            },
        );
    }
    let classic: usize = upstreams.values().map(|u| u.classic).sum();
    let codemode = gateway
        .tools()
        .iter()
        .map(|tool| count_json(&bpe, tool))
        .sum();
    Ok(TokenReport {
        classic,
        codemode,
        reduction: reduction(classic, codemode),
        upstreams,
    })
}

/// Tokens of `value` as compact JSON, the way it travels in `tools/list`.
fn count_json(bpe: &CoreBPE, value: &impl Serialize) -> usize {
    // Tool specs are plain JSON data; serializing them cannot fail.
    let text = serde_json::to_string(value).unwrap_or_default();
    bpe.encode_ordinary(&text).len()
}

fn reduction(classic: usize, codemode: usize) -> f64 {
    if classic == 0 {
        return 0.0;
    }
    let saved = 1.0 - codemode as f64 / classic as f64;
    (saved * 10_000.0).round() / 10_000.0
}
