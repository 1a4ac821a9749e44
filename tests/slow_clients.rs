//! Slow clients against the real binary (`server.header_read_timeout_ms`, `server.max_connections`):
//! - connections that never finish their request head are closed by the server after the
//!   header read timeout, and normal requests are served meanwhile;
//! - connections over the limit wait in the listen backlog without holding a file descriptor
//!   of the server, and are served once a slot frees.

mod support;

use std::time::{Duration, Instant};
use support::fake_twilio::FakeTwilio;
use support::server::{base_env, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start(fake: &FakeTwilio, extra: &[(&str, &str)]) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let mut env = base_env(&dir.path().join("data"), &fake.base_url);
    for (k, v) in extra {
        env.retain(|(key, _)| key != k);
        env.push((k.to_string(), v.to_string()));
    }
    let server = Server::start(dir.path(), &env).await;
    (dir, server)
}

/// Opens `n` connections that send half a request line and then nothing.
async fn open_slow(addr: &str, n: usize) -> Vec<TcpStream> {
    let mut socks = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /v1/admin/dead-letters HT").await.unwrap();
        socks.push(s);
    }
    socks
}

/// Reads until the server closes the connection (EOF or reset); `None` if still open at `deadline`.
async fn closed_by_server(mut s: TcpStream, deadline: Instant) -> Option<Instant> {
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(Instant::now()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

async fn healthz(base: &str) -> (u16, Duration) {
    let started = Instant::now();
    // A fresh client each time: no pooled connection from an earlier call.
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let status = http.get(format!("{base}/healthz")).send().await.map(|r| r.status().as_u16()).unwrap_or(0);
    (status, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_never_finish_their_headers_are_closed_after_the_timeout() {
    let fake = FakeTwilio::start().await;
    // 2 s, so that opening 300 connections on a loaded machine (~1 s seen in CI) ends well
    // before the first of them times out and the descriptor count below sees them open.
    let (_dir, server) = start(&fake, &[("LEADLINE__SERVER__HEADER_READ_TIMEOUT_MS", "2000")]).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let (_, fds_before) = server.rss_kb_and_fds();
    let opened = Instant::now();
    let slow = open_slow(&addr, 300).await;
    let open_took = opened.elapsed();
    let (_, fds_open) = server.rss_kb_and_fds();
    // While they are open, normal requests are served.
    let (status, took) = healthz(&server.base).await;
    assert_eq!(status, 200, "a normal request while 300 slow connections are open");
    let deadline = Instant::now() + Duration::from_secs(8);
    let closed = futures_join_all(slow.into_iter().map(|s| closed_by_server(s, deadline))).await;
    let still_open = closed.iter().filter(|c| c.is_none()).count();
    assert_eq!(still_open, 0, "connections still open 8 s after the 2 s header timeout");
    let last = closed.iter().flatten().max().map(|t| t.duration_since(opened)).unwrap_or_default();
    let first = closed.iter().flatten().min().map(|t| t.duration_since(opened)).unwrap_or_default();
    assert!(first >= Duration::from_millis(1600), "closed before the timeout: {first:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, fds_after) = server.rss_kb_and_fds();
    println!(
        "300 slow connections opened in {open_took:?}; /healthz meanwhile 200 in {took:?}; \
         closed by the server between {first:?} and {last:?} after opening; \
         server fds {fds_before} before, {fds_open} while open, {fds_after} after"
    );
    // All 300 are accepted (no limit in the way); on a loaded machine the first ones may
    // already have timed out when the count is taken.
    assert!(fds_open >= fds_before + 100, "the server did accept them: {fds_before} -> {fds_open}");
    assert!(fds_after <= fds_before + 5, "descriptors released: {fds_before} -> {fds_after}");
    assert!(server.terminate().await, "graceful shutdown still exits 0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_wait_without_holding_descriptors() {
    let fake = FakeTwilio::start().await;
    let (_dir, server) = start(
        &fake,
        &[("LEADLINE__SERVER__MAX_CONNECTIONS", "50"), ("LEADLINE__SERVER__HEADER_READ_TIMEOUT_MS", "3000")],
    )
    .await;
    let addr = server.base.trim_start_matches("http://").to_string();
    // Let the start-up health-check connections close (idle keep-alive ends with the timeout
    // too, but the client's pool drops them on its own when the test client is dropped).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, fds_before) = server.rss_kb_and_fds();
    let slow = open_slow(&addr, 200).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, fds_full) = server.rss_kb_and_fds();
    // A normal request now waits in the backlog behind the slow connections.
    let base = server.base.clone();
    let waiting = tokio::spawn(async move { healthz(&base).await });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!waiting.is_finished(), "all 50 slots are held: the request waits");
    // The slow clients give up: their slots free and the waiting request is served.
    let freed = Instant::now();
    drop(slow);
    let (status, took) = waiting.await.unwrap();
    let served_after = freed.elapsed();
    assert_eq!(status, 200);
    let (status_again, _) = healthz(&server.base).await;
    assert_eq!(status_again, 200);
    println!(
        "max_connections 50, 200 slow connections: server fds {fds_before} before, {fds_full} with the slots full; \
         a waiting /healthz answered 200 {served_after:?} after the slow clients closed ({took:?} in all)"
    );
    assert!(fds_full <= fds_before + 50 + 10, "fds grew past the limit: {fds_before} -> {fds_full}");
    assert!(fds_full >= fds_before + 40, "the limit's worth was accepted: {fds_before} -> {fds_full}");
    assert!(served_after < Duration::from_secs(3), "served {served_after:?} after slots freed");
    assert!(server.terminate().await, "graceful shutdown still exits 0");
}

/// Awaits every future concurrently (the test crate has no futures dependency).
async fn futures_join_all<F, T>(futs: impl IntoIterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
