//! Inventory files as text: TOML and CSV in, validated
//! [`InventoryEntry`]s out, and TOML back ([`to_toml`]). The formats and
//! their error messages are in `docs/INVENTORY.md`.
//!
//! Reading is in two stages: the raw text (serde with
//! `deny_unknown_fields` for TOML, the `csv` crate and a checked header for
//! CSV), then validated entries (networks parsed, roles and labels checked,
//! duplicates refused). Every error names the file, the line and the key or
//! column, and says how to fix it. Reading the file from disk is the
//! caller's job (`depmap`'s `inventory.rs`); matching addresses is
//! [`Inventory`]'s.
//!
//! Behind the `files` feature, so that crates that need only [`Cidr`] or
//! the inventory's matching do not build a TOML and a CSV parser.
//!
//! ```
//! use depmap_model::inventory_file::parse_csv;
//! let inv = parse_csv("address,name,role\n10.0.0.0/24,\"floor 1, east\",workstation\n", "inv.csv")?;
//! assert_eq!(inv.lookup("10.0.0.7".parse()?).role.as_deref(), Some("workstation"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;
use toml::Spanned;

use crate::{Cidr, CidrError, Inventory, InventoryEntry};

/// The longest role or label key.
const MAX_KEY_LEN: usize = 64;
/// The longest name or label value.
const MAX_VALUE_LEN: usize = 253;

/// Why an inventory file was refused: one message naming the file, the
/// line and the key or column, and saying how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InventoryFileError(String);

impl std::fmt::Display for InventoryFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InventoryFileError {}

macro_rules! err {
    ($($t:tt)*) => {
        InventoryFileError(format!($($t)*))
    };
}

macro_rules! bail {
    ($($t:tt)*) => {
        return Err(err!($($t)*))
    };
}

/// One `[[host]]` table of a TOML inventory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    /// An address (`10.0.0.5`, `fd00::5`) or a network (`10.0.0.0/24`).
    address: Spanned<String>,
    /// A name for the host (or every host of the network).
    name: Option<Spanned<String>>,
    /// The role, such as `database`.
    role: Option<Spanned<String>>,
    /// Labels such as `{ app = "erp", env = "prod" }`.
    labels: Option<Spanned<BTreeMap<String, String>>>,
}

/// A TOML inventory file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    /// The entries.
    #[serde(default)]
    host: Vec<RawHost>,
}

/// An entry before validation, with the line of each field.
struct Unchecked {
    line: usize,
    address: (String, usize),
    name: Option<(String, usize)>,
    role: Option<(String, usize)>,
    labels: Option<(BTreeMap<String, String>, usize)>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Parses and checks a TOML inventory; `file` names it in errors.
pub fn parse_toml(text: &str, file: &str) -> Result<Inventory, InventoryFileError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let at = e
            .span()
            .map(|s| format!(":{}", line_of(text, s.start)))
            .unwrap_or_default();
        err!(
            "{file}{at}: {}\n(each entry is a [[host]] table with address and any of name, role, \
             labels: see docs/INVENTORY.md)",
            e.message().trim_end()
        )
    })?;
    if raw.host.is_empty() {
        bail!(
            "{file}: no [[host]] entries; add one per address or network, such as\n\
             [[host]]\naddress = \"10.0.0.0/24\"\nrole = \"workstation\""
        );
    }
    let spanned = |s: Spanned<String>| {
        let line = line_of(text, s.span().start);
        (s.into_inner(), line)
    };
    let entries = raw
        .host
        .into_iter()
        .map(|h| Unchecked {
            line: line_of(text, h.address.span().start),
            address: spanned(h.address),
            name: h.name.map(spanned),
            role: h.role.map(spanned),
            labels: h.labels.map(|l| {
                let line = line_of(text, l.span().start);
                (l.into_inner(), line)
            }),
        })
        .collect();
    check(entries, file, "key")
}

/// Parses and checks a CSV inventory; `file` names it in errors.
///
/// RFC 4180 through the `csv` crate: commas separate fields, double quotes
/// enclose fields that contain commas or quotes (`""` is a quote; the
/// opening quote comes right after the comma), whitespace around fields is
/// trimmed, lines starting with `#` and blank lines are skipped. A field may
/// not span lines: an unclosed quote is reported at the line it opens on,
/// not read as the rest of the file.
pub fn parse_csv(text: &str, file: &str) -> Result<Inventory, InventoryFileError> {
    const COLUMNS: [&str; 4] = ["address", "name", "role", "labels"];
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // A last line without its newline still ends in one, so that a quote
    // left open there is a field with a newline, reported below.
    let text = if text.ends_with('\n') {
        text.to_string()
    } else {
        format!("{text}\n")
    };
    // Not `csv::Trim`: it would trim the newline of a quote left open.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let mut header: Option<Vec<usize>> = None;
    let mut entries = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let more = reader.read_record(&mut record).map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            err!("{file}:{line}: {e}")
        })?;
        if !more {
            break;
        }
        let line = record.position().map_or(0, |p| p.line()) as usize;
        if record.iter().any(|f| f.contains(['\n', '\r'])) {
            bail!(
                "{file}:{line}: a quoted field is not closed on its line (fields cannot span \
                 lines; close the quote)"
            );
        }
        record.trim();
        if record.iter().all(str::is_empty) || record.get(0).is_some_and(|f| f.starts_with('#')) {
            // A blank line, or a comment indented with whitespace.
            continue;
        }
        let Some(cols) = &header else {
            let mut cols = Vec::new();
            for f in &record {
                let name = f.to_ascii_lowercase();
                let Some(c) = COLUMNS.iter().position(|c| *c == name) else {
                    bail!(
                        "{file}:{line}: unknown column {f:?} in the header; the columns are \
                         address, name, role and labels (address required, any order)"
                    );
                };
                if cols.contains(&c) {
                    bail!("{file}:{line}: column {f:?} appears twice in the header");
                }
                cols.push(c);
            }
            if !cols.contains(&0) {
                bail!(
                    "{file}:{line}: the header has no address column; the first line names the \
                     columns, such as: address,name,role,labels"
                );
            }
            header = Some(cols);
            continue;
        };
        if record.len() != cols.len() {
            bail!(
                "{file}:{line}: {} fields, but the header has {} columns; quote fields that \
                 contain commas (\"a,b\") and leave unused fields empty",
                record.len(),
                cols.len()
            );
        }
        let mut e = Unchecked {
            line,
            address: (String::new(), line),
            name: None,
            role: None,
            labels: None,
        };
        for (col, value) in cols.iter().zip(&record) {
            if value.is_empty() {
                continue;
            }
            let value = value.to_string();
            match col {
                0 => e.address = (value, line),
                1 => e.name = Some((value, line)),
                2 => e.role = Some((value, line)),
                _ => e.labels = Some((parse_csv_labels(&value, file, line)?, line)),
            }
        }
        entries.push(e);
    }
    if header.is_none() || entries.is_empty() {
        bail!(
            "{file}: no entries; the first line names the columns and each further line is one \
             address or network, such as:\naddress,name,role,labels\n\
             10.0.0.0/24,,workstation,env=office"
        );
    }
    check(entries, file, "column")
}

/// `app=erp;env=prod`.
fn parse_csv_labels(
    s: &str,
    file: &str,
    line: usize,
) -> Result<BTreeMap<String, String>, InventoryFileError> {
    let mut labels = BTreeMap::new();
    for item in s.split(';').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((k, v)) = item.split_once('=') else {
            bail!(
                "{file}:{line}: column labels: {item:?} is not key=value; write labels as \
                 app=erp;env=prod"
            );
        };
        if labels
            .insert(k.trim().to_string(), v.trim().to_string())
            .is_some()
        {
            bail!(
                "{file}:{line}: column labels: label {:?} is given twice",
                k.trim()
            );
        }
    }
    Ok(labels)
}

fn check_key(kind: &str, s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= MAX_KEY_LEN
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{kind} {s:?}: use 1 to {MAX_KEY_LEN} letters, digits, '-', '_' or '.', such as \
             \"app-server\""
        ))
    }
}

fn check_value(kind: &str, s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        Err(format!(
            "{kind} is empty; give a value or leave the {kind} out"
        ))
    } else if s.len() > MAX_VALUE_LEN {
        Err(format!(
            "{kind} {s:?} is longer than {MAX_VALUE_LEN} bytes; shorten it"
        ))
    } else if s.chars().any(char::is_control) {
        Err(format!(
            "{kind} {s:?} contains a control character; remove it"
        ))
    } else {
        Ok(())
    }
}

/// Validates entries: networks, names, roles and labels, one entry per
/// network. `what` is `key` (TOML) or `column` (CSV), for messages.
fn check(entries: Vec<Unchecked>, file: &str, what: &str) -> Result<Inventory, InventoryFileError> {
    let mut seen: BTreeMap<Cidr, usize> = BTreeMap::new();
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let (addr, line) = &e.address;
        if addr.is_empty() {
            bail!(
                "{file}:{}: {what} address is missing; every entry needs an address (10.0.0.5) \
                 or a network (10.0.0.0/24)",
                e.line
            );
        }
        let cidr: Cidr = addr.trim().parse().map_err(|err: CidrError| {
            let hint = match err {
                CidrError::HostBitsSet { .. } => String::new(),
                _ => "; write an address (10.0.0.5, fd00::5) or a network (10.0.0.0/24, \
                      fd00::/64)"
                    .to_string(),
            };
            err!(
                "{file}:{line}: {what} address {addr:?}: {}{hint}",
                err.reason()
            )
        })?;
        if let Some(prev) = seen.insert(cidr, *line) {
            bail!(
                "{file}:{line}: {cidr} is already listed at line {prev}; merge the two entries \
                 into one"
            );
        }
        let mut entry = InventoryEntry::new(cidr);
        if let Some((name, line)) = e.name {
            check_value("name", &name).map_err(|m| err!("{file}:{line}: {what} name: {m}"))?;
            entry.name = Some(name.trim().to_string());
        }
        if let Some((role, line)) = e.role {
            check_key("role", role.trim()).map_err(|m| err!("{file}:{line}: {what} role: {m}"))?;
            entry.role = Some(role.trim().to_string());
        }
        if let Some((labels, line)) = e.labels {
            for (k, v) in labels {
                check_key("label", &k)
                    .and_then(|_| check_value(&format!("label {k}"), &v))
                    .map_err(|m| err!("{file}:{line}: {what} labels: {m}"))?;
                entry.labels.insert(k, v.trim().to_string());
            }
        }
        if entry.name.is_none() && entry.role.is_none() && entry.labels.is_empty() {
            bail!(
                "{file}:{line}: the entry for {cidr} sets no name, role or labels; give it one, \
                 or remove it"
            );
        }
        out.push(entry);
    }
    Ok(Inventory::new(out))
}

fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        k.to_string()
    } else {
        toml_string(k)
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A TOML inventory of `entries`, with `comment` (one `#` line each) at the
/// top: the format [`parse_toml`] reads.
pub fn to_toml(entries: &[InventoryEntry], comment: &str) -> String {
    let mut s = String::new();
    for line in comment.lines() {
        let _ = writeln!(s, "# {line}");
    }
    for e in entries {
        let _ = writeln!(s, "\n[[host]]");
        let _ = writeln!(s, "address = {}", toml_string(&e.cidr.to_string()));
        if let Some(name) = &e.name {
            let _ = writeln!(s, "name = {}", toml_string(name));
        }
        if let Some(role) = &e.role {
            let _ = writeln!(s, "role = {}", toml_string(role));
        }
        if !e.labels.is_empty() {
            let labels: Vec<String> = e
                .labels
                .iter()
                .map(|(k, v)| format!("{} = {}", toml_key(k), toml_string(v)))
                .collect();
            let _ = writeln!(s, "labels = {{ {} }}", labels.join(", "));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn err(r: Result<Inventory, InventoryFileError>) -> String {
        r.err().unwrap().to_string()
    }

    const TOML: &str = r#"# the office
[[host]]
address = "10.10.0.0/16"
labels = { site = "hq" }

[[host]]
address = "10.10.4.20"
name = "db.corp.example"
role = "database"
labels = { app = "erp", env = "prod" }

[[host]]
address = "fd00:10:10:1::/64"
role = "workstation"
"#;

    #[test]
    fn toml_reads_and_matches() {
        let inv = parse_toml(TOML, "inv.toml").unwrap();
        assert_eq!(inv.entries().len(), 3);
        let db = inv.lookup("10.10.4.20".parse().unwrap());
        assert_eq!(db.role.as_deref(), Some("database"));
        assert_eq!(db.name.as_deref(), Some("db.corp.example"));
        assert_eq!(db.labels["site"], "hq");
        assert_eq!(db.labels["app"], "erp");
        let ws = inv.lookup("fd00:10:10:1::101".parse().unwrap());
        assert_eq!(ws.role.as_deref(), Some("workstation"));
    }

    #[test]
    fn toml_errors_name_file_line_and_fix() {
        let e = err(parse_toml(
            "[[host]]\naddress = \"10.0.0.1\"\nrol = \"db\"\n",
            "inv.toml",
        ));
        assert!(e.starts_with("inv.toml:3: unknown field `rol`"), "{e}");
        assert!(e.contains("docs/INVENTORY.md"), "{e}");
        let e = err(parse_toml(
            "[[host]]\naddress = \"10.0.0.5/24\"\nrole = \"db\"\n",
            "inv.toml",
        ));
        assert!(
            e.starts_with("inv.toml:2: key address \"10.0.0.5/24\""),
            "{e}"
        );
        assert!(e.contains("the network is 10.0.0.0/24"), "{e}");
        let e = err(parse_toml(
            "[[host]]\naddress = \"10.0.0.300\"\nrole = \"db\"\n",
            "inv.toml",
        ));
        assert!(e.contains("not an IPv4 or IPv6 address"), "{e}");
        let e = err(parse_toml(
            "[[host]]\naddress = \"10.0.0.1\"\nrole = \"data base\"\n",
            "inv.toml",
        ));
        assert!(
            e.starts_with("inv.toml:3: key role: role \"data base\": use 1 to 64"),
            "{e}"
        );
        let e = err(parse_toml(
            "[[host]]\naddress = \"10.0.0.1\"\nrole = \"db\"\n[[host]]\naddress = \"10.0.0.1/32\"\nname = \"x\"\n",
            "inv.toml",
        ));
        assert!(
            e.contains("inv.toml:5: 10.0.0.1 is already listed at line 2"),
            "{e}"
        );
        let e = err(parse_toml("[[host]]\naddress = \"10.0.0.1\"\n", "inv.toml"));
        assert!(e.contains("sets no name, role or labels"), "{e}");
        let e = err(parse_toml("[[host]]\nrole = \"db\"\n", "inv.toml"));
        assert!(e.contains("missing field `address`"), "{e}");
        let e = err(parse_toml("# nothing\n", "inv.toml"));
        assert!(e.contains("no [[host]] entries"), "{e}");
        let e = err(parse_toml(
            "[[hosts]]\naddress = \"10.0.0.1\"\n",
            "inv.toml",
        ));
        assert!(e.starts_with("inv.toml:1: unknown field `hosts`"), "{e}");
        let e = err(parse_toml(
            "[[host]]\naddress = \"10.0.0.1\"\nlabels = { \"a b\" = \"x\" }\n",
            "inv.toml",
        ));
        assert!(
            e.starts_with("inv.toml:3: key labels: label \"a b\""),
            "{e}"
        );
        let e = err(parse_toml(
            "[[host]]\naddress = \"10.0.0.1\"\nlabels = { env = \"\" }\n",
            "inv.toml",
        ));
        assert!(e.contains("label env is empty"), "{e}");
        let e = err(parse_toml("[[host]\n", "inv.toml"));
        assert!(e.starts_with("inv.toml:1:"), "{e}");
    }

    const CSV: &str = "\u{feff}# address -> name, role, labels\n\
        address, name, role, labels\n\
        10.10.0.0/16,,,site=hq\n\
        10.10.4.20,db.corp.example,database,app=erp;env=prod\n\
        \n\
        \"10.10.1.0/24\",\"workstations, floor 1\",workstation,\n";

    #[test]
    fn csv_reads_and_matches() {
        let inv = parse_csv(CSV, "inv.csv").unwrap();
        assert_eq!(inv.entries().len(), 3);
        let db = inv.lookup("10.10.4.20".parse().unwrap());
        assert_eq!(db.role.as_deref(), Some("database"));
        assert_eq!(db.labels["env"], "prod");
        assert_eq!(db.labels["site"], "hq");
        let ws = inv.lookup("10.10.1.7".parse().unwrap());
        assert_eq!(ws.name.as_deref(), Some("workstations, floor 1"));
        // Columns in any order, some left out.
        let inv = parse_csv("role,address\ndns,10.0.0.53\n", "inv.csv").unwrap();
        assert_eq!(
            inv.lookup("10.0.0.53".parse().unwrap()).role.as_deref(),
            Some("dns")
        );
    }

    #[test]
    fn csv_errors_name_file_line_and_fix() {
        let e = err(parse_csv("address,rol\n10.0.0.1,db\n", "inv.csv"));
        assert!(e.starts_with("inv.csv:1: unknown column \"rol\""), "{e}");
        let e = err(parse_csv("name,role\nx,db\n", "inv.csv"));
        assert!(e.contains("no address column"), "{e}");
        let e = err(parse_csv("address,role\n10.0.0.1,db,extra\n", "inv.csv"));
        assert!(
            e.starts_with("inv.csv:2: 3 fields, but the header has 2"),
            "{e}"
        );
        let e = err(parse_csv("address,role\n\"10.0.0.1,db\n", "inv.csv"));
        assert!(
            e.starts_with("inv.csv:2: a quoted field is not closed"),
            "{e}"
        );
        let e = err(parse_csv("address,labels\n10.0.0.1,env\n", "inv.csv"));
        assert!(
            e.starts_with("inv.csv:2: column labels: \"env\" is not key=value"),
            "{e}"
        );
        let e = err(parse_csv("address,role\n10.0.0.0/33,db\n", "inv.csv"));
        assert!(
            e.starts_with("inv.csv:2: column address \"10.0.0.0/33\""),
            "{e}"
        );
        let e = err(parse_csv("address,role\n,db\n", "inv.csv"));
        assert!(e.starts_with("inv.csv:2: column address is missing"), "{e}");
        let e = err(parse_csv("address,role\n", "inv.csv"));
        assert!(e.contains("no entries"), "{e}");
        let e = err(parse_csv("address,role,role\n", "inv.csv"));
        assert!(e.contains("appears twice"), "{e}");
    }

    /// Fields as the reader splits them: one entry's name column.
    fn csv_name(field: &str) -> String {
        let text = format!("address,name\n10.0.0.1,{field}\n");
        let inv = parse_csv(&text, "inv.csv").unwrap();
        inv.entries()[0].name.clone().unwrap()
    }

    #[test]
    fn csv_fields_handle_quotes() {
        let inv = parse_csv("address , name,role \n 10.0.0.1 , b ,c\n", "inv.csv").unwrap();
        assert_eq!(inv.entries()[0].name.as_deref(), Some("b"));
        assert_eq!(inv.entries()[0].role.as_deref(), Some("c"));
        assert_eq!(csv_name("\"a,b\""), "a,b");
        assert_eq!(csv_name("\"say \"\"hi\"\"\""), "say \"hi\"");
        assert_eq!(csv_name("\"x, y\" "), "x, y");
        let inv = parse_csv("address,name,role\n10.0.0.1,a,\n", "inv.csv").unwrap();
        assert_eq!(inv.entries()[0].role, None);
        // Quoted fields with commas in every column, labels included.
        let inv = parse_csv(
            "address,name,role,labels\n\
             \"10.0.1.0/24\",\"printers, floor 1\",printer,\"site=hq, east;env=office\"\n",
            "inv.csv",
        )
        .unwrap();
        let e = &inv.entries()[0];
        assert_eq!(e.name.as_deref(), Some("printers, floor 1"));
        assert_eq!(e.labels["site"], "hq, east");
        assert_eq!(e.labels["env"], "office");
        // Comments and blank lines are skipped wherever they are.
        let inv = parse_csv(
            "  # a comment, with a comma\naddress,role\n\n  \n10.0.0.1,db\n# x\n",
            "inv.csv",
        )
        .unwrap();
        assert_eq!(inv.entries().len(), 1);
        // Windows line ends, as spreadsheets write them.
        let inv = parse_csv(
            "address,name\r\n10.0.0.1,db\r\n\"10.0.0.2\",\"a, b\"\r\n",
            "inv.csv",
        )
        .unwrap();
        assert_eq!(inv.entries()[1].name.as_deref(), Some("a, b"));
        assert_eq!(inv.entries()[0].name.as_deref(), Some("db"));
        // An unclosed quote is reported where it opens, later lines or not.
        let e = err(parse_csv(
            "address,role\n10.0.0.1,\"db\n10.0.0.2,x\n",
            "inv.csv",
        ));
        assert!(
            e.starts_with("inv.csv:2: a quoted field is not closed"),
            "{e}"
        );
        let e = err(parse_csv("address,role\n10.0.0.1,\"db", "inv.csv"));
        assert!(
            e.starts_with("inv.csv:2: a quoted field is not closed"),
            "{e}"
        );
    }

    #[test]
    fn written_toml_reads_back() {
        let entries = vec![
            InventoryEntry::new("10.0.0.0/8".parse().unwrap()).with_label("site.name", "h\"q"),
            InventoryEntry::new("fd00::1".parse().unwrap())
                .with_name("wiki.example")
                .with_role("wiki")
                .with_label("env", "prod"),
        ];
        let text = to_toml(&entries, "made by a test\nsecond line");
        assert!(
            text.starts_with("# made by a test\n# second line\n"),
            "{text}"
        );
        let inv = parse_toml(&text, "x.toml").unwrap();
        assert_eq!(inv.entries(), &entries[..]);
    }
}
