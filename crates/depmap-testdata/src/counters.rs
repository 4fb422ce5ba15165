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
