//! The store's calls from before [`MapStore`] and [`PolicyLog`], kept
//! (hidden from the docs) so callers compile while they move over: the
//! five one-batch writes, now wrappers over the one commit path, and the
//! reads and the policy log as inherent methods, which need no trait in
//! scope. Callers should build a [`Commit`](crate::Commit) and import the
//! traits; then this file goes.

use depmap_edges::{DayActivity, EdgeKey, EdgeOrigin, EdgeStats, NameRecord};

use crate::sqlite::{Parts, EMPTY};
use crate::{
    AuditRow, Batch, ExceptionRow, IngestRecord, MapStore, NewException, NewIngest,
    NewPolicyVersion, PolicyLog, PolicyVersion, Store, StoreError, UpsertSummary,
};

impl Store {
    /// `commit` with packet edges and an ingest record.
    #[doc(hidden)]
    pub fn commit_ingest(
        &mut self,
        ingest: &NewIngest,
        batch: &Batch,
    ) -> Result<UpsertSummary, StoreError> {
        let parts = Parts::new(batch, &EMPTY, &[]);
        Ok(self
            .commit_parts(Parts {
                ingest: Some(ingest),
                ..parts
            })?
            .0)
    }

    /// `commit` with flow edges and an ingest record.
    #[doc(hidden)]
    pub fn commit_flow_ingest(
        &mut self,
        ingest: &NewIngest,
        batch: &Batch,
        sampled: &[EdgeKey],
    ) -> Result<UpsertSummary, StoreError> {
        let parts = Parts::new(&EMPTY, batch, sampled);
        Ok(self
            .commit_parts(Parts {
                ingest: Some(ingest),
                ..parts
            })?
            .1)
    }

    /// `commit` with packet edges only.
    #[doc(hidden)]
    pub fn write(&mut self, batch: &Batch) -> Result<UpsertSummary, StoreError> {
        Ok(self.commit_parts(Parts::new(batch, &EMPTY, &[]))?.0)
    }

    /// `commit` with flow edges only.
    #[doc(hidden)]
    pub fn write_flows(
        &mut self,
        batch: &Batch,
        sampled: &[EdgeKey],
    ) -> Result<UpsertSummary, StoreError> {
        Ok(self.commit_parts(Parts::new(&EMPTY, batch, sampled))?.1)
    }

    /// `commit` with packet and flow edges, what each did.
    #[doc(hidden)]
    pub fn write_sources(
        &mut self,
        packets: &Batch,
        flows: &Batch,
        sampled: &[EdgeKey],
    ) -> Result<(UpsertSummary, UpsertSummary), StoreError> {
        self.commit_parts(Parts::new(packets, flows, sampled))
    }
}

/// Inherent methods that call the trait's of the same name.
macro_rules! forward {
    ($tr:ident:) => {};
    ($tr:ident: fn $name:ident(&self $(, $a:ident: $t:ty)*) -> $r:ty; $($rest:tt)*) => {
        impl Store {
            #[doc(hidden)]
            pub fn $name(&self $(, $a: $t)*) -> Result<$r, StoreError> {
                <Store as $tr>::$name(self $(, $a)*)
            }
        }
        forward! { $tr: $($rest)* }
    };
    ($tr:ident: fn $name:ident(&mut self $(, $a:ident: $t:ty)*) -> $r:ty; $($rest:tt)*) => {
        impl Store {
            #[doc(hidden)]
            pub fn $name(&mut self $(, $a: $t)*) -> Result<$r, StoreError> {
                <Store as $tr>::$name(self $(, $a)*)
            }
        }
        forward! { $tr: $($rest)* }
    };
}

forward! { MapStore:
    fn find_ingest(&self, content_hash: &str) -> Option<IngestRecord>;
    fn find_fingerprint(&self, fingerprint: &str) -> Option<IngestRecord>;
    fn find_ingest_of_kind(&self, content_hash: &str, kind: &str) -> Option<IngestRecord>;
    fn edges(&self) -> Vec<(EdgeKey, EdgeStats)>;
    fn activity(&self) -> Vec<(EdgeKey, DayActivity)>;
    fn names(&self) -> Vec<NameRecord>;
    fn edge_origins(&self) -> Vec<(EdgeKey, EdgeOrigin)>;
    fn edge_count(&self) -> u64;
    fn activity_row_count(&self) -> u64;
    fn last_activity_day(&self) -> Option<i32>;
    fn prune_days_before(&mut self, day: i32) -> u64;
    fn vacuum(&mut self) -> ();
    fn schema_version(&self) -> i64;
    fn integrity_check(&self) -> String;
}

forward! { PolicyLog:
    fn add_policy_version(&mut self, v: &NewPolicyVersion, action: &str) -> PolicyVersion;
    fn policy_versions(&self) -> Vec<PolicyVersion>;
    fn policy_version(&self, id: i64) -> Option<PolicyVersion>;
    fn add_exception(&mut self, e: &NewException, what: &str) -> ExceptionRow;
    fn exceptions(&self) -> Vec<ExceptionRow>;
    fn revoke_exception(&mut self, id: i64, at: i64, who: &str, ticket: Option<&str>) -> Option<ExceptionRow>;
    fn note_expired_exceptions(&mut self, expired: &[(i64, String)], at: i64, who: &str) -> usize;
    fn append_audit(&mut self, at: i64, who: &str, action: &str, what: &str, ticket: Option<&str>) -> i64;
    fn audit(&self) -> Vec<AuditRow>;
}
