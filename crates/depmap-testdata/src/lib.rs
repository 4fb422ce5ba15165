//! Where depmap's tests find the real captures and their references, and
//! one rule for when they are missing.
//!
//! The data lives in `../shared/data` next to the workspace (too large for
//! the repository); `DEPMAP_SHARED_DATA` names another place. A test that
//! needs it calls [`shared_data`] (or [`captures`]) and returns early on
//! `None`:
//!
//! - data present: `Some(dir)`;
//! - data missing, `CI` unset (a user's clone): a line on stderr saying
//!   the test skipped, and `None`;
//! - data missing, `CI` set: a panic, so the test fails instead of
//!   passing without having run. CI checks out next to the data.
//!
//! This crate reads no captures and depends on nothing: it only decides
//! where the data is and whether its absence is allowed.
//!
//! ```
//! let Some(captures) = depmap_testdata::captures() else { return };
//! assert!(captures.is_dir());
//! ```
#![deny(missing_docs)]

pub mod counters;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The environment variable that names the shared data directory when it
/// is not `../shared/data` next to the workspace (a git worktree elsewhere).
pub const DATA_VAR: &str = "DEPMAP_SHARED_DATA";

/// Where the shared data should be: `$DEPMAP_SHARED_DATA`, or
/// `../shared/data` next to the workspace root. It may not exist.
pub fn location() -> PathBuf {
    match std::env::var_os(DATA_VAR) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    }
}

/// Whether the `CI` environment variable says this is a CI run (set, not
/// empty, not `false` or `0`, as CI services set it).
pub fn in_ci() -> bool {
    ci_says(std::env::var_os("CI").as_deref())
}

fn ci_says(value: Option<&OsStr>) -> bool {
    value.is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The shared data directory (it holds `captures/`), or `None` after a
/// line on stderr when it is missing.
///
/// # Panics
/// When the data is missing and [`in_ci`] is true: a test that needs the
/// data must not pass without it in CI.
pub fn shared_data() -> Option<PathBuf> {
    match decide(location(), in_ci()) {
        Ok(found) => found,
        Err(why) => panic!("{why}"),
    }
}

/// The rule: `Ok(Some)` when `dir` holds captures, `Ok(None)` after a
/// message when it does not and this is not CI, `Err` when it does not and
/// this is CI.
fn decide(dir: PathBuf, ci: bool) -> Result<Option<PathBuf>, String> {
    if dir.join("captures").is_dir() {
        return Ok(Some(dir));
    }
    let why = format!(
        "the shared test data is missing: {} has no captures/ (set {DATA_VAR} to its place)",
        dir.display()
    );
    if ci {
        return Err(format!("{why}; CI is set, so a test that needs it fails"));
    }
    eprintln!("skipped: {why}");
    Ok(None)
}

/// `captures/` in the shared data, under the same rule as [`shared_data`].
pub fn captures() -> Option<PathBuf> {
    shared_data().map(|d| d.join("captures"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ci_values() {
        assert!(!ci_says(None));
        assert!(!ci_says(Some(OsStr::new(""))));
        assert!(!ci_says(Some(OsStr::new("false"))));
        assert!(!ci_says(Some(OsStr::new("0"))));
        assert!(ci_says(Some(OsStr::new("true"))));
        assert!(ci_says(Some(OsStr::new("1"))));
    }

    #[test]
    fn missing_data_fails_only_under_ci() {
        let empty = std::env::temp_dir().join("depmap-testdata-surely-absent");
        assert_eq!(decide(empty.clone(), false), Ok(None));
        let err = decide(empty, true).unwrap_err();
        assert!(err.contains("CI is set"), "{err}");
    }

    #[test]
    fn present_data_is_found_under_either_rule() {
        let dir = std::env::temp_dir().join(format!("depmap-testdata-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("captures")).unwrap();
        assert_eq!(decide(dir.clone(), true), Ok(Some(dir.clone())));
        assert_eq!(decide(dir.clone(), false), Ok(Some(dir.clone())));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
