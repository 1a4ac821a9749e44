//! A fake Twilio for every suite (the in-process API tests and the process-level crash,
//! faults and security suites): a real HTTP server speaking Twilio's Messages API wire format
//! (`POST /2010-04-01/Accounts/{sid}/Messages.json`, form fields, HTTP Basic auth). It records
//! every request at the moment it arrives (Twilio "took" it), can be scripted with errors and
//! slow replies, can answer each request after a random delay (so a kill often lands while a
//! send is in flight), and can hang every request.

#![allow(dead_code)] // each suite uses a different part

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Received {
    pub account_sid: String,
    /// Decoded Basic auth `user:password`, if any.
    pub basic_auth: Option<(String, String)>,
    pub form: Vec<(String, String)>,
    /// When the request arrived.
    pub at: Instant,
    pub sid: String,
}

impl Received {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    pub fn to(&self) -> &str {
        self.field("To").unwrap_or("")
    }
    pub fn from(&self) -> &str {
        self.field("From").unwrap_or("")
    }
    pub fn body(&self) -> &str {
        self.field("Body").unwrap_or("")
    }
}

/// What the fake answers to one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A Twilio error: HTTP status, error code, message (the message is not recorded as taken).
    Error(u16, u32, &'static str),
    /// Takes the message (records it) but answers only after this delay (a client with a
    /// shorter timeout gives up: the outcome is unknown to it).
    Slow(Duration),
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    script: VecDeque<Reply>,
    counter: u64,
    /// Every successful reply waits a random time in `0..=jitter_ms`.
    jitter_ms: u64,
    /// Every request (after the script) hangs this long.
    hang: Option<Duration>,
    seed: u64,
    /// Keep at most this many records (the oldest are dropped); 0 = all.
    max_records: usize,
}

#[derive(Clone)]
pub struct FakeTwilio {
    pub base_url: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeTwilio {
    pub async fn start() -> FakeTwilio {
        let inner = Arc::new(Mutex::new(Inner { seed: 0x2545_F491_4F6C_DD1D, ..Inner::default() }));
        let app =
            Router::new().route("/2010-04-01/Accounts/{sid}/Messages.json", post(messages)).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeTwilio { base_url: format!("http://{addr}"), inner }
    }

    /// Successful replies come after a random delay of up to `ms` milliseconds.
    pub fn set_jitter_ms(&self, ms: u64) {
        self.inner.lock().unwrap().jitter_ms = ms;
    }

    /// Keep only the newest `n` records (long soak runs); 0 = keep all.
    pub fn set_max_records(&self, n: usize) {
        self.inner.lock().unwrap().max_records = n;
    }

    /// How many messages were taken in all (including records no longer kept).
    pub fn total(&self) -> u64 {
        self.inner.lock().unwrap().counter
    }

    /// Every request hangs this long before it is answered (None: answer normally).
    pub fn set_hang(&self, hang: Option<Duration>) {
        self.inner.lock().unwrap().hang = hang;
    }

    /// The next requests get these replies, in order; after that, success.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inner.lock().unwrap().script.extend(replies);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// The SID of the newest message taken, without copying the records (the soak asks for
    /// it on every delivery receipt; `received().last()` copied up to 40,000 records each time).
    pub fn last_sid(&self) -> Option<String> {
        self.inner.lock().unwrap().received.last().map(|r| r.sid.clone())
    }

    pub fn received_for(&self, phone: &str) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.to() == phone).collect()
    }

    /// How many times each (To, Body) pair arrived.
    pub fn counts(&self) -> HashMap<(String, String), usize> {
        let mut out = HashMap::new();
        for r in self.received() {
            *out.entry((r.to().to_string(), r.body().to_string())).or_insert(0) += 1;
        }
        out
    }

    /// Waits (at most 10 s) until at least `n` messages to `phone` arrived, then returns them all.
    pub async fn wait_for(&self, phone: &str, n: usize) -> Vec<Received> {
        self.wait_for_within(phone, n, Duration::from_secs(10)).await
    }

    /// Gives in-flight sends a moment, then returns what arrived (for asserting that nothing more came).
    pub async fn settle(&self, phone: &str) -> Vec<Received> {
        tokio::time::sleep(Duration::from_millis(400)).await;
        self.received_for(phone)
    }

    /// Waits (bounded) until at least `n` messages to `phone` arrived, then returns them all.
    pub async fn wait_for_within(&self, phone: &str, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received_for(phone);
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn messages(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(account_sid): Path<String>,
    headers: HeaderMap,
    body: String,
) -> impl IntoResponse {
    let basic_auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_string(), p.to_string())));
    let form: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let field = |n: &str| form.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()).unwrap_or_default();
    let (sid, delay) = {
        let mut inner = inner.lock().unwrap();
        let delay = match inner.script.pop_front() {
            Some(Reply::Error(status, code, message)) => {
                let status = StatusCode::from_u16(status).unwrap();
                let more_info = format!("https://www.twilio.com/docs/errors/{code}");
                let body = serde_json::json!({"code": code, "message": message, "more_info": more_info, "status": status.as_u16()});
                return (status, Json(body));
            }
            Some(Reply::Slow(d)) => Some(d),
            None => match inner.hang {
                Some(h) => Some(h),
                None if inner.jitter_ms > 0 => {
                    // xorshift: no extra dependency for a little randomness.
                    let mut x = inner.seed;
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    inner.seed = x;
                    Some(Duration::from_millis(x % (inner.jitter_ms + 1)))
                }
                None => None,
            },
        };
        inner.counter += 1;
        let sid = format!("SM{:032x}", inner.counter);
        let received = Received {
            account_sid: account_sid.clone(),
            basic_auth,
            form: form.clone(),
            at: Instant::now(),
            sid: sid.clone(),
        };
        inner.received.push(received);
        if inner.max_records > 0 && inner.received.len() > inner.max_records * 2 {
            let excess = inner.received.len() - inner.max_records;
            inner.received.drain(..excess);
        }
        (sid, delay)
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let body = serde_json::json!({
        "sid": sid, "status": "queued", "account_sid": account_sid,
        "to": field("To"), "from": field("From"), "body": field("Body"),
    });
    (StatusCode::CREATED, Json(body))
}
