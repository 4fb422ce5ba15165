//! Checking that a counter struct writes every one of its fields to
//! `/metrics`: each crate's counters are checked with the same helpers.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A counter struct's own encoder.
pub type EncodeFn<T> = fn(&T, &mut DescriptorEncoder<'_>) -> fmt::Result;

/// A value and its encoder, as a prometheus-client collector.
struct Encoded<T>(T, EncodeFn<T>);

impl<T> fmt::Debug for Encoded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Encoded")
    }
}

impl<T: Send + Sync + 'static> Collector for Encoded<T> {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> fmt::Result {
        (self.1)(&self.0, &mut e)
    }
}

/// Sets every number in `v` (each field, each array element) to a value of
/// its own, above 1000, and lists them by path. A duration (`{secs,
/// nanos}`) is one number, its seconds.
pub fn distinct(v: &mut serde_json::Value, path: String, out: &mut Vec<(String, u64)>) {
    use serde_json::Value;
    match v {
        Value::Number(_) => {
            let n = 1001 + out.len() as u64;
            *v = n.into();
            out.push((path, n));
        }
        Value::Object(o) if o.contains_key("secs") && o.contains_key("nanos") => {
            let n = 1001 + out.len() as u64;
            o.insert("secs".into(), n.into());
            o.insert("nanos".into(), 0.into());
            out.push((path, n));
        }
        Value::Array(a) => {
            for (i, x) in a.iter_mut().enumerate() {
                distinct(x, format!("{path}[{i}]"), out);
            }
        }
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                distinct(x, format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

/// The Prometheus text of one collector.
pub fn text_of(collector: impl Collector) -> String {
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register_collector(Box::new(collector));
    let mut text = String::new();
    #[allow(clippy::expect_used)]
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
        .expect("encoding to a String");
    text
}

/// Encodes `start` with every number in it (each field, each array
/// element, each `Some`) made distinct and checks that each one's value is
/// a sample in the text, and that each family is described once with a
/// `depmap_` name. Returns the text and the values by field.
///
/// # Panics
/// When a field is missing from the text, or a family is described twice.
#[allow(clippy::unwrap_used)]
pub fn every_field_encoded<T>(start: T, encode: EncodeFn<T>) -> (String, Vec<(String, u64)>)
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let mut v = serde_json::to_value(start).unwrap();
    let mut fields = Vec::new();
    distinct(&mut v, String::new(), &mut fields);
    assert!(!fields.is_empty());
    let text = text_of(Encoded(serde_json::from_value(v).unwrap(), encode));
    for (field, n) in &fields {
        let sample = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .any(|l| l.ends_with(&format!(" {n}")));
        assert!(sample, "{field} = {n} is not in:\n{text}");
    }
    for line in text.lines().filter(|l| l.starts_with("# TYPE")) {
        let name = line.split(' ').nth(2).unwrap_or("");
        assert!(name.starts_with("depmap_"), "{line}");
        assert_eq!(
            text.matches(&format!("# TYPE {name} ")).count(),
            1,
            "{name}"
        );
    }
    (text, fields)
}

/// The value [`every_field_encoded`] gave `field`.
///
/// # Panics
/// When there is no such field.
#[allow(clippy::unwrap_used)]
pub fn of(fields: &[(String, u64)], field: &str) -> u64 {
    fields.iter().find(|(f, _)| f == field).unwrap().1
}

/// Where a document keeps its list of metrics.
const BEGIN: &str = "<!-- metrics: begin";
const END: &str = "<!-- metrics: end -->";

/// Checks that the document at `path` lists exactly the metrics of `text`
/// (what `/metrics` serves): the table between its `<!-- metrics: begin`
/// and `<!-- metrics: end -->` lines is [`metrics_table`] of `text`, and
/// every `depmap_*` name it mentions elsewhere is served. With
/// `DEPMAP_UPDATE_DOCS` set, it writes the table instead; `rewrite` says
/// how to do that in the failure message.
///
/// # Panics
/// When the document does not agree with `text`.
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub fn check_metrics_doc(path: &str, text: &str, rewrite: &str) {
    let doc = std::fs::read_to_string(path).unwrap();
    let table = metrics_table(text);
    let begin = doc.find(BEGIN).expect("the document has no metrics table");
    let start = begin + doc[begin..].find('\n').unwrap() + 1;
    let stop = doc.find(END).expect("the metrics table has no end");
    if std::env::var_os("DEPMAP_UPDATE_DOCS").is_some() {
        let new = format!("{}{table}{}", &doc[..start], &doc[stop..]);
        std::fs::write(path, new).unwrap();
        return;
    }
    assert_eq!(
        doc[start..stop],
        table,
        "{path}'s metrics table is not what /metrics serves; `{rewrite}` writes it again"
    );

    let served: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let mut rest = doc.as_str();
    while let Some(i) = rest.find("depmap_") {
        let name: String = rest[i..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        rest = &rest[i + name.len()..];
        // `depmap_edges::PacketAggregator` is a path, not a metric.
        if !rest.starts_with("::") {
            assert!(
                served.contains(&name.as_str()),
                "{path} names {name}, which /metrics does not serve"
            );
        }
    }
}

/// A metrics list for the docs, written from the text `/metrics`
/// serves: one row per family with its type, label names and help text,
/// in the order the text has them.
pub fn metrics_table(text: &str) -> String {
    struct Family {
        name: String,
        kind: String,
        help: String,
        labels: Vec<String>,
    }
    let mut families: Vec<Family> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            families.push(Family {
                name: name.to_string(),
                kind: String::new(),
                help: help.replace('|', "\\|"),
                labels: Vec::new(),
            });
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let (Some(f), Some((_, kind))) = (families.last_mut(), rest.split_once(' ')) {
                f.kind = kind.to_string();
            }
        } else if let (Some(f), Some((_, labels))) = (families.last_mut(), line.split_once('{')) {
            for key in label_keys(labels) {
                if !f.labels.contains(&key) {
                    f.labels.push(key);
                }
            }
        }
    }
    let mut out = String::from("| metric | type | labels | what it counts |\n|---|---|---|---|\n");
    for f in families {
        let labels = f
            .labels
            .iter()
            .map(|l| format!("`{l}`"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "| `{}` | {} | {labels} | {} |\n",
            f.name, f.kind, f.help
        ));
    }
    out
}

/// The label names of a sample's `k="v",...}` (values may hold escaped quotes).
fn label_keys(s: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut rest = s;
    while let Some((key, after)) = rest.split_once("=\"") {
        keys.push(key.trim_start_matches(',').to_string());
        let mut escaped = false;
        let end = after
            .char_indices()
            .find(|&(_, c)| {
                let close = c == '"' && !escaped;
                escaped = c == '\\' && !escaped;
                close
            })
            .map_or(after.len(), |(i, _)| i + 1);
        rest = &after[end..];
    }
    keys
}
