//! `--inventory FILE`: reading an inventory of hosts (TOML or CSV, told
//! apart by the file's extension; both in `docs/INVENTORY.md`). Parsing and
//! checking the text is `depmap_model::inventory_file`'s job, matching hosts
//! against the entries `depmap_model::inventory`'s; this module reads the
//! file.

use std::path::Path;

use anyhow::{bail, Context};
use depmap_model::inventory_file::{parse_csv, parse_toml};
use depmap_model::Inventory;

/// Reads and checks the inventory at `path` (`*.toml` or `*.csv`).
pub(crate) fn load(path: &Path) -> anyhow::Result<Inventory> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the inventory {}", path.display()))?;
    let file = path.display().to_string();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("toml") => Ok(parse_toml(&text, &file)?),
        Some("csv") => Ok(parse_csv(&text, &file)?),
        _ => bail!(
            "{file}: an inventory is TOML or CSV, told apart by the extension: name it *.toml or \
             *.csv (formats in docs/INVENTORY.md)"
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
    fn load_picks_the_format_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("INV.CSV");
        std::fs::write(&csv, "address,role\n10.0.0.1,db\n").unwrap();
        assert_eq!(load(&csv).unwrap().entries().len(), 1);
        let toml = dir.path().join("inv.toml");
        std::fs::write(&toml, TOML).unwrap();
        assert_eq!(load(&toml).unwrap().entries().len(), 3);
        let other = dir.path().join("inv.yaml");
        std::fs::write(&other, "").unwrap();
        assert!(format!("{:#}", load(&other).err().unwrap()).contains("*.toml or *.csv"));
        let missing = dir.path().join("none.toml");
        assert!(format!("{:#}", load(&missing).err().unwrap()).contains("none.toml"));
    }
}
