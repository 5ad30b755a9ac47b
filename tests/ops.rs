//! The operations kit (`ops/`): the Grafana dashboard and the Prometheus alerting rules are
//! well-formed, and every metric they query is one that `GET /metrics` really exposes once a
//! gateway has served traffic (and every metric it exposes is on the dashboard).
//!
//! `promtool` (Debian's `prometheus`, which `scripts/test` installs; or `PROMTOOL=path`) checks
//! that the dashboard's queries are valid PromQL. The rules themselves are checked and
//! unit-tested by `scripts/test` (`promtool check rules`, `promtool test rules`).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use support::TestGateway;
use switchyard::config::{Config, QuotaConfig};

fn ops_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("ops")
        .join(name)
}

fn read_ops(name: &str) -> String {
    let path = ops_path(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ------------------------------------------------------------------------------------------
// The dashboard

/// One PromQL query of the dashboard, and where it is.
struct Query {
    place: String,
    expr: String,
}

/// Checks the dashboard's shape (importable: a Prometheus data-source variable every panel
/// uses, a `provider` variable) and returns its queries and its variables' queries.
fn dashboard_queries() -> (Vec<Query>, Vec<Query>) {
    let text = read_ops("switchyard-dashboard.json");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is valid JSON");
    let schema = dashboard["schemaVersion"].as_u64().unwrap_or(0);
    assert!((36..=41).contains(&schema), "schemaVersion {schema}");
    assert!(dashboard["uid"].is_string() && dashboard["title"].is_string());

    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list");
    let variable = |name: &str| {
        variables
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no `{name}` variable"))
    };
    let source = variable("DS_PROMETHEUS");
    assert_eq!(source["type"], "datasource");
    assert_eq!(source["query"], "prometheus");
    let provider = variable("provider");
    assert_eq!(provider["type"], "query");
    let provider_query = provider["definition"].as_str().unwrap_or("");
    assert!(
        provider_query.starts_with("label_values(") && provider_query.ends_with(", provider)"),
        "{provider_query}"
    );
    let variable_queries = variables
        .iter()
        .filter(|v| v["type"] == "query")
        .map(|v| Query {
            place: format!("variable {}", v["name"]),
            expr: v["definition"].as_str().unwrap_or("").to_owned(),
        })
        .collect();

    let mut panels = Vec::new();
    collect_panels(&dashboard["panels"], &mut panels);
    let mut ids = BTreeSet::new();
    let mut queries = Vec::new();
    for panel in panels {
        let title = panel["title"].as_str().unwrap_or("").to_owned();
        assert!(!title.is_empty(), "a panel without a title: {panel}");
        let id = panel["id"].as_u64();
        assert!(
            id.is_some_and(|id| ids.insert(id)),
            "{title}: no id, or one used twice"
        );
        assert!(panel["gridPos"]["w"].is_u64(), "{title}: no gridPos");
        let prometheus = json!({ "type": "prometheus", "uid": "${DS_PROMETHEUS}" });
        assert_eq!(panel["datasource"], prometheus, "{title}: datasource");
        let targets = panel["targets"].as_array().map(Vec::as_slice);
        let targets = targets.unwrap_or_default();
        assert!(!targets.is_empty(), "{title}: no targets");
        for target in targets {
            assert_eq!(
                target["datasource"], prometheus,
                "{title}: a target's datasource"
            );
            let expr = target["expr"].as_str().unwrap_or("");
            assert!(!expr.trim().is_empty(), "{title}: a target without expr");
            queries.push(Query {
                place: format!("panel {title:?} {}", target["refId"]),
                expr: expr.to_owned(),
            });
        }
    }
    (queries, variable_queries)
}

/// Every panel that shows data, rows' nested panels included (rows hold no queries).
fn collect_panels<'a>(panels: &'a Value, out: &mut Vec<&'a Value>) {
    for panel in panels.as_array().expect("panels is an array") {
        if panel["type"] == "row" {
            if let Some(nested) = panel.get("panels") {
                collect_panels(nested, out);
            }
        } else {
            out.push(panel);
        }
    }
}

/// Grafana's variables replaced by what Prometheus would see, so that promtool can parse it.
fn as_promql(expr: &str) -> String {
    expr.replace("$__rate_interval", "5m")
        .replace("$__interval", "1m")
        .replace("$provider", ".*")
        .replace("$operation", ".*")
}

#[derive(Serialize)]
struct RecordingRules {
    groups: Vec<RecordingGroup>,
}

#[derive(Serialize)]
struct RecordingGroup {
    name: String,
    rules: Vec<RecordingRule>,
}

#[derive(Serialize)]
struct RecordingRule {
    record: String,
    expr: String,
}

/// Parses every query with `promtool check rules`, as recording rules of a temporary file.
fn assert_valid_promql(queries: &[Query]) {
    let rules = RecordingRules {
        groups: vec![RecordingGroup {
            name: "dashboard".into(),
            rules: queries
                .iter()
                .enumerate()
                .map(|(i, q)| RecordingRule {
                    record: format!("dashboard:query_{i}"),
                    expr: as_promql(&q.expr),
                })
                .collect(),
        }],
    };
    let path = std::env::temp_dir().join(format!(
        "switchyard-dashboard-queries-{}.yml",
        std::process::id()
    ));
    let yaml = serde_yaml_ng::to_string(&rules).expect("rules serialize");
    std::fs::write(&path, yaml).expect("temporary rules file");
    let promtool = std::env::var("PROMTOOL").unwrap_or_else(|_| "/usr/bin/promtool".into());
    let output = std::process::Command::new(&promtool)
        .arg("check")
        .arg("rules")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| {
            panic!("{promtool}: {e} (scripts/test installs prometheus; or set PROMTOOL)")
        });
    let _ = std::fs::remove_file(&path);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let places: Vec<String> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| format!("dashboard:query_{i} is {}", q.place))
        .collect();
    assert!(
        output.status.success(),
        "the dashboard's queries are not valid PromQL:\n{report}\n{}",
        places.join("\n")
    );
}

// ------------------------------------------------------------------------------------------
// The alerting rules

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleGroup {
    name: String,
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    alert: String,
    expr: String,
    #[serde(rename = "for")]
    pending_for: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// The parts of a `promtool test rules` file this test reads.
#[derive(Deserialize)]
struct RuleTests {
    rule_files: Vec<String>,
    tests: Vec<RuleTestCase>,
}

#[derive(Deserialize)]
struct RuleTestCase {
    #[serde(default)]
    alert_rule_test: Vec<AlertRuleTest>,
}

#[derive(Deserialize)]
struct AlertRuleTest {
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<serde_yaml_ng::Value>,
}

/// Checks that every alert waits (`for:`), has a severity and says what it means, and that the
/// unit tests show each one both firing and silent. Returns the alerts' queries.
fn alert_queries() -> Vec<Query> {
    let rules: RuleFile =
        serde_yaml_ng::from_str(&read_ops("alerts.yml")).expect("ops/alerts.yml parses");
    let tests: RuleTests =
        serde_yaml_ng::from_str(&read_ops("alerts.test.yml")).expect("ops/alerts.test.yml parses");
    assert_eq!(tests.rule_files, ["alerts.yml"]);
    let mut firing = BTreeSet::new();
    let mut silent = BTreeSet::new();
    for case in tests.tests.iter().flat_map(|t| &t.alert_rule_test) {
        if case.exp_alerts.is_empty() {
            silent.insert(case.alertname.as_str());
        } else {
            firing.insert(case.alertname.as_str());
        }
    }

    let mut queries = Vec::new();
    for group in &rules.groups {
        assert!(!group.rules.is_empty(), "group {} has no rules", group.name);
        for rule in &group.rules {
            let name = rule.alert.as_str();
            assert!(
                rule.pending_for.as_deref().is_some_and(|d| !d.is_empty()),
                "{name}: no `for:`"
            );
            let severity = rule.labels.get("severity").map(String::as_str);
            assert!(
                matches!(severity, Some("warning" | "critical")),
                "{name}: severity {severity:?}"
            );
            for key in ["summary", "description"] {
                assert!(
                    rule.annotations
                        .get(key)
                        .is_some_and(|v| !v.trim().is_empty()),
                    "{name}: no {key} annotation"
                );
            }
            assert!(
                firing.contains(name),
                "{name}: no unit test shows it firing"
            );
            assert!(
                silent.contains(name),
                "{name}: no unit test shows it silent"
            );
            queries.push(Query {
                place: format!("alert {name}"),
                expr: rule.expr.clone(),
            });
        }
    }
    queries
}

// ------------------------------------------------------------------------------------------
// Metric names in PromQL, and in the exposition

/// The `switchyard_*` metric names a PromQL expression uses, as written (`_bucket` included).
/// A small tokenizer rather than a PromQL parser crate (none is kept up for Rust): only
/// identifiers matter here, and what must not be taken for one is few (string literals,
/// comments, numbers and durations, Grafana's `$variables`).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut names = BTreeSet::new();
    let mut chars = expr.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        match c {
            '"' | '\'' | '`' => {
                let mut escaped = false;
                for (_, d) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if d == '\\' && c != '`' {
                        escaped = true;
                    } else if d == c {
                        break;
                    }
                }
            }
            '#' => {
                for (_, d) in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            '$' => {
                if chars.next_if(|&(_, d)| d == '{').is_some() {
                    for (_, d) in chars.by_ref() {
                        if d == '}' {
                            break;
                        }
                    }
                } else {
                    while chars.next_if(|&(_, d)| is_ident(d)).is_some() {}
                }
            }
            '0'..='9' | '.' => {
                while chars
                    .next_if(|&(_, d)| d.is_ascii_alphanumeric() || d == '.' || d == '_')
                    .is_some()
                {}
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut end = start + 1;
                while let Some((i, _)) = chars.next_if(|&(_, d)| is_ident(d)) {
                    end = i + 1;
                }
                let word = &expr[start..end];
                if word.starts_with("switchyard_") {
                    names.insert(word.to_owned());
                }
            }
            _ => {}
        }
    }
    names
}

/// What a scrape exposes: each family's type (`# TYPE`) and the names of the samples present.
/// Read by hand: the exposition lines needed here are two, and a parser crate would be a
/// dependency for ten lines.
struct Exposition {
    types: BTreeMap<String, String>,
    samples: BTreeSet<String>,
}

impl Exposition {
    fn parse(text: &str) -> Exposition {
        let mut types = BTreeMap::new();
        let mut samples = BTreeSet::new();
        for line in text.lines() {
            if let Some(declared) = line.strip_prefix("# TYPE ") {
                let mut words = declared.split_whitespace();
                if let (Some(name), Some(kind)) = (words.next(), words.next()) {
                    types.insert(name.to_owned(), kind.to_owned());
                }
            } else if !line.starts_with('#') && !line.trim().is_empty() {
                let end = line.find(['{', ' ']).unwrap_or(line.len());
                samples.insert(line[..end].to_owned());
            }
        }
        Exposition { types, samples }
    }

    /// The family a series name belongs to: a histogram's for its `_bucket`, `_sum` and
    /// `_count` series, else the name itself.
    fn family<'a>(&self, name: &'a str) -> &'a str {
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix)
                && matches!(
                    self.types.get(base).map(String::as_str),
                    Some("histogram" | "summary")
                )
            {
                return base;
            }
        }
        name
    }

    /// Families whose samples the scrape holds.
    fn families(&self) -> BTreeSet<String> {
        self.samples
            .iter()
            .map(|s| self.family(s).to_owned())
            .collect()
    }
}

// ------------------------------------------------------------------------------------------
// The traffic that makes the series appear

/// The gateway the traffic runs on: the response cache off (every query reaches the entity
/// cache), and small limits that a few queries reach: inventory's quota (1 call per second: the
/// next call waits), reviews' (4 per minute, optional fields shed below half: then refused),
/// and a catalog breaker that opens after two failed calls.
fn config() -> Config {
    let mut config = Config::default();
    config.cache.response_max_bytes = 0;
    let providers = &mut config.providers;
    providers.inventory.quota = Some(QuotaConfig {
        limit: 1,
        window_s: 1,
        shed_optional_below: 0.0,
    });
    providers.reviews.quota = Some(QuotaConfig {
        limit: 4,
        window_s: 60,
        shed_optional_below: 0.5,
    });
    let breaker = &mut providers.catalog.breaker;
    breaker.window = 4;
    breaker.min_calls = 2;
    breaker.open_ms = 600_000;
    config
}

const PRODUCT: &str = "query OpsProduct($id: ID!) { product(id: $id) { title \
    price(currency: EUR) { amount } stock { available } reviewSummary { count } \
    reviews(first: 1) { nodes { rating } } } }";

/// Queries, cache hits, a quota wait and refusals, shed fields, an outage that opens a breaker.
async fn drive_traffic(gw: &TestGateway) {
    let first = gw.query(PRODUCT, json!({ "id": "1" })).await;
    assert_eq!(
        first.body["data"]["product"]["title"], "Essence Mascara Lash Princess",
        "{}",
        first.body
    );
    // The same product again: entity-cache hits.
    let again = gw.query(PRODUCT, json!({ "id": "1" })).await;
    assert!(again.body["data"]["product"].is_object(), "{}", again.body);
    // Further products: inventory waits for its quota, reviews' runs low (reviews shed) and
    // out (its summary refused without a call).
    for id in 2..=5 {
        let answer = gw.query(PRODUCT, json!({ "id": id.to_string() })).await;
        assert!(
            answer.body["data"]["product"].is_object(),
            "{}",
            answer.body
        );
    }
    // An anonymous operation, and one that fails validation.
    let anonymous = gw.query("{ product(id: \"1\") { id } }", json!({})).await;
    assert_eq!(anonymous.status, 200, "{}", anonymous.body);
    let invalid = gw.query("query Broken { nope }", json!({})).await;
    assert!(invalid.body["errors"].is_array(), "{}", invalid.body);

    // The catalog goes down: failed attempts, retries, then its breaker opens.
    gw.outage("catalog");
    let mut next_id = 100;
    support::poll_until(
        "the catalog's breaker opens",
        Duration::from_secs(60),
        || {
            next_id += 1;
            let variables = json!({ "id": next_id.to_string() });
            async move {
                let answer = gw.query(PRODUCT, variables).await;
                (support::code(&answer.body) == "CIRCUIT_OPEN").then_some(())
            }
        },
    )
    .await;
}

// ------------------------------------------------------------------------------------------

/// One gateway test for the whole kit: the metrics recorder is the process's, so a second one
/// in this binary would count into the same series.
#[tokio::test]
async fn the_dashboard_and_the_alerts_use_only_what_metrics_exposes() {
    let (panel_queries, variable_queries) = dashboard_queries();
    assert_valid_promql(&panel_queries);
    let alert_queries = alert_queries();

    let gw = TestGateway::start_with(config()).await;
    drive_traffic(&gw).await;
    let exposition = Exposition::parse(&gw.metrics().await);

    let mut missing = BTreeMap::<String, BTreeSet<String>>::new();
    let mut charted = BTreeSet::new();
    let all = panel_queries
        .iter()
        .map(|q| (q, true))
        .chain(variable_queries.iter().map(|q| (q, true)))
        .chain(alert_queries.iter().map(|q| (q, false)));
    for (query, on_dashboard) in all {
        let names = metric_names(&query.expr);
        assert!(
            !names.is_empty() || !on_dashboard,
            "{}: no switchyard_ metric in {:?}",
            query.place,
            query.expr
        );
        for name in names {
            let family = exposition.family(&name).to_owned();
            if on_dashboard {
                charted.insert(family.clone());
            }
            if !exposition.samples.contains(&name) {
                missing
                    .entry(format!("{name} (family {family})"))
                    .or_default()
                    .insert(query.place.clone());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "queried but not exposed by /metrics after the traffic:\n{missing:#?}"
    );

    let uncharted: Vec<_> = exposition
        .families()
        .into_iter()
        .filter(|f| f.starts_with("switchyard_") && !charted.contains(f))
        .collect();
    assert!(
        uncharted.is_empty(),
        "exposed by /metrics but on no panel of ops/switchyard-dashboard.json: {uncharted:?}"
    );
}

#[test]
fn metric_names_are_the_identifiers_outside_strings_numbers_and_variables() {
    let expr = r#"histogram_quantile(0.99, sum by (provider, le) (rate(
            switchyard_upstream_request_duration_seconds_bucket{
                provider=~"$provider", job="switchyard_fake"}[$__rate_interval])))
        / on (provider) group_left switchyard_quota_limit:ratio # switchyard_in_a_comment
        + ${switchyard_variable} + 1e3 + switchyard_build_info offset 5m"#;
    let names: Vec<_> = metric_names(expr).into_iter().collect();
    assert_eq!(
        names,
        [
            "switchyard_build_info",
            "switchyard_quota_limit:ratio",
            "switchyard_upstream_request_duration_seconds_bucket",
        ]
    );
    assert!(metric_names(r#"up{job="switchyard"} == 0"#).is_empty());

    let exposition = Exposition::parse(
        "# TYPE switchyard_wait_seconds histogram\n\
         switchyard_wait_seconds_bucket{le=\"+Inf\"} 0\n\
         switchyard_wait_seconds_count 0\n\
         # TYPE switchyard_calls_count counter\n\
         switchyard_calls_count 3\n",
    );
    assert_eq!(
        exposition.family("switchyard_wait_seconds_bucket"),
        "switchyard_wait_seconds"
    );
    assert_eq!(
        exposition.family("switchyard_calls_count"),
        "switchyard_calls_count"
    );
    assert_eq!(
        exposition.families().into_iter().collect::<Vec<_>>(),
        ["switchyard_calls_count", "switchyard_wait_seconds"]
    );
}
