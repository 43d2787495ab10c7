//! Fuzz target: scenario text → `scenario::parse` (raw stage + validation)
//! and `scenario::parse_with_overrides`. Any input must give `Ok` or a
//! `ScenarioError` whose message names the file; never a panic. A scenario
//! that validates must also compile into an `Engine` (Model + Book + Layout)
//! without panicking, since that is what `revshare run` does next.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use revshare::scenario;

fuzz_target!(|data: &[u8]| {
    // The first line (up to 200 bytes), if it starts with "--set ", is a
    // list of overrides separated by ';'; the rest is the scenario text.
    let (overrides, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) if i < 200 && data.starts_with(b"--set ") => {
            let line = String::from_utf8_lossy(&data[6..i]).into_owned();
            let sets: Vec<String> = line.split(';').map(str::to_owned).collect();
            (sets, &data[i + 1..])
        }
        _ => (Vec::new(), data),
    };
    let Ok(text) = std::str::from_utf8(body) else {
        return;
    };
    let file = Path::new("fuzz.json");
    let result = if overrides.is_empty() {
        scenario::parse(text, file)
    } else {
        scenario::parse_with_overrides(text, file, &overrides)
    };
    match result {
        Ok(loaded) => {
            let sc = loaded.scenario;
            // Keep the engine cheap to build: its layout grows with steps x series x flows.
            if sc.steps() * (sc.series.len() + sc.regimes.values().map(Vec::len).sum::<usize>())
                <= 20_000
            {
                let _ = revshare::engine::Engine::new(&sc);
            }
            // The validated scenario round-trips through JSON (summary.json echoes it).
            let json = serde_json::to_string(&sc).expect("scenario serialises");
            let back: scenario::Scenario = serde_json::from_str(&json).expect("scenario parses back");
            assert_eq!(back, sc);
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with("fuzz.json"), "message does not name the file: {msg}");
        }
    }
});
