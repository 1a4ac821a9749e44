//! Dead letters: texts that were not sent automatically and wait for a person (provider
//! refusals, configuration errors, exhausted retries, in-doubt sends).

use super::views::{DeadLetterList, DeadLetterView};
use super::{App, AppError};
use crate::cluster::log::Entry;
use leadline_core::actors::gateway::GatewayMsg;

pub fn list(app: &App) -> Result<DeadLetterList, AppError> {
    let dead_letters: Vec<DeadLetterView> = app.store.dead_letters()?.iter().map(Into::into).collect();
    Ok(DeadLetterList { count: dead_letters.len(), dead_letters })
}

/// The ids of one lead's dead letters (a dead letter's id is its text's message id,
/// `<phone>#<seq>`), so the lead's page can link a failed text to its dead letter.
pub fn ids_of_lead(app: &App, phone: &leadline_core::Phone) -> Result<std::collections::HashSet<String>, AppError> {
    Ok(app.store.dead_letters()?.into_iter().filter(|d| d.text.to == *phone).map(|d| d.text.id).collect())
}

/// Hands a dead letter back to the gateway. It passes the compliance gate before it is
/// sent: an opt-out, freeze, suppression or quiet hours since it failed still win.
pub async fn retry(app: &App, id: &str) -> Result<(), AppError> {
    if app.cluster.is_some() {
        return replicate(app, id, Entry::RetryDeadLetter { id: id.to_string() }).await;
    }
    let result = ractor::call_t!(app.gateway, GatewayMsg::RetryDeadLetter, 5000, id.to_string())
        .map_err(|e| AppError::Unavailable(format!("gateway unavailable: {e}")))?;
    match result {
        Ok(true) => Ok(()),
        Ok(false) => Err(AppError::NotFound(format!("no dead letter {id}"))),
        Err(e) => Err(AppError::Unavailable(e)),
    }
}

/// Drops a dead letter for good.
pub async fn discard(app: &App, id: &str) -> Result<(), AppError> {
    if app.cluster.is_some() {
        return replicate(app, id, Entry::DiscardDeadLetter { id: id.to_string() }).await;
    }
    match app.store.take_dead_letter(id).await? {
        Some(_) => {
            metrics::gauge!("leadline_dead_letters").set(app.store.dead_letter_count() as f64);
            tracing::info!(id = %leadline_core::phone::mask_message_id(id), "dead letter discarded by an operator");
            Ok(())
        }
        None => Err(AppError::NotFound(format!("no dead letter {id}"))),
    }
}

/// Cluster mode: the operator's action goes through the log, so every node applies it (and
/// the gateway lease holder sends a retried text).
async fn replicate(app: &App, id: &str, entry: Entry) -> Result<(), AppError> {
    let Some(dl) = app.store.dead_letters()?.into_iter().find(|d| d.text.id == id) else {
        return Err(AppError::NotFound(format!("no dead letter {id}")));
    };
    app.replicate(Some(dl.text.to), entry, None).await?;
    tracing::info!(id = %leadline_core::phone::mask_message_id(id), "dead letter action recorded in the cluster log");
    Ok(())
}
