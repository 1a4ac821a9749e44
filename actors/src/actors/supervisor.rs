//! The lead supervisor: the only place lead actors are spawned, so there is never more
//! than one actor per phone. Its own map is the routing truth (ractor's global registry
//! is not used).

use super::lead::{LeadActor, LeadArgs, LeadMsg};
use super::LeadDeps;
use crate::phone::Phone;
use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, MessagingErr, RpcReplyPort, SupervisionEvent};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub enum SupervisorMsg {
    /// Deliver a message to the lead's actor, activating it first if needed.
    Route(Phone, LeadMsg),
    /// A lead actor has been idle long enough: passivate it (drain, then forget).
    Idle(Phone, ActorId),
    /// How many lead actors are live.
    LiveCount(RpcReplyPort<usize>),
    /// Let every lead actor finish its queued messages, then stop them (graceful shutdown).
    DrainAll(Duration, RpcReplyPort<()>),
}

pub struct LeadSupervisor;

pub struct SupervisorState {
    deps: Arc<LeadDeps>,
    leads: HashMap<Phone, ActorRef<LeadMsg>>,
    phones: HashMap<ActorId, Phone>,
    /// Leads being passivated: the draining actor's id and the messages that arrived
    /// meanwhile, replayed in order to the next activation (Akka's Passivate pattern).
    passivating: HashMap<Phone, (ActorId, Vec<LeadMsg>)>,
}

/// Messages buffered per passivating lead; beyond this they are refused (callers get 503).
const MAX_BUFFERED: usize = 10_000;

impl SupervisorState {
    async fn spawn(&mut self, me: &ActorCell, phone: &Phone) -> Option<ActorRef<LeadMsg>> {
        let supervisor = ActorRef::<SupervisorMsg>::from(me.clone());
        let args = LeadArgs { phone: phone.clone(), deps: self.deps.clone(), supervisor };
        match Actor::spawn_linked(None, LeadActor, args, me.clone()).await {
            Ok((actor, _join)) => {
                self.phones.insert(actor.get_id(), phone.clone());
                self.leads.insert(phone.clone(), actor.clone());
                metrics::gauge!("leadline_live_lead_actors").set(self.leads.len() as f64);
                Some(actor)
            }
            Err(e) => {
                tracing::error!(phone = %phone.masked(), error = %e, "could not activate lead actor");
                None
            }
        }
    }

    /// A lead actor stopped (drained, failed or killed). If it was being passivated and
    /// messages arrived meanwhile, a fresh activation (from the snapshot) gets them, in order.
    async fn forget(&mut self, me: &ActorCell, id: ActorId) {
        if let Some(phone) = self.phones.remove(&id) {
            if self.leads.get(&phone).is_some_and(|a| a.get_id() == id) {
                self.leads.remove(&phone);
            }
            if self.passivating.get(&phone).is_some_and(|(pid, _)| *pid == id) {
                let buffered = self.passivating.remove(&phone).map(|(_, b)| b).unwrap_or_default();
                if !buffered.is_empty() {
                    if let Some(fresh) = self.spawn(me, &phone).await {
                        for msg in buffered {
                            let _ = fresh.cast(msg);
                        }
                    }
                }
            }
        }
        metrics::gauge!("leadline_live_lead_actors").set(self.leads.len() as f64);
    }
}

impl Actor for LeadSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = Arc<LeadDeps>;

    async fn pre_start(
        &self,
        _me: ActorRef<SupervisorMsg>,
        deps: Arc<LeadDeps>,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        Ok(SupervisorState { deps, leads: HashMap::new(), phones: HashMap::new(), passivating: HashMap::new() })
    }

    async fn handle(
        &self,
        me: ActorRef<SupervisorMsg>,
        msg: SupervisorMsg,
        st: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::Route(phone, msg) => {
                if let Some((_, buffer)) = st.passivating.get_mut(&phone) {
                    if buffer.len() < MAX_BUFFERED {
                        buffer.push(msg);
                    } else {
                        tracing::warn!(phone = %phone.masked(), "passivation buffer full; message refused");
                    }
                    return Ok(());
                }
                let actor = match st.leads.get(&phone) {
                    Some(actor) => actor.clone(),
                    None => match st.spawn(&me.get_cell(), &phone).await {
                        Some(actor) => actor,
                        None => return Ok(()), // logged; the caller's reply port drops -> 503
                    },
                };
                // A lead actor that is stopping hands the message back; activate a fresh one.
                if let Err(MessagingErr::SendErr(msg)) = actor.cast(msg) {
                    if let Some(old) = st.leads.remove(&phone) {
                        st.phones.remove(&old.get_id());
                    }
                    if let Some(fresh) = st.spawn(&me.get_cell(), &phone).await {
                        let _ = fresh.cast(msg);
                    }
                }
            }
            SupervisorMsg::Idle(phone, id) => {
                if let Some(actor) = st.leads.get(&phone).filter(|a| a.get_id() == id).cloned() {
                    st.leads.remove(&phone);
                    st.passivating.insert(phone, (id, Vec::new()));
                    metrics::counter!("leadline_passivations_total").increment(1);
                    // drain: what is already queued is processed; then the actor stops.
                    if actor.drain().is_err() {
                        actor.stop(None);
                    }
                }
            }
            SupervisorMsg::LiveCount(reply) => {
                let _ = reply.send(st.leads.len());
            }
            SupervisorMsg::DrainAll(timeout, reply) => {
                let mut waits = tokio::task::JoinSet::new();
                for actor in st.leads.values() {
                    let actor = actor.clone();
                    waits.spawn(async move { actor.drain_and_wait(Some(timeout)).await });
                }
                while waits.join_next().await.is_some() {}
                let _ = reply.send(());
            }
        }
        Ok(())
    }

    /// Overridden so that a child stopping or failing does NOT stop the supervisor (ractor's
    /// default). A failed lead is simply forgotten: its next message re-activates it from its
    /// last snapshot, which is exactly its last acknowledged state.
    async fn handle_supervisor_evt(
        &self,
        me: ActorRef<SupervisorMsg>,
        evt: SupervisionEvent,
        st: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match evt {
            SupervisionEvent::ActorTerminated(cell, _, _) => st.forget(&me.get_cell(), cell.get_id()).await,
            SupervisionEvent::ActorFailed(cell, err) => {
                tracing::error!(error = %err, "lead actor failed; it restarts from its snapshot on its next message");
                metrics::counter!("leadline_lead_actor_failures_total").increment(1);
                st.forget(&me.get_cell(), cell.get_id()).await;
            }
            _ => {}
        }
        Ok(())
    }
}
