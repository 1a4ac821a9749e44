//! A fake Twilio: a real HTTP server speaking Twilio's Messages API wire format
//! (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form fields, HTTP Basic auth).
//! It records every request it receives and can be told to fail the next ones.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Received {
    pub account_sid: String,
    /// Decoded Basic auth `user:password`, if any.
    pub basic_auth: Option<(String, String)>,
    pub form: Vec<(String, String)>,
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
    pub fn body(&self) -> &str {
        self.field("Body").unwrap_or("")
    }
}

/// What the fake answers to one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A Twilio error: HTTP status, error code, message.
    Error(u16, u32, &'static str),
    /// Takes the message (records it) but answers only after this delay: the client times out.
    Slow(Duration),
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    script: VecDeque<Reply>,
    counter: u64,
}

#[derive(Clone)]
pub struct FakeTwilio {
    pub base_url: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeTwilio {
    pub async fn start() -> FakeTwilio {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app =
            Router::new().route("/2010-04-01/Accounts/{sid}/Messages.json", post(messages)).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeTwilio { base_url: format!("http://{addr}"), inner }
    }

    /// The next requests get these replies, in order; after that, success.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inner.lock().unwrap().script.extend(replies);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    pub fn received_for(&self, phone: &str) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.to() == phone).collect()
    }

    /// Waits (bounded) until at least `n` messages to `phone` arrived, then returns them all.
    pub async fn wait_for(&self, phone: &str, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.received_for(phone);
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Gives in-flight sends a moment, then returns what arrived (for asserting that nothing more came).
    pub async fn settle(&self, phone: &str) -> Vec<Received> {
        tokio::time::sleep(Duration::from_millis(400)).await;
        self.received_for(phone)
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
            None => None,
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
        (sid, delay)
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let field = |n: &str| form.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let body = serde_json::json!({
        "sid": sid, "status": "queued", "account_sid": account_sid,
        "to": field("To"), "from": field("From"), "body": field("Body"),
    });
    (StatusCode::CREATED, Json(body))
}
