//! A `$ref` target's identity by content: the target and every schema it reaches through
//! local `$ref`s, hashed. Two tools of one namespace that carry the same definition in
//! their own `$defs` (an OpenAPI component copied into each operation, a shared MCP model)
//! then get one type name, even when the definitions refer to each other in a cycle, which
//! comparing converted types one at a time cannot see (`Refund` ⇄ `TransferReversal`).

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;

use serde_json::Value;

/// At most this many schemas are followed from one target; a larger closure is not
/// fingerprinted (its type is then only shared when converted equal, as before).
const MAX_CLOSURE: usize = 4096;

/// The fingerprint of the schema at `pointer` together with everything it reaches, or
/// `None` when the closure is too large to be worth it. `resolve` maps a `$ref` value to
/// its schema's pointer and node in the same document (`None` for other references, which
/// are then hashed as written).
pub(crate) fn closure_fingerprint<'v>(
    pointer: &str,
    target: &'v Value,
    resolve: impl Fn(&str) -> Option<(String, &'v Value)>,
) -> Option<u128> {
    // Two independent 64-bit hashes: a collision would merge two different types, so a
    // single 64-bit value is too thin for namespaces of thousands of definitions.
    let mut hashers = [DefaultHasher::new(), DefaultHasher::new()];
    1u8.hash(&mut hashers[1]);
    let mut seen = HashSet::from([pointer.to_owned()]);
    let mut queue = vec![(pointer.to_owned(), target)];
    while let Some((at, node)) = queue.pop() {
        for hasher in &mut hashers {
            at.hash(hasher);
        }
        serde_json::to_writer(HashWriter(&mut hashers), node).ok()?;
        let mut references = Vec::new();
        collect_references(node, &mut references);
        for reference in references {
            if let Some((next, schema)) = resolve(reference) {
                if seen.insert(next.clone()) {
                    if seen.len() > MAX_CLOSURE {
                        return None;
                    }
                    queue.push((next, schema));
                }
            }
        }
    }
    let [low, high] = hashers.map(|h| h.finish());
    Some(u128::from(high) << 64 | u128::from(low))
}

/// Every `$ref` string below `node`, in document order.
fn collect_references<'v>(node: &'v Value, out: &mut Vec<&'v str>) {
    match node {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(reference)) => out.push(reference),
                    _ => collect_references(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_references(item, out)),
        _ => {}
    }
}

struct HashWriter<'a>(&'a mut [DefaultHasher; 2]);

impl io::Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        for hasher in self.0.iter_mut() {
            hasher.write(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
