//! Follow Up Boss payloads, typed: the webhook notification, the acknowledged notification
//! as persisted, and a person from the People API
//! (<https://docs.followupboss.com/reference/requests-and-responses>). People are read leniently, like
//! FUB's own clients: a field of an unexpected type is treated as absent, never as an error.

use leadline_core::Ts;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The webhook body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FubNotification, example = json!({"eventId": "7b2a", "eventCreated": "2026-11-27T14:03:00+00:00",
    "event": "peopleStageUpdated", "resourceIds": [1234], "uri": "https://api.followupboss.com/v1/people?id=1234"}))]
pub struct Notification {
    pub event_id: String,
    pub event_created: Option<String>,
    /// `peopleCreated`, `peopleUpdated` and `peopleStageUpdated` are acted on; others are ignored.
    pub event: String,
    #[serde(default)]
    pub resource_ids: Vec<Value>,
    pub uri: Option<String>,
}

impl Notification {
    /// The resource ids as text (strings and numbers; anything else is dropped).
    pub fn resource_id_texts(&self) -> Vec<String> {
        self.resource_ids.iter().filter_map(id_text).collect()
    }
}

/// A notification acknowledged but not processed yet (persisted in `meta` under
/// `fub:pending`; its shape is part of the database format: do not change it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingEvent {
    pub event_id: String,
    pub event: String,
    pub resource_ids: Vec<String>,
    pub uri: Option<String>,
    pub received_at: Ts,
}

/// The FUB notifications not yet handled, as stored under `fub:pending` in the store's
/// `meta` tree. A newtype struct: bincode encodes it exactly as the bare list, which is what
/// builds before per-type record versions wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingEvents(pub Vec<PendingEvent>);

impl leadline_core::codec::Record for PendingEvents {
    const KIND: &'static str = "fub_pending_events";
    const VERSION: u8 = 1;
}

/// The fields of a FUB person leadline reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    #[serde(default, deserialize_with = "text")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub first_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub last_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub stage: Option<String>,
    /// The assigned agent's name.
    #[serde(default, deserialize_with = "text")]
    pub assigned_to: Option<String>,
    #[serde(default, deserialize_with = "list")]
    pub phones: Vec<PhoneEntry>,
    #[serde(default, deserialize_with = "list")]
    pub emails: Vec<EmailEntry>,
}

/// One of `phones`: only a string `value` is read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PhoneEntry {
    #[serde(default, deserialize_with = "string")]
    pub value: Option<String>,
}

/// One of `emails`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct EmailEntry {
    #[serde(default, deserialize_with = "text")]
    pub value: Option<String>,
}

impl Person {
    /// Reads a person; anything that is not an object is a person without fields.
    pub fn from_value(v: Value) -> Person {
        serde_json::from_value(v).unwrap_or_default()
    }
}

/// A string (trimmed, non-empty) or a number, as text.
pub fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(id_text(&Value::deserialize(d)?))
}

fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        _ => None,
    })
}

/// An array whose elements that do not fit are left out; anything else is empty.
fn list<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items.into_iter().filter_map(|v| serde_json::from_value(v).ok()).collect(),
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_person_is_read_leniently() {
        let p = Person::from_value(json!({
            "id": 7, "firstName": " Ana ", "lastName": "", "stage": "Lead", "assignedTo": null,
            "phones": [{"value": 2125550142u64}, "x", {"value": "+12125550142"}],
            "emails": {"value": "not a list"},
        }));
        assert_eq!(p.id.as_deref(), Some("7"));
        assert_eq!(p.first_name.as_deref(), Some("Ana"));
        assert_eq!(p.last_name, None, "empty is absent");
        assert_eq!(p.assigned_to, None);
        assert_eq!(p.phones, vec![PhoneEntry { value: None }, PhoneEntry { value: Some("+12125550142".into()) }]);
        assert!(p.emails.is_empty());
        assert_eq!(Person::from_value(json!(42)), Person::default());
    }

    #[test]
    fn resource_ids_are_strings_or_numbers() {
        let n: Notification = serde_json::from_value(
            json!({"eventId": "e", "event": "peopleCreated", "resourceIds": [1, " 2 ", "", null]}),
        )
        .unwrap();
        assert_eq!(n.resource_id_texts(), vec!["1".to_string(), "2".to_string()]);
    }
}
