//! `Ts`: a UTC instant that is an RFC 3339 string in JSON and an i64 of milliseconds in
//! snapshots (bincode is not human-readable), so one type serves the API and storage.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ts(pub DateTime<Utc>);

impl Ts {
    pub fn millis(self) -> i64 {
        self.0.timestamp_millis()
    }

    pub fn from_millis(ms: i64) -> Option<Ts> {
        Utc.timestamp_millis_opt(ms).single().map(Ts)
    }

    pub fn rfc3339(self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

impl From<DateTime<Utc>> for Ts {
    fn from(d: DateTime<Utc>) -> Self {
        // Millisecond precision everywhere, so a value survives a storage round trip unchanged.
        Ts::from_millis(d.timestamp_millis()).unwrap_or(Ts(d))
    }
}

impl fmt::Debug for Ts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

impl fmt::Display for Ts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

impl Serialize for Ts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.rfc3339())
        } else {
            s.serialize_i64(self.millis())
        }
    }
}

impl<'de> Deserialize<'de> for Ts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            DateTime::parse_from_rfc3339(&s)
                .map(|t| Ts::from(t.with_timezone(&Utc)))
                .map_err(|e| de::Error::custom(format!("'{s}' is not an RFC 3339 timestamp: {e}")))
        } else {
            let ms = i64::deserialize(d)?;
            Ts::from_millis(ms).ok_or_else(|| de::Error::custom("timestamp out of range"))
        }
    }
}
