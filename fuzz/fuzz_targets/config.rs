//! The configuration file, as `tessera` loads it: TOML, then checked.
//! Loading either succeeds or refuses with one line; it never panics.
//!
//! Input: the file's text. If it starts with a line `#env`, the lines up
//! to the first empty one are `TESSERA_…=value` environment variables.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera::config::{Overrides, load_text};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (env, file) = match text.strip_prefix("#env\n") {
        Some(rest) => {
            let (vars, file) = rest.split_once("\n\n").unwrap_or((rest, ""));
            let env: Vec<(String, String)> = vars
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            (env, file)
        }
        None => (Vec::new(), text),
    };
    match load_text(Some(("fuzz.toml", file)), env.into_iter(), &Overrides::default()) {
        Ok(cfg) => {
            // What the server derives at start from a valid configuration.
            let url = cfg.public_url();
            let _ = cfg.relying_party(&url).build().expect("validated");
            let _ = tessera::wiring::core_config(&cfg, &url);
            let _ = tessera::wiring::describe(&cfg);
        }
        Err(e) => assert!(!e.contains('\n'), "not one line: {e:?}"),
    }
});
