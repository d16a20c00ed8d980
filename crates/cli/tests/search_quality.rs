//! The search-quality suite as a test: real third-party servers, agent-style phrasings.
//! The targets are top-3 ≥ 95% and top-1 ≥ 75%; this ranking reaches about 96% and 77%
//! (the bench's table), so the floors sit a few phrasings below what it reaches: a
//! regression fails CI, noise in one phrasing does not. Raise them as ranking improves.
//! The table it prints is the bench's (`cargo bench -p codemode --bench search_quality`).

#[path = "../benches/search_quality.rs"]
mod suite;

use std::time::Duration;

const TOP3_FLOOR: f64 = 0.93;
const TOP1_FLOOR: f64 = 0.73;

#[test]
fn agent_phrasings_find_their_tools_among_real_servers() {
    let cases = suite::phrasings();
    assert!(cases.len() >= 60, "{} phrasings", cases.len());
    let namespaces = suite::configured_namespaces();
    assert!(namespaces.len() >= 8, "{namespaces:?}");
    let mut gateway = suite::Gateway::start();
    let (tools, missing) = gateway.wait_ready(&namespaces, Duration::from_secs(120));
    assert!(
        missing.is_empty(),
        "servers that did not come up: {missing:?}"
    );
    assert!(tools >= 500, "{tools} tools");
    let outcomes = suite::run(&mut gateway, &cases);
    let scores = suite::scores(&outcomes);
    let report = format!(
        "{}\nmissed the top three:\n{}",
        suite::table(&outcomes),
        suite::misses(&outcomes, 3)
    );
    eprintln!("{report}");
    assert!(
        scores.top3 >= TOP3_FLOOR,
        "top-3 {:.3}\n{report}",
        scores.top3
    );
    assert!(
        scores.top1 >= TOP1_FLOOR,
        "top-1 {:.3}\n{report}",
        scores.top1
    );
}
