//! The service's background tasks besides the actors: the idempotency-key purger, the
//! Follow Up Boss notifications left over from the previous run, and the RESO poller.

use crate::app::expiry;
use crate::app::App;
use crate::config::Secrets;
use crate::integrations::followupboss::worker;
use crate::integrations::reso::{self, PollReport, ResoHandle};
use tokio::task::JoinHandle;

pub struct Background {
    purger: JoinHandle<()>,
    reso: Option<ResoHandle>,
}

impl Background {
    pub fn start(app: &App, secrets: &Secrets) -> anyhow::Result<Background> {
        let reso = reso::start(app.clone(), secrets)?;
        let purger = expiry::spawn_purger(app.clone());
        worker::resume_pending(app);
        Ok(Background { purger, reso })
    }

    /// Runs a RESO poll now (tests, operators); an error if the poller is not enabled.
    pub async fn reso_poll_now(&self) -> anyhow::Result<PollReport> {
        let reso = self.reso.as_ref().ok_or_else(|| anyhow::anyhow!("integrations.reso.enabled is false"))?;
        reso.poll_now().await.map_err(anyhow::Error::msg)
    }

    /// Stops the tasks (before the actors drain, so no new events start).
    pub fn stop(self) {
        self.purger.abort();
        if let Some(reso) = self.reso {
            reso.stop();
        }
    }
}
