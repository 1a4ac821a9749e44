//! Every metric family leadline emits, with its HELP text, in one place; the latency
//! buckets; the build-info gauge and the process metrics. `describe` runs once per process,
//! when the Prometheus recorder is installed (`telemetry::metrics_handle`).
//!
//! The call sites (`metrics::counter!` and friends) stay where the events happen, in this
//! crate and in leadline-core; a family that is emitted but missing here has no HELP line,
//! which `tests/api/metrics.rs` catches. docs/metrics.md lists the same families for people.

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};

/// Buckets (seconds) for request and flush latencies: 0.5 ms to 10 s.
pub const LATENCY_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Buckets (seconds) for the wait for a sending turn: rate limits make it seconds to minutes,
/// the daily cap hours.
pub const GATEWAY_WAIT_BUCKETS: &[f64] =
    &[0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0];

/// Buckets for `leadline_commit_jobs_per_write` (main's group commit: how many callers
/// shared one write): a count, not seconds.
pub const JOBS_PER_WRITE_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0];

/// The Prometheus builder with leadline's histogram buckets: every histogram renders as a
/// Prometheus histogram (`_bucket{le=...}`, `_sum`, `_count`), never as a summary.
pub fn prometheus_builder() -> metrics_exporter_prometheus::PrometheusBuilder {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    // Both lists are non-empty constants, the only case in which the builder refuses them;
    // should that ever change, the fallback is the builder's summaries, not a crash.
    let with_buckets = PrometheusBuilder::new().set_buckets(LATENCY_BUCKETS).and_then(|b| {
        b.set_buckets_for_metric(Matcher::Full("leadline_gateway_wait_seconds".into()), GATEWAY_WAIT_BUCKETS)?
            .set_buckets_for_metric(Matcher::Full("leadline_commit_jobs_per_write".into()), JOBS_PER_WRITE_BUCKETS)
    });
    match with_buckets {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "histogram buckets refused; latencies are summaries");
            PrometheusBuilder::new()
        }
    }
}

/// Registers the HELP text (and unit) of every family. Call once the recorder is installed.
pub fn describe() {
    // HTTP
    describe_histogram!(
        "leadline_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by route template (`unmatched` for unknown paths), method (GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, else `other`) and status class (2xx..5xx)."
    );
    describe_counter!("leadline_rate_limited_total", "Requests refused with 429 by the per-client-IP rate limit.");
    describe_counter!(
        "leadline_body_too_large_total",
        "Requests refused with 413 because the body exceeded server.max_body_bytes."
    );
    describe_counter!("leadline_request_timeouts_total", "Requests that exceeded the server's request deadline.");
    describe_counter!(
        "leadline_admin_sign_ins_total",
        "Admin page sign-in attempts by outcome (ok, wrong, throttled): many wrong or throttled ones mean password guessing."
    );
    describe_counter!(
        "leadline_admin_forbidden_total",
        "Admin API requests refused with 403 because the operator's role does not include the route's."
    );
    describe_counter!(
        "leadline_idempotent_replays_total",
        "Requests answered from a stored reply because their Idempotency-Key was seen before."
    );
    describe_counter!(
        "leadline_webhook_signature_failures_total",
        "Webhook requests refused because their signature did not verify."
    );
    describe_counter!(
        "leadline_webhook_rejected_total",
        "Webhook requests rejected, by reason (e.g. twilio_signature)."
    );

    // Events and decisions (the lead actors)
    describe_counter!(
        "leadline_events_total",
        "Events applied to leads, by kind and source (known lead sources and internal sources; anything else is `other`)."
    );
    describe_counter!(
        "leadline_duplicate_events_total",
        "Events ignored as re-deliveries of one already applied, by kind."
    );
    describe_counter!(
        "leadline_decisions_total",
        "Texts decided, by outcome (queued, deferred, blocked) and the rule that decided."
    );
    describe_gauge!("leadline_live_lead_actors", "Lead actors in memory now (idle ones are passivated).");
    describe_counter!(
        "leadline_passivations_total",
        "Idle lead actors passivated (stopped; reactivated from their snapshot on demand)."
    );
    describe_counter!(
        "leadline_lead_actor_failures_total",
        "Lead actors that failed; each restarts from its snapshot on its next message."
    );
    describe_gauge!(
        "leadline_timers_scheduled",
        "Durable timers (deferred texts, follow-ups) waiting in the store, counted about once a minute."
    );
    describe_counter!(
        "leadline_timers_fired_total",
        "Timers this node fired (a deferred text or follow-up woke its lead); in cluster mode, only the partition's owner fires."
    );

    // The gateway (sending)
    describe_counter!(
        "leadline_sends_total",
        "Provider calls for texts, by provider and outcome (accepted, failed, in_doubt)."
    );
    describe_counter!(
        "leadline_send_retries_total",
        "Retryable provider errors that were retried, by provider error code."
    );
    describe_counter!(
        "leadline_provider_configuration_errors_total",
        "Texts refused because the sender or campaign is misconfigured at the provider (fix the setup)."
    );
    describe_counter!(
        "leadline_in_doubt_sends_total",
        "Texts found mid-send at start-up: maybe sent, not resent automatically, parked as dead letters."
    );
    describe_gauge!("leadline_dead_letters", "Dead letters waiting for an operator (retry or discard).");
    describe_gauge!(
        "leadline_cluster_gateway_leader",
        "Cluster mode: 1 while this node holds the gateway lease (it sends), else 0."
    );
    describe_counter!("leadline_cluster_lease_changes_total", "Cluster mode: times this node took the gateway lease.");
    describe_gauge!(
        "leadline_cluster_partitions_owned",
        "Cluster mode: partitions of the log this node owns (it fires their leads' timers)."
    );
    describe_counter!(
        "leadline_cluster_partition_moves_total",
        "Cluster mode: partitions this node took over (first assignment, a node joining, leaving or dying)."
    );
    describe_gauge!(
        "leadline_cluster_lag",
        "Cluster mode: log entries this node has not applied yet (the log's last sequence minus the applied one)."
    );
    describe_gauge!("leadline_cluster_applied_sequence", "Cluster mode: the last log sequence this node applied.");
    describe_counter!(
        "leadline_cluster_publish_failures_total",
        "Cluster mode: publications JetStream did not acknowledge (no quorum, NATS unreachable); the caller got a 503."
    );
    describe_counter!(
        "leadline_cluster_apply_failures_total",
        "Cluster mode: log entries this node skipped (undecodable, or failed after retries): investigate at once."
    );
    describe_counter!(
        "leadline_cluster_snapshots_total",
        "Cluster mode: snapshots of the replicated state this node took (log compaction)."
    );
    describe_counter!(
        "leadline_cluster_snapshot_restores_total",
        "Cluster mode: times this node loaded a snapshot at start-up (the log was compacted past its checkpoint)."
    );
    describe_gauge!("leadline_gateway_in_flight", "Texts the gateway is working on now (send tasks and backlog).");
    describe_gauge!("leadline_gateway_backlog", "Automated texts waiting for a free send task.");
    describe_gauge!(
        "leadline_gateway_daily_cap_reached",
        "1 while sends wait for the next UTC day because the daily cap is reached, else 0."
    );
    describe_histogram!(
        "leadline_gateway_wait_seconds",
        Unit::Seconds,
        "Time a text waited for its sending turn (daily cap, per-sender and account rate), by lane (priority, normal)."
    );

    // Receipts, integrations
    describe_counter!("leadline_receipts_total", "Twilio delivery receipts for known texts, by status.");
    describe_counter!(
        "leadline_receipts_unknown_total",
        "Twilio delivery receipts for a message id leadline does not know."
    );
    describe_counter!("leadline_mls_changes_total", "MLS listing changes received, by change and source (push, reso).");
    describe_counter!("leadline_fanout_leads_total", "Leads a listing change was delivered to, by change.");
    describe_counter!("leadline_fanout_failures_total", "Leads a listing change could not be delivered to.");
    describe_counter!("leadline_reso_polls_total", "RESO Web API polls.");
    describe_counter!("leadline_reso_errors_total", "RESO Web API polls that failed.");
    describe_counter!("leadline_reso_changes_total", "Listing changes found by the RESO poller, by change.");
    describe_counter!(
        "leadline_fub_events_total",
        "Follow Up Boss notifications applied, by event (peopleCreated, peopleUpdated, peopleStageUpdated, else `other`)."
    );
    describe_counter!("leadline_fub_failures_total", "Follow Up Boss notifications given up after their retries.");
    describe_gauge!(
        "leadline_handoff_pending",
        "Hand-off notifications not yet delivered to the hand-off webhook (counted up to 100)."
    );
    describe_counter!("leadline_handoff_delivered_total", "Hand-off notifications delivered.");
    describe_counter!("leadline_handoff_failures_total", "Hand-off webhook deliveries that failed (retried later).");
    describe_gauge!(
        "leadline_event_webhooks_queued",
        "Outbound event webhook deliveries waiting (all subscriptions), after the last delivery round."
    );
    describe_gauge!("leadline_event_webhooks_dead", "Outbound event webhook deliveries that exhausted their retries.");
    describe_counter!("leadline_event_webhooks_delivered_total", "Outbound events delivered (2xx), by type.");
    describe_counter!(
        "leadline_event_webhooks_failures_total",
        "Outbound event webhook attempts that failed (network error, timeout, non-2xx); retried or given up."
    );
    describe_counter!(
        "leadline_fub_writes_total",
        "Follow Up Boss write-back attempts by outcome: written, reconciled (found applied by a read), skipped, unlinked (no FUB person), failed (retried), dead."
    );
    describe_gauge!("leadline_fub_writes_queued", "Follow Up Boss writes waiting, after the last round.");
    describe_gauge!("leadline_fub_writes_dead", "Follow Up Boss writes given up (GET /v1/admin/fub/writes).");
    describe_counter!(
        "leadline_event_webhooks_dead_total",
        "Outbound event webhook deliveries given up after webhooks.delivery.max_attempts."
    );

    // Storage
    describe_histogram!(
        "leadline_flush_seconds",
        Unit::Seconds,
        "Duration of each database flush, successful or not (failed flushes = _count minus leadline_flushes_total)."
    );
    describe_counter!("leadline_flushes_total", "Database flushes that succeeded.");
    // Emitted by the group commit on main (storage work merged after this branch started).
    describe_histogram!("leadline_commit_jobs_per_write", "How many commits shared one database write (group commit).");
    describe_counter!("leadline_store_bytes_written_total", Unit::Bytes, "Bytes written to the database by commits.");
    describe_counter!(
        "leadline_flush_waits_total",
        "Writes that waited for a flush (group commit: several share one flush)."
    );
    describe_gauge!("leadline_store_size_bytes", Unit::Bytes, "Size of the database on disk, set on each scrape.");
    describe_gauge!("leadline_leads_stored", "Leads in the database, counted at most once a minute on a scrape.");

    // The service itself
    describe_gauge!(
        "leadline_ready",
        "1 when the service is ready (the store is readable, its latest flush did not fail, the lead supervisor answers), as /readyz; set on each scrape."
    );
    describe_gauge!("leadline_build_info", "Always 1; the labels name the running build (version).");
    metrics_process::Collector::default().describe();
}

/// Sets `leadline_build_info{version} 1`.
pub fn record_build_info() {
    metrics::gauge!("leadline_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

/// Reads this process's CPU time, memory, open files, threads and start time (`process_*`
/// families, from the metrics-process crate; on Linux from /proc/self). Called on each scrape.
pub fn record_process_metrics() {
    metrics_process::Collector::default().collect();
}
