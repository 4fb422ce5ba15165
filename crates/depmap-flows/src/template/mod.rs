//! NetFlow v9 and IPFIX: the seam between depmap and the library that
//! decodes templates and data sets.
//!
//! [`TemplateScope`] is what the decoder needs from such a library: one
//! instance per template scope (exporter address and port + source ID /
//! observation domain), fed whole messages, reporting templates learned,
//! the known fields of every data and options record, and the data sets
//! whose template it does not know. [`native`] implements it (see there
//! for why not the `netflow_parser` crate); in tests, `nfparser` implements
//! it with `netflow_parser` 1.0.x, and the two are compared on every capture.
//!
//! The decoder keeps everything else itself: which scopes exist and their
//! bound, the data sets waiting for a template (with a time bound from the
//! caller's timestamps, never a clock), sampling rates, and the mapping of
//! fields to [`FlowRecord`](crate::FlowRecord)s.

pub(crate) mod native;
#[cfg(test)]
pub(crate) mod nfparser;

use crate::fields::Ie;

/// Which template format a scope decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Version {
    /// NetFlow v9.
    V9,
    /// IPFIX.
    Ipfix,
}

/// The kind of record whose fields follow [`Sink::begin`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecordKind {
    /// A data record (flows).
    Data,
    /// An options data record (sampling rates, system init time, ...).
    Options,
}

/// Receives what a [`TemplateScope`] decodes from one message, in message
/// order.
pub(crate) trait Sink {
    /// A template or options template with this ID was defined (or refreshed).
    fn template(&mut self, id: u16);
    /// A record starts.
    fn begin(&mut self, kind: RecordKind);
    /// One field of the current record; only elements for which
    /// [`crate::fields::is_known`] holds need to be reported. `value` is the
    /// field's bytes as on the wire (variable-length prefix removed).
    fn field(&mut self, ie: Ie, value: &[u8]);
    /// The current record ends.
    fn end(&mut self);
    /// A data set whose template is unknown: its set ID and body (the bytes
    /// after the 4-byte set header). `complete` is false if the library
    /// could only hand back part of the body.
    fn missing_template(&mut self, set_id: u16, body: &[u8], complete: bool);
}

/// The message could not be decoded (invalid template, data that does not
/// fit its template, or a framing error the library found).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rejected;

/// A NetFlow v9 or IPFIX decoder for one template scope.
pub(crate) trait TemplateScope {
    /// Decodes one whole message (header included), reporting to `sink`.
    /// Items reported before an error stand.
    fn decode(&mut self, message: &[u8], sink: &mut dyn Sink) -> Result<(), Rejected>;
    /// Whether a data or options template with this ID is cached.
    fn has_template(&self, id: u16) -> bool;
    /// Templates evicted by the scope's bound so far.
    fn templates_evicted(&self) -> u64;
}

/// Makes [`TemplateScope`]s.
pub(crate) trait TemplateBackend {
    /// The scope type.
    type Scope: TemplateScope;
    /// A new, empty scope for `version` that caches at most
    /// `max_templates` templates of each kind.
    fn new_scope(&self, version: Version, max_templates: usize) -> Self::Scope;
}
