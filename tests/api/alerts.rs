//! The alert rules (helm/reportgate/files/alerts.yaml): promtool unit tests for every
//! alert, and every series a rule reads present on a fresh gateway's first scrape.
use crate::helpers::{scrape, spawn_app};
use std::collections::BTreeMap;
use std::process::Command;

const RULES: &str = "helm/reportgate/files/alerts.yaml";
const RULE_TESTS: &str = "helm/ci/alerts-test.yaml";

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn alert_names() -> Vec<String> {
    read(RULES)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_alert_has_a_promtool_case_where_it_fires_and_one_where_it_stays_silent() {
    let out = Command::new("promtool")
        .args(["test", "rules", RULE_TESTS])
        .output()
        .expect("promtool is installed (scripts/test.sh installs the prometheus package)");
    assert!(
        out.status.success(),
        "promtool test rules failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // (fires, silent) per alert, from the test file's alert_rule_test entries.
    let mut cases: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    let tests = read(RULE_TESTS);
    let mut lines = tests.lines().map(str::trim).peekable();
    while let Some(l) = lines.next() {
        if let Some(name) = l.strip_prefix("alertname: ") {
            let silent = lines.peek().is_some_and(|n| *n == "exp_alerts: []");
            let e = cases.entry(name.to_owned()).or_default();
            if silent {
                e.1 = true;
            } else {
                e.0 = true;
            }
        }
    }
    let names = alert_names();
    assert!(names.len() >= 8, "{names:?}");
    for name in names {
        assert_eq!(
            cases.get(&name),
            Some(&(true, true)),
            "{name}: needs a firing and a silent promtool case"
        );
    }
}

/// `name{label="v",…}` selectors in the rules' expressions.
fn selectors() -> Vec<(String, Vec<(String, String)>)> {
    let text = read(RULES);
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("reportgate_") {
        rest = &rest[i..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = rest[..end].to_owned();
        let mut labels = Vec::new();
        if rest[end..].starts_with('{') {
            let close = rest[end..].find('}').unwrap() + end;
            for m in rest[end + 1..close].split(',') {
                let (k, v) = m.split_once('=').expect("label matcher");
                labels.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        rest = &rest[end..];
        // Alert names (ReportgateX) are not metric names; annotations hold no selectors.
        if name.len() > "reportgate_".len() {
            out.push((name, labels));
        }
    }
    out
}

/// Does `value` match a PromQL regex of literal alternatives where `.` is any character?
fn matches(pattern: &str, value: &str) -> bool {
    pattern.split('|').any(|alt| {
        alt.len() == value.len()
            && alt
                .chars()
                .zip(value.chars())
                .all(|(p, c)| p == '.' || p == c)
    })
}

#[actix_rt::test]
async fn every_series_an_alert_reads_exists_on_the_first_scrape_so_the_first_event_counts() {
    let app = spawn_app().await;
    let text = scrape(&app).await;
    let series: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let sels = selectors();
    assert!(sels.len() >= 10, "{sels:?}");
    for (name, labels) in sels {
        // Histogram buckets appear with the first observation; histogram_quantile needs
        // no zero start (nothing to compute before the first request).
        if name.ends_with("_bucket") {
            continue;
        }
        let of_name: Vec<&&str> = series
            .iter()
            .filter(|l| l.starts_with(&format!("{name} ")) || l.starts_with(&format!("{name}{{")))
            .collect();
        assert!(
            !of_name.is_empty(),
            "{name} is not exposed at start:\n{text}"
        );
        for (key, matcher) in labels {
            if let Some(v) = matcher.strip_prefix("~") {
                // Every literal alternative of a regex matcher exists at 0.
                let v = v.trim_matches('"');
                for alt in v.split('|').filter(|a| !a.contains('.')) {
                    let want = format!("{key}=\"{alt}\"");
                    assert!(
                        of_name.iter().any(|l| l.contains(&want)),
                        "{name}{{{want}}} is not exposed at start"
                    );
                }
                let any = of_name.iter().any(|l| {
                    l.split(&format!("{key}=\""))
                        .nth(1)
                        .and_then(|r| r.split('"').next())
                        .is_some_and(|val| matches(v, val))
                });
                assert!(any, "{name}{{{key}=~{v}}} matches no series at start");
            } else {
                let want = format!("{key}={matcher}");
                let zero = of_name
                    .iter()
                    .any(|l| l.contains(&want) && l.ends_with(" 0"));
                assert!(
                    zero,
                    "{name}{{{want}}} is not exposed at 0 at start:\n{text}"
                );
            }
        }
    }
}

#[test]
fn every_alert_links_to_a_runbook_section_that_exists() {
    let runbook = read("docs/runbook.md");
    // GitHub's anchors: lower case, spaces to dashes, punctuation other than - and _ gone.
    let anchors: Vec<String> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| {
            h.to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect();
    let rules = read(RULES);
    let links: Vec<&str> = rules
        .split("docs/runbook.md#")
        .skip(1)
        .map(|r| {
            r.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(links.len(), alert_names().len(), "one link per alert");
    for link in links {
        assert!(
            anchors.iter().any(|a| a == link),
            "#{link} not in docs/runbook.md"
        );
    }
}
