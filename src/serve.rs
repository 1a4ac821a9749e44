//! The HTTP/1 accept loop under the axum router, in place of `axum::serve`, which has no
//! header read timeout and no connection limit:
//! - every connection must send a complete request head within `header_read_timeout`
//!   (counted from when it opens and again after each response, so it also bounds idle
//!   keep-alive); otherwise hyper closes it;
//! - at most `max_connections` connections are served at once. At the limit the loop stops
//!   calling `accept`: new connections wait in the kernel's listen backlog (their connect
//!   succeeds) and are accepted as soon as a connection closes. They hold no file descriptor
//!   of this process while they wait.
//!
//! Each request carries `ConnectInfo<SocketAddr>` (the peer address), as with
//! `into_make_service_with_connect_info`. Graceful shutdown behaves as `axum::serve`'s: the
//! stop signal closes the listener, idle connections close, in-flight requests finish, and
//! the returned future completes when the last connection has closed.

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

impl ServeLimits {
    pub fn from_settings(server: &crate::config::ServerSettings) -> ServeLimits {
        ServeLimits {
            header_read_timeout: Duration::from_millis(server.header_read_timeout_ms.max(1)),
            max_connections: server.max_connections.clamp(1, crate::config::MAX_CONNECTIONS_LIMIT),
        }
    }
}

/// Serves `app` on `listener` until `stop` completes, then shuts down gracefully.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    stop: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let max = limits.max_connections.clamp(1, crate::config::MAX_CONNECTIONS_LIMIT);
    // One permit per open connection; a connection's task holds its permit until it ends.
    let permits = Arc::new(Semaphore::new(max));
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut at_limit = false;
    tokio::pin!(stop);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                // The semaphore is never closed.
                Err(_) => break,
            },
            () = &mut stop => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    if !is_connection_error(&e) {
                        // Out of file descriptors or similar: wait instead of spinning.
                        tracing::error!(error = %e, "accept failed");
                        tokio::select! {
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                            () = &mut stop => break,
                        }
                    }
                    continue;
                }
            },
            () = &mut stop => break,
        };
        // Logged once each time the limit is reached, not for every waiting connection.
        if permits.available_permits() == 0 {
            if !at_limit {
                tracing::warn!(max_connections = max, "connection limit reached; new connections wait");
                at_limit = true;
            }
        } else {
            at_limit = false;
        }
        let service = TowerToHyperService::new(app.clone());
        let service = hyper::service::service_fn(move |mut req: axum::http::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            service.call(req)
        });
        let conn = builder.serve_connection(TokioIo::new(stream), service).with_upgrades();
        let mut shutdown = shutdown_rx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::trace!(error = %e, "connection ended with an error");
                    }
                    return;
                }
                _ = shutdown.wait_for(|stopping| *stopping) => {}
            }
            // Stop after the request in flight, if any; an idle connection closes now.
            conn.as_mut().graceful_shutdown();
            if let Err(e) = conn.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
        });
    }
    // Closing the listener refuses new connections (and drops those in the backlog).
    drop(listener);
    let _ = shutdown_tx.send(true);
    // Every permit back: every connection has ended.
    let _ = permits.acquire_many(u32::try_from(max).unwrap_or(u32::MAX)).await;
    Ok(())
}

/// Errors about one connection (it was reset before `accept` returned it), not the listener.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
