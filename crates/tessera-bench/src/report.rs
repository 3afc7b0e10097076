//! One result per scenario, printed as a table.

use serde::Serialize;

#[derive(Debug, Clone, Serialize, Default)]
pub struct Outcome {
    pub scenario: String,
    /// What the ratio compares.
    pub ratio_name: String,
    pub ratio: f64,
    /// e.g. ">= 0.70".
    pub target: String,
    pub met: bool,
    /// Further checks of the scenario, each with its own verdict.
    pub checks: Vec<Check>,
    /// Absolute figures behind the ratio.
    pub figures: serde_json::Value,
    /// Set when the scenario could not complete.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub value: f64,
    pub target: String,
    pub met: bool,
}

pub fn at_least(v: f64, min: f64) -> (String, bool) {
    (format!(">= {min}"), v >= min)
}

pub fn at_most(v: f64, max: f64) -> (String, bool) {
    (format!("<= {max}"), v <= max)
}

pub fn print(results: &[Outcome]) {
    println!();
    println!(
        "{:<16} {:<44} {:>8} {:>8}  met",
        "scenario", "ratio", "value", "target"
    );
    for r in results {
        if let Some(e) = &r.error {
            println!("{:<16} ERROR: {e}", r.scenario);
            continue;
        }
        println!(
            "{:<16} {:<44} {:>8.3} {:>8}  {}",
            r.scenario,
            r.ratio_name,
            r.ratio,
            r.target,
            if r.met { "yes" } else { "NO" }
        );
        for c in &r.checks {
            println!(
                "{:<16}   {:<42} {:>8.3} {:>8}  {}",
                "",
                c.name,
                c.value,
                c.target,
                if c.met { "yes" } else { "NO" }
            );
        }
        println!("{:<16}   {}", "", r.figures);
    }
}
