//! The typed parts of a draft: its default action, protocols, endpoints and
//! times.
//!
//! Each is parsed once, where a draft is read (serde, as the text the JSON
//! format has always carried: `"deny"`, `"tcp"`, `"10.0.0.1"`,
//! `"10.0.8.0/24"`, `"role:db"`, `"2026-11-05T00:00:00.000000Z"`), so a
//! renderer never meets an unparsed
//! string and a bad value is an error naming it when the draft is read.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use depmap_model::{rfc3339, Cidr, Inventory};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What happens to traffic no rule allows. Drafts only ever deny: every
/// renderer compiles an allow-list with a default deny.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultAction {
    /// Anything not allowed is blocked.
    #[default]
    Deny,
}

impl PartialEq<&str> for DefaultAction {
    fn eq(&self, other: &&str) -> bool {
        matches!((self, *other), (DefaultAction::Deny, "deny"))
    }
}

/// serde for a field whose type has a text form ([`Proto`](crate::Proto)
/// from `depmap-model`): written with `Display`, read with `FromStr`, so the
/// draft keeps the text it has always had (`"tcp"`, `"253"`).
pub(crate) mod text {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<T: Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub(crate) fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A client or server of a draft: an address or network, or every host
/// the inventory gives a role (`role:NAME`). Drafts depmap makes hold
/// addresses; a reviewer may write the others.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// An address (a `/32` or `/128`) or a network.
    Net(Cidr),
    /// Every inventory entry with this role.
    Role(String),
}

impl Endpoint {
    /// `None` when the text is neither an address, a network nor `role:NAME`.
    pub fn parse(s: &str) -> Option<Endpoint> {
        if let Some(role) = s.strip_prefix("role:") {
            return (!role.is_empty()).then(|| Endpoint::Role(role.to_string()));
        }
        s.parse().ok().map(Endpoint::Net)
    }

    /// The single address it is, if it is one.
    pub fn addr(&self) -> Option<IpAddr> {
        match self {
            Endpoint::Net(c) if c.is_host() => Some(c.addr()),
            _ => None,
        }
    }

    /// Whether it covers `ip` (a role covers nothing without an inventory).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match self {
            Endpoint::Net(c) => c.contains(ip),
            Endpoint::Role(_) => false,
        }
    }

    /// The networks it stands for, or why there are none.
    pub fn networks(&self, inv: &Inventory) -> Result<Vec<Cidr>, String> {
        match self {
            Endpoint::Net(c) => Ok(vec![*c]),
            Endpoint::Role(role) => {
                let nets: Vec<Cidr> = inv
                    .entries()
                    .iter()
                    .filter(|e| e.role.as_deref() == Some(role.as_str()))
                    .map(|e| e.cidr)
                    .collect();
                if nets.is_empty() {
                    Err(format!(
                        "no inventory entry has role {role:?} (pass --inventory with one), so it \
                         has no addresses"
                    ))
                } else {
                    Ok(nets)
                }
            }
        }
    }
}

impl From<IpAddr> for Endpoint {
    fn from(ip: IpAddr) -> Endpoint {
        Endpoint::Net(Cidr::host(ip))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Net(c) => write!(f, "{c}"),
            Endpoint::Role(r) => write!(f, "role:{r}"),
        }
    }
}

impl FromStr for Endpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Endpoint, String> {
        Endpoint::parse(s).ok_or_else(|| format!("{s:?} is not an address, a network or role:NAME"))
    }
}

impl PartialEq<&str> for Endpoint {
    /// Whether the text reads as this endpoint.
    fn eq(&self, other: &&str) -> bool {
        Endpoint::parse(other).is_some_and(|o| o == *self)
    }
}

impl Serialize for Endpoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Endpoint, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A time in a draft: ns since the epoch, written as RFC 3339 in UTC with
/// microseconds (`2026-11-05T00:00:00.000000Z`); read from any RFC 3339
/// time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

const NANOS_PER_DAY: i64 = 86_400_000_000_000;

impl Timestamp {
    /// An RFC 3339 time (`2026-12-01T00:00:00Z`, ...); `None` for anything
    /// else, or a time before 1970.
    pub fn parse(text: &str) -> Option<Timestamp> {
        let t = humantime::parse_rfc3339_weak(text).ok()?;
        let ns = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
        i64::try_from(ns).ok().map(Timestamp)
    }

    /// Nanoseconds since the epoch.
    pub fn ns(self) -> i64 {
        self.0
    }

    /// Its UTC day (days since the epoch).
    pub fn day(self) -> i32 {
        self.0.div_euclid(NANOS_PER_DAY) as i32
    }

    /// Its UTC date, `YYYY-MM-DD`.
    pub fn date(self) -> String {
        let mut t = rfc3339(self.0);
        t.truncate(10);
        t
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&rfc3339(self.0))
    }
}

impl FromStr for Timestamp {
    type Err = String;
    fn from_str(s: &str) -> Result<Timestamp, String> {
        Timestamp::parse(s).ok_or_else(|| {
            format!("{s:?}, which is not an RFC 3339 time such as 2026-12-01T00:00:00Z")
        })
    }
}

impl PartialEq<&str> for Timestamp {
    fn eq(&self, other: &&str) -> bool {
        rfc3339(self.0) == *other
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::Proto;

    #[test]
    fn endpoints_and_protocols_parse() {
        assert_eq!(
            Endpoint::parse("10.0.0.0/8"),
            Some(Endpoint::Net("10.0.0.0/8".parse().unwrap()))
        );
        assert_eq!(
            Endpoint::parse("role:db"),
            Some(Endpoint::Role("db".into()))
        );
        assert_eq!(Endpoint::parse("role:"), None);
        assert_eq!(Endpoint::parse("db.example"), None);
        assert_eq!("tcp".parse::<Proto>(), Ok(Proto(6)));
        assert_eq!("icmpv6".parse::<Proto>(), Ok(Proto(58)));
        assert_eq!("253".parse::<Proto>(), Ok(Proto(253)));
        assert!("tcpx".parse::<Proto>().is_err());
    }

    #[test]
    fn they_read_and_write_the_drafts_text() {
        for text in [
            "\"10.0.0.1\"",
            "\"10.0.8.0/24\"",
            "\"role:db\"",
            "\"2001:db8::5\"",
        ] {
            let e: Endpoint = serde_json::from_str(text).unwrap();
            assert_eq!(serde_json::to_string(&e).unwrap(), text);
        }
        #[derive(Debug, Serialize, Deserialize)]
        struct P(#[serde(with = "text")] Proto);
        for t in ["\"tcp\"", "\"icmpv6\"", "\"253\""] {
            let p: P = serde_json::from_str(t).unwrap();
            assert_eq!(serde_json::to_string(&p).unwrap(), t);
        }
        let err = serde_json::from_str::<Endpoint>("\"db.example\"").unwrap_err();
        assert!(err
            .to_string()
            .contains("not an address, a network or role:NAME"));
        let err = serde_json::from_str::<P>("\"TCP\"").unwrap_err();
        assert!(err.to_string().contains("not a protocol depmap names"));
        assert!(serde_json::from_str::<DefaultAction>("\"allow\"").is_err());
        assert_eq!(
            serde_json::to_string(&DefaultAction::Deny).unwrap(),
            "\"deny\""
        );
    }
}
