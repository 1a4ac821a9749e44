//! Dead letters: texts that were not sent automatically and wait for a person (provider
//! refusals, configuration errors, exhausted retries, in-doubt sends).

use super::views::{DeadLetterList, DeadLetterView};
use super::{App, AppError};
use crate::cluster::log::Entry;
use leadline_core::actors::gateway::GatewayMsg;

/// A page of dead letters in id order: at most `limit` after id `after`.
pub fn list(app: &App, after: Option<&str>, limit: usize) -> Result<DeadLetterList, AppError> {
    let mut page = app.store.dead_letters_page(after, limit.saturating_add(1))?;
    let more = page.len() > limit;
    page.truncate(limit);
    let dead_letters: Vec<DeadLetterView> = page.iter().map(Into::into).collect();
    let next_cursor = if more { dead_letters.last().map(|d| d.id.clone()) } else { None };
    Ok(DeadLetterList { count: dead_letters.len(), dead_letters, next_cursor })
}

/// The ids of one lead's dead letters (a dead letter's id is its text's message id,
/// `<phone>#<seq>`), so the lead's page can link a failed text to its dead letter.
pub fn ids_of_lead(app: &App, phone: &leadline_core::Phone) -> Result<std::collections::HashSet<String>, AppError> {
    Ok(app.store.dead_letters()?.into_iter().filter(|d| d.text.to == *phone).map(|d| d.text.id).collect())
}

/// Hands a dead letter back to the gateway. It passes the compliance gate before it is
/// sent: an opt-out, freeze, suppression or quiet hours since it failed still win.
pub async fn retry(app: &App, id: &str, operator: &str) -> Result<(), AppError> {
    let letter = app.store.dead_letter(id)?;
    if app.cluster.is_some() {
        replicate(app, id, Entry::RetryDeadLetter { id: id.to_string() }).await?;
    } else {
        let result = ractor::call_t!(app.gateway, GatewayMsg::RetryDeadLetter, 5000, id.to_string())
            .map_err(|e| AppError::Unavailable(format!("gateway unavailable: {e}")))?;
        match result {
            Ok(true) => {}
            Ok(false) => return Err(AppError::NotFound(format!("no dead letter {id}"))),
            Err(e) => return Err(AppError::Unavailable(e)),
        }
    }
    if let Some(dl) = letter {
        let detail =
            format!("dead letter {} ({}) retried: queued again, it passes the gate first", dl.text.id, dl.reason);
        super::leads::note_operator_action(app, &dl.text.to, operator, "admin.dead_letter_retry", detail).await;
    }
    Ok(())
}

/// Drops a dead letter for good.
pub async fn discard(app: &App, id: &str, operator: &str) -> Result<(), AppError> {
    let taken = if app.cluster.is_some() {
        let letter = app.store.dead_letter(id)?;
        replicate(app, id, Entry::DiscardDeadLetter { id: id.to_string() }).await?;
        letter
    } else {
        app.store.take_dead_letter(id).await?
    };
    match taken {
        Some(dl) => {
            metrics::gauge!("leadline_dead_letters").set(app.store.dead_letter_count() as f64);
            tracing::info!(id = %leadline_core::phone::mask_message_id(id), operator = %operator, "dead letter discarded by an operator");
            let detail = format!("dead letter {} ({}) discarded: that text will never be sent", dl.text.id, dl.reason);
            super::leads::note_operator_action(app, &dl.text.to, operator, "admin.dead_letter_discard", detail).await;
            Ok(())
        }
        None => Err(AppError::NotFound(format!("no dead letter {id}"))),
    }
}

/// Cluster mode: the operator's action goes through the log, so every node applies it (and
/// the gateway lease holder sends a retried text).
async fn replicate(app: &App, id: &str, entry: Entry) -> Result<(), AppError> {
    let Some(dl) = app.store.dead_letter(id)? else {
        return Err(AppError::NotFound(format!("no dead letter {id}")));
    };
    app.replicate(Some(dl.text.to), entry, None).await?;
    tracing::info!(id = %leadline_core::phone::mask_message_id(id), "dead letter action recorded in the cluster log");
    Ok(())
}
