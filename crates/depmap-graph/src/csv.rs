//! The CSV export of a [`Map`]: one row per edge.

use std::io;

use depmap_model::rfc3339;

use crate::map::proto_text;
use crate::Map;

impl Map {
    /// The CSV export: one row per edge, with a header row. Once origins
    /// are set ([`Map::set_origins`]) two more columns end each row:
    /// `sources` (`packets`, `flows` or `packets+flows`) and `sampled`
    /// (`true` or `false`).
    pub fn write_csv(&self, mut out: impl io::Write) -> io::Result<()> {
        write!(
            out,
            "client,server,port,proto,connections,packets,bytes,client_packets,client_bytes,\
             server_packets,server_bytes,first_seen,last_seen"
        )?;
        if self.origins.is_some() {
            write!(out, ",sources,sampled")?;
        }
        writeln!(out)?;
        for (i, (k, s)) in self.edges.iter().enumerate() {
            write!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{}",
                k.client,
                k.server,
                k.port,
                proto_text(k.proto),
                s.connections,
                s.packets(),
                s.bytes(),
                s.client_packets,
                s.client_bytes,
                s.server_packets,
                s.server_bytes,
                rfc3339(s.first_seen),
                rfc3339(s.last_seen)
            )?;
            if let Some(o) = self.origin(i) {
                write!(out, ",{},{}", o.source_names().join("+"), o.sampled)?;
            }
            writeln!(out)?;
        }
        Ok(())
    }
}
