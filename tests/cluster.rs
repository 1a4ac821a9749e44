//! Cluster mode against real servers: a three-server NATS JetStream cluster (R3) and three
//! `leadline` nodes as child processes, all on loopback, with 8 partitions and a 2 s lease.
//!
//! Under a steady load of lead captures and STOPs sent to any node (a refused or timed-out
//! request is retried on another node with the same identity, as Twilio and lead sources
//! retry), the test kills the gateway lease holder with SIGKILL, pauses the next holder with
//! SIGSTOP past its lease and resumes it, and kills one NATS server. Then, read through every
//! node:
//! - every acknowledged capture is a lead, every acknowledged STOP left its lead OPT_OUT;
//! - the fake Twilio never received the same message twice;
//! - after a STOP's acknowledgement its lead got nothing but the opt-out confirmation (a
//!   text already handed to the provider, arriving within a second, is allowed);
//! - cluster-wide sends never exceed `account_mps` in any one-second window.
//!
//! Needs `nats-server` (Debian package `nats-server`, 2.9): skipped with a note when it is
//! missing, a failure when `CI` is set (`.ci/run` installs it).

mod support;

use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::fake_twilio::FakeTwilio;
use support::server::{base_env, free_port, lead_body, phones, Server};

const ACCOUNT_MPS: usize = 10;
const LEASE_MS: u64 = 2000;
const PARTITIONS: &str = "8";
const OPT_OUT_CONFIRMATION: &str = "you are unsubscribed";

fn nats_server() -> Option<PathBuf> {
    let found =
        std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join("nats-server")).find(|p| p.is_file());
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI is set but nats-server is not installed (.ci/run installs it)");
        eprintln!("nats-server not installed (apt-get install nats-server): cluster test skipped");
    }
    found
}

/// One NATS server of a three-server JetStream cluster.
struct Nats {
    child: std::process::Child,
    port: u16,
    /// Its config file and log, to start it again on the same store.
    conf: PathBuf,
    log: PathBuf,
}

impl Nats {
    fn spawn(bin: &Path, conf: &Path, log: &Path) -> std::process::Child {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        std::process::Command::new(bin).arg("-c").arg(conf).stdout(Stdio::null()).stderr(log).spawn().unwrap()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_nats(bin: &Path, dir: &Path) -> Vec<Nats> {
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let routes: Vec<String> = ports.iter().map(|(_, c)| format!("\"nats://127.0.0.1:{c}\"")).collect();
    ports
        .iter()
        .enumerate()
        .map(|(i, (port, cluster_port))| {
            let store = dir.join(format!("nats-{i}"));
            let conf = dir.join(format!("nats-{i}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "server_name: n{i}\nlisten: 127.0.0.1:{port}\njetstream {{ store_dir: \"{}\" }}\n\
                     cluster {{ name: leadline-test, listen: 127.0.0.1:{cluster_port}, routes: [{}] }}\n",
                    store.display(),
                    routes.join(", ")
                ),
            )
            .unwrap();
            let log = dir.join(format!("nats-{i}.log"));
            let child = Nats::spawn(bin, &conf, &log);
            Nats { child, port: *port, conf, log }
        })
        .collect()
}

fn node_env(data: &Path, twilio: &str, id: usize, nats: &[Nats]) -> Vec<(String, String)> {
    let mut env = base_env(data, twilio);
    env.retain(|(k, _)| !k.contains("ACCOUNT_MPS") && !k.contains("SENDER_MPS"));
    let urls: Vec<String> = nats.iter().map(|n| format!("nats://127.0.0.1:{}", n.port)).collect();
    let kv = |k: &str, v: &str| (k.to_string(), v.to_string());
    env.extend([
        kv("LEADLINE__GATEWAY__LIMITS__ACCOUNT_MPS", &ACCOUNT_MPS.to_string()),
        kv("LEADLINE__GATEWAY__LIMITS__SENDER_MPS", &ACCOUNT_MPS.to_string()),
        kv("LEADLINE__CLUSTER__ENABLED", "true"),
        kv("LEADLINE__CLUSTER__NATS_URL", &urls.join(",")),
        kv("LEADLINE__CLUSTER__NODE_ID", &format!("node-{id}")),
        kv("LEADLINE__CLUSTER__PARTITIONS", PARTITIONS),
        kv("LEADLINE__CLUSTER__REPLICAS", "3"),
        kv("LEADLINE__CLUSTER__LEASE_MS", &LEASE_MS.to_string()),
        kv("LEADLINE__SERVER__EVENT_TIMEOUT_MS", "5000"),
        kv("LEADLINE__LOG__FILTER", "warn,leadline::cluster=info"),
    ]);
    env
}

/// The node's base URLs as the load sees them (a restarted node has a new port).
type Bases = Arc<Mutex<Vec<Option<String>>>>;

/// Sends until some node acknowledges (2xx), trying the nodes in turn; the time of the ack.
async fn deliver<F, Fut>(bases: &Bases, first: usize, send: F) -> Instant
where
    F: Fn(support::server::Client) -> Fut,
    Fut: std::future::Future<Output = reqwest::Result<reqwest::Response>>,
{
    let deadline = Instant::now() + Duration::from_secs(120);
    for attempt in first.. {
        let base = bases.lock().unwrap().get(attempt % 3).cloned().flatten();
        if let Some(base) = base {
            let client = support::server::Client::new(&base);
            if let Ok(Ok(res)) = tokio::time::timeout(Duration::from_secs(3), send(client)).await {
                if res.status().is_success() {
                    return Instant::now();
                }
            }
        }
        assert!(Instant::now() < deadline, "no node acknowledged an event within 120 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unreachable!()
}

/// The node (index) whose `/metrics` says it holds the gateway lease.
async fn leader(bases: &Bases) -> Option<usize> {
    let list = bases.lock().unwrap().clone();
    for (i, base) in list.iter().enumerate() {
        let Some(base) = base else { continue };
        let Ok(Ok(res)) = tokio::time::timeout(Duration::from_secs(1), reqwest::get(format!("{base}/metrics"))).await
        else {
            continue;
        };
        let text = res.text().await.unwrap_or_default();
        if text.lines().any(|l| l.starts_with("leadline_cluster_gateway_leader") && l.ends_with(" 1")) {
            return Some(i);
        }
    }
    None
}

/// Waits until some node other than `not` holds the lease; the time it took.
async fn failover(bases: &Bases, not: usize, since: Instant) -> Duration {
    loop {
        if let Some(l) = leader(bases).await.filter(|l| *l != not) {
            let _ = l;
            return since.elapsed();
        }
        assert!(since.elapsed() < Duration::from_secs(60), "no new gateway lease holder within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts the NATS cluster and three nodes; their servers and the NATS processes.
async fn cluster(dir: &Path, nats_bin: &Path, twilio: &FakeTwilio) -> (Vec<Nats>, Vec<Server>) {
    let nats = start_nats(nats_bin, dir);
    let mut nodes = Vec::new();
    for i in 0..3 {
        let (data, work) = (dir.join(format!("node-{i}")), dir.join(format!("work-{i}")));
        std::fs::create_dir_all(&work).unwrap();
        nodes.push(Server::start(&work, &node_env(&data, &twilio.base_url, i, &nats)).await);
    }
    (nats, nodes)
}

async fn admin_post(node: &Server, path: &str, body: Value) -> reqwest::StatusCode {
    let http = reqwest::Client::new();
    let url = format!("{}{path}", node.base);
    let res = http.post(url).bearer_auth(support::server::ADMIN_TOKEN).json(&body).send().await.unwrap();
    res.status()
}

/// The article's scenario, each step through another node: a lead arrives with consent and
/// gets its first text, an agent freezes and unfreezes it, a price drop on its listing sends
/// an alert, it replies STOP and gets the one confirmation; every node shows the same lead.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_article_scenario_runs_through_any_node() {
    let Some(nats_bin) = nats_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let twilio = FakeTwilio::start().await;
    let (nats, nodes) = cluster(dir.path(), &nats_bin, &twilio).await;
    let phone = "+12125550188";
    let path = format!("/v1/admin/leads/{}", support::server::urlencode(phone));

    let res =
        nodes[0].client.post_event("/v1/events/leads", &lead_body(phone, "ART-1", "MLS-ART", "Ana")).await.unwrap();
    assert!(res.status().is_success(), "capture: {}", res.status());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "CONTACTED_SMS", "the first text is decided by the node that took the event: {body}");
    let first = twilio.wait_for_within(phone, 1, Duration::from_secs(20)).await;
    assert_eq!(first.len(), 1, "one first text, sent by the lease holder");

    assert_eq!(
        admin_post(&nodes[1], &format!("{path}/freeze"), serde_json::json!({"reason": "agent call"})).await,
        200
    );
    let frozen = nodes[2].client.lead(phone).await.unwrap();
    assert_eq!(frozen["frozen"], true, "node 2 sees node 1's freeze: {frozen}");
    assert_eq!(admin_post(&nodes[2], &format!("{path}/unfreeze"), Value::Null).await, 200);

    let drop = serde_json::json!({"listing_id": "MLS-ART", "change": "price_drop", "address": "MLS-ART Main St",
                                  "old_price": 500000, "new_price": 450000});
    let res = nodes[0].client.post_event("/v1/events/mls", &drop).await.unwrap();
    assert!(res.status().is_success(), "price drop: {}", res.status());
    let texts = twilio.wait_for_within(phone, 2, Duration::from_secs(20)).await;
    assert_eq!(
        texts.len(),
        2,
        "the price-drop alert went out: {:?}",
        texts.iter().map(|t| t.body()).collect::<Vec<_>>()
    );
    assert!(texts[1].body().contains("450"), "alert names the new price: {}", texts[1].body());

    assert!(nodes[1]
        .client
        .inbound(phone, "STOP", "SMART000000000000000000000000001")
        .await
        .unwrap()
        .status()
        .is_success());
    let texts = twilio.wait_for_within(phone, 3, Duration::from_secs(20)).await;
    assert_eq!(texts.len(), 3);
    assert!(texts[2].body().contains(OPT_OUT_CONFIRMATION), "the one confirmation: {}", texts[2].body());
    for node in &nodes {
        let lead = node.client.lead(phone).await.unwrap();
        assert_eq!(lead["status"], "OPT_OUT", "{}: {lead}", node.base);
    }
    // A later price drop, through yet another node, texts nobody.
    let again =
        serde_json::json!({"listing_id": "MLS-ART", "change": "price_drop", "old_price": 450000, "new_price": 400000});
    assert!(nodes[2].client.post_event("/v1/events/mls", &again).await.unwrap().status().is_success());
    assert_eq!(twilio.settle(phone).await.len(), 3, "nothing after the STOP");

    // A suppression added through one node is on every node's list (a shared write).
    let other = "+12125550189";
    let put = reqwest::Client::new()
        .put(format!("{}/v1/admin/suppressions/{}", nodes[2].base, support::server::urlencode(other)))
        .bearer_auth(support::server::ADMIN_TOKEN)
        .json(&serde_json::json!({"list": "litigator"}))
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "suppress: {}", put.status());
    for node in &nodes {
        let entry =
            node.client.admin_json(&format!("/v1/admin/suppressions/{}", support::server::urlencode(other))).await;
        assert_eq!(entry.map(|e| e["list"].clone()), Some(Value::from("litigator")), "{}", node.base);
    }

    let status = std::process::Command::new(env!("CARGO_BIN_EXE_leadline"))
        .args(["cluster", "status"])
        .env_clear()
        .env("LEADLINE__CLUSTER__NATS_URL", format!("nats://127.0.0.1:{}", nats[1].port))
        .output()
        .unwrap();
    let status: Value =
        serde_json::from_slice(&status.stdout).unwrap_or_else(|e| panic!("cluster status: {e} {status:?}"));
    assert_eq!(status["partitions"], 8);
    assert_eq!(status["nodes"].as_array().map(Vec::len), Some(3), "{status}");
    assert!(status["gateway_lease"].as_str().is_some_and(|n| n.starts_with("node-")), "{status}");

    for node in nodes {
        node.terminate().await;
    }
    for mut n in nats {
        let _ = n.child.kill();
        let _ = n.child.wait();
    }
}

/// `leadline cluster import`: a single node's leads, timelines and suppressions move into a
/// new cluster, and a node starting on an empty data directory serves them; a second import
/// into the now non-empty log is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_node_database_moves_into_a_new_cluster() {
    let Some(nats_bin) = nats_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let twilio = FakeTwilio::start().await;
    let (single_data, work) = (dir.path().join("single"), dir.path().join("work"));
    std::fs::create_dir_all(&work).unwrap();
    let phone = "+13125550177";
    let single = Server::start(&work, &base_env(&single_data, &twilio.base_url)).await;
    let res = single.client.post_event("/v1/events/leads", &lead_body(phone, "IMP-1", "MLS-IMP", "Ana")).await.unwrap();
    assert!(res.status().is_success());
    assert_eq!(twilio.wait_for_within(phone, 1, Duration::from_secs(20)).await.len(), 1);
    let http = reqwest::Client::new();
    let suppressed = http
        .put(format!("{}/v1/admin/suppressions/{}", single.base, support::server::urlencode("+14155550199")))
        .bearer_auth(support::server::ADMIN_TOKEN)
        .json(&serde_json::json!({"list": "litigator"}))
        .send()
        .await
        .unwrap();
    assert!(suppressed.status().is_success(), "suppress: {}", suppressed.status());
    let timeline_before = single.client.timeline(phone).await;
    assert!(single.terminate().await);

    let nats = start_nats(&nats_bin, dir.path());
    let urls: Vec<String> = nats.iter().map(|n| format!("nats://127.0.0.1:{}", n.port)).collect();
    let import = |data: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_leadline"))
            .args(["cluster", "import"])
            .env_clear()
            .env("LEADLINE__STORAGE__PATH", data)
            .env("LEADLINE__CLUSTER__NATS_URL", urls.join(","))
            .env("LEADLINE__CLUSTER__PARTITIONS", PARTITIONS)
            .env("LEADLINE__CLUSTER__REPLICAS", "3")
            .output()
            .unwrap()
    };
    let out = import(&single_data);
    assert!(out.status.success(), "import: {}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["records"].as_u64().unwrap() > 5, "{report}");
    let again = import(&single_data);
    assert!(!again.status.success(), "a second import into a non-empty log is refused");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already has"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    let node_work = dir.path().join("node-work");
    std::fs::create_dir_all(&node_work).unwrap();
    let node = Server::start(&node_work, &node_env(&dir.path().join("node-0"), &twilio.base_url, 0, &nats)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while node.client.lead(phone).await.is_none() {
        assert!(Instant::now() < deadline, "the imported lead never appeared");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(node.client.timeline(phone).await, timeline_before, "the timeline moved as it was");
    let entry =
        node.client.admin_json(&format!("/v1/admin/suppressions/{}", support::server::urlencode("+14155550199"))).await;
    assert_eq!(entry.map(|e| e["list"].clone()), Some(Value::from("litigator")));
    // The imported lead's STOP, through the cluster: opted out, one confirmation, no resend of the first text.
    assert!(node
        .client
        .inbound(phone, "STOP", "SMIMP00000000000000000000000000001")
        .await
        .unwrap()
        .status()
        .is_success());
    let texts = twilio.wait_for_within(phone, 2, Duration::from_secs(20)).await;
    assert_eq!(texts.len(), 2, "{:?}", texts.iter().map(|t| t.body()).collect::<Vec<_>>());
    assert!(texts[1].body().contains(OPT_OUT_CONFIRMATION));
    node.terminate().await;
    for mut n in nats {
        let _ = n.child.kill();
        let _ = n.child.wait();
    }
}

/// Two of three NATS servers down: JetStream has no quorum, so nothing can be acknowledged.
/// Events get 503 (nothing acknowledged that is not replicated) and `/readyz` turns 503
/// `no_quorum`; once the servers are back, events are taken again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_nats_quorum_events_are_refused_and_readiness_fails_until_it_returns() {
    let Some(nats_bin) = nats_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let twilio = FakeTwilio::start().await;
    let mut nats = start_nats(&nats_bin, dir.path());
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let node = Server::start(&work, &node_env(&dir.path().join("node-0"), &twilio.base_url, 0, &nats)).await;
    let capture = |n: usize| lead_body(&format!("+1212555{:04}", 300 + n), &format!("QU-{n}"), "MLS-QU", "Ana");
    let res = node.client.post_event("/v1/events/leads", &capture(0)).await.unwrap();
    assert!(res.status().is_success(), "with a quorum: {}", res.status());

    nats[1].kill();
    nats[2].kill();
    let started = Instant::now();
    let refused =
        tokio::time::timeout(Duration::from_secs(30), node.client.post_event("/v1/events/leads", &capture(1)))
            .await
            .expect("an answer within 30 s")
            .unwrap();
    assert_eq!(refused.status(), 503, "no quorum: {:?}", refused.text().await);
    let readiness = loop {
        let res = reqwest::get(format!("{}/readyz", node.base)).await.unwrap();
        if res.status() == 503 {
            break res.json::<Value>().await.unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "/readyz still 200 without a quorum");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(readiness["cluster"], "no_quorum", "{readiness}");
    println!("readiness failed {} ms after the quorum was lost", started.elapsed().as_millis());

    for n in &mut nats[1..] {
        n.child = Nats::spawn(&nats_bin, &n.conf, &n.log);
    }
    let back = Instant::now();
    loop {
        let res = reqwest::get(format!("{}/readyz", node.base)).await.unwrap();
        if res.status() == 200 {
            break;
        }
        assert!(back.elapsed() < Duration::from_secs(90), "/readyz not 200 after the servers returned");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // A sender retries a 503; the log's stream may elect its leader a moment after readiness.
    let retry_until = Instant::now() + Duration::from_secs(15);
    let res = loop {
        let res = node.client.post_event("/v1/events/leads", &capture(1)).await.unwrap();
        if res.status().is_success() || Instant::now() > retry_until {
            break res;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(res.status().is_success(), "quorum back: {}", res.status());
    // Acknowledged may be `202 queued` (in the log, applied a moment later).
    let applied_by = Instant::now() + Duration::from_secs(15);
    while node.client.lead("+12125550301").await.is_none() {
        assert!(Instant::now() < applied_by, "the acknowledged lead was never applied");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("ready again {} ms after the servers returned", back.elapsed().as_millis());
    node.terminate().await;
    for mut n in nats {
        n.kill();
    }
}

/// The daily cap holds across a failover: the count is kept by applying the log on every
/// node, so the next lease holder does not start again from zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_cap_holds_across_a_failover() {
    let Some(nats_bin) = nats_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let twilio = FakeTwilio::start().await;
    let nats = start_nats(&nats_bin, dir.path());
    let mut nodes = Vec::new();
    for i in 0..2 {
        let work = dir.path().join(format!("work-{i}"));
        std::fs::create_dir_all(&work).unwrap();
        let mut env = node_env(&dir.path().join(format!("node-{i}")), &twilio.base_url, i, &nats);
        env.push(("LEADLINE__GATEWAY__LIMITS__DAILY_CAP".into(), "2".into()));
        nodes.push(Some(Server::start(&work, &env).await));
    }
    let bases: Bases = Arc::new(Mutex::new(nodes.iter().map(|n| n.as_ref().map(|s| s.base.clone())).collect()));
    let leader_at = Instant::now();
    let first = loop {
        if let Some(l) = leader(&bases).await {
            break l;
        }
        assert!(leader_at.elapsed() < Duration::from_secs(30), "no lease holder");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let other = 1 - first;
    let numbers: Vec<String> = (0..4).map(|i| format!("+1312555{:04}", 400 + i)).collect();
    for (i, phone) in numbers.iter().enumerate() {
        let client = &nodes[other].as_ref().unwrap().client;
        let res = client.post_event("/v1/events/leads", &lead_body(phone, &format!("CAP-{i}"), "MLS-CAP", "Ana")).await;
        assert!(res.unwrap().status().is_success());
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while twilio.received().len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(twilio.received().len(), 2, "the cap of 2 held on the first holder");

    nodes[first].take().unwrap().kill9().await;
    bases.lock().unwrap()[first] = None;
    failover(&bases, first, Instant::now()).await;
    // The new holder has the same two texts waiting; it must count today's two sends.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(twilio.received().len(), 2, "the new lease holder kept the cap");
    for node in nodes.into_iter().flatten() {
        node.terminate().await;
    }
    for mut n in nats {
        n.kill();
    }
}

#[derive(Default)]
struct Acks {
    captured: Vec<String>,
    stopped: HashMap<String, Instant>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_survive_a_kill_a_pause_and_a_lost_nats_server() {
    let Some(nats_bin) = nats_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let twilio = FakeTwilio::start().await;
    let mut nats = start_nats(&nats_bin, dir.path());
    let data: Vec<PathBuf> = (0..3).map(|i| dir.path().join(format!("node-{i}"))).collect();
    let work: Vec<PathBuf> = (0..3).map(|i| dir.path().join(format!("work-{i}"))).collect();
    for w in &work {
        std::fs::create_dir_all(w).unwrap();
    }
    let mut nodes: Vec<Option<Server>> = Vec::new();
    for i in 0..3 {
        nodes.push(Some(Server::start(&work[i], &node_env(&data[i], &twilio.base_url, i, &nats)).await));
    }
    let bases: Bases = Arc::new(Mutex::new(nodes.iter().map(|n| n.as_ref().map(|s| s.base.clone())).collect()));
    let first_leader = {
        let started = Instant::now();
        loop {
            if let Some(l) = leader(&bases).await {
                break l;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "no node took the gateway lease");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };

    // The load: captures to all three nodes in turn; every third lead then sends STOP.
    let acks = Arc::new(Mutex::new(Acks::default()));
    let numbers = phones(&["212", "312", "415", "206"], 90, 0);
    let load = {
        let (bases, acks) = (bases.clone(), acks.clone());
        tokio::spawn(async move {
            let mut tasks = tokio::task::JoinSet::new();
            for (i, phone) in numbers.into_iter().enumerate() {
                let (bases, acks) = (bases.clone(), acks.clone());
                tasks.spawn(async move {
                    let body = lead_body(&phone, &format!("CL-{i}"), "MLS-CL", "Ana");
                    deliver(&bases, i, |c| {
                        let body = body.clone();
                        async move { c.post_event("/v1/events/leads", &body).await }
                    })
                    .await;
                    acks.lock().unwrap().captured.push(phone.clone());
                    if i % 3 == 0 {
                        let sid = format!("SMCL{i:030}");
                        let at = deliver(&bases, i + 1, |c| {
                            let (phone, sid) = (phone.clone(), sid.clone());
                            async move { c.inbound(&phone, "STOP", &sid).await }
                        })
                        .await;
                        acks.lock().unwrap().stopped.insert(phone, at);
                    }
                });
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            while tasks.join_next().await.is_some() {}
        })
    };

    // 1. SIGKILL the lease holder; restart it on its data directory.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let killed_at = Instant::now();
    nodes[first_leader].take().unwrap().kill9().await;
    bases.lock().unwrap()[first_leader] = None;
    let took = failover(&bases, first_leader, killed_at).await;
    println!("failover after SIGKILL of the lease holder: {} ms", took.as_millis());
    let restarted =
        Server::start(&work[first_leader], &node_env(&data[first_leader], &twilio.base_url, first_leader, &nats)).await;
    bases.lock().unwrap()[first_leader] = Some(restarted.base.clone());
    nodes[first_leader] = Some(restarted);

    // 2. SIGSTOP the new holder past its lease, then resume it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let paused = leader(&bases).await.expect("a lease holder");
    let pid = nodes[paused].as_ref().unwrap().pid;
    let paused_at = Instant::now();
    assert!(std::process::Command::new("kill").args(["-STOP", &pid.to_string()]).status().unwrap().success());
    let saved = bases.lock().unwrap()[paused].take();
    let took = failover(&bases, paused, paused_at).await;
    println!("failover after SIGSTOP of the lease holder: {} ms", took.as_millis());
    tokio::time::sleep(Duration::from_millis(LEASE_MS)).await;
    assert!(std::process::Command::new("kill").args(["-CONT", &pid.to_string()]).status().unwrap().success());
    bases.lock().unwrap()[paused] = saved;

    // 3. Kill one NATS server (R3 keeps a quorum of two).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut lost = nats.remove(0);
    let _ = lost.child.kill();
    let _ = lost.child.wait();
    println!("NATS server n0 killed");

    load.await.unwrap();
    let acks = std::mem::take(&mut *acks.lock().unwrap());
    println!("acknowledged: {} captures, {} STOPs", acks.captured.len(), acks.stopped.len());

    // Settle: every node has every acknowledged fact.
    let list: Vec<String> = bases.lock().unwrap().iter().flatten().cloned().collect();
    assert_eq!(list.len(), 3);
    let deadline = Instant::now() + Duration::from_secs(60);
    for base in &list {
        let client = support::server::Client::new(base);
        for phone in &acks.captured {
            loop {
                let lead: Option<Value> = client.lead(phone).await;
                let want_stop = acks.stopped.contains_key(phone);
                let ok = lead.as_ref().is_some_and(|l| !want_stop || l["status"] == "OPT_OUT");
                if ok {
                    break;
                }
                if Instant::now() > deadline {
                    for node in nodes.iter().flatten() {
                        let metrics = reqwest::get(format!("{}/metrics", node.base)).await.ok();
                        let metrics = match metrics {
                            Some(r) => r.text().await.unwrap_or_default(),
                            None => String::new(),
                        };
                        let cluster: Vec<&str> =
                            metrics.lines().filter(|l| l.starts_with("leadline_cluster")).collect();
                        eprintln!("== {} {cluster:?}\n{}", node.base, support::server::tail(&node.stderr(), 3000));
                    }
                    panic!("{base}: {phone} not reflected: {lead:?}");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    // The restarted and the resumed node got their shares of the partitions back.
    spread_over(&nats[0], &["node-0", "node-1", "node-2"]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let received = twilio.received();

    // No text twice.
    let mut seen = HashSet::new();
    for r in &received {
        assert!(seen.insert((r.to().to_string(), r.body().to_string())), "sent twice: {} {:?}", r.to(), r.body());
    }
    // Nothing after an acknowledged STOP but its confirmation (1 s grace for a call in flight).
    for r in &received {
        if let Some(stop_at) = acks.stopped.get(r.to()) {
            let late = r.at > *stop_at + Duration::from_secs(1);
            assert!(
                !late || r.body().contains(OPT_OUT_CONFIRMATION),
                "{} got {:?} after its STOP was acknowledged",
                r.to(),
                r.body()
            );
        }
    }
    // Cluster-wide pacing (50 ms allowance for loopback jitter, as in tests/api/gateway.rs).
    let mut times: Vec<Instant> = received.iter().map(|r| r.at).collect();
    times.sort();
    let window = Duration::from_secs(1) - Duration::from_millis(50);
    let busiest = (0..times.len())
        .map(|i| times[i..].iter().filter(|t| t.duration_since(times[i]) < window).count())
        .max()
        .unwrap_or(0);
    println!("texts sent: {}; busiest second: {busiest} (account_mps = {ACCOUNT_MPS})", received.len());
    assert!(busiest <= ACCOUNT_MPS, "account_mps exceeded across the cluster: {busiest} in one second");
    let first_contacts = received.iter().filter(|r| !r.body().contains(OPT_OUT_CONFIRMATION)).count();
    assert!(first_contacts > 0 && received.len() > acks.stopped.len() / 2, "the cluster sent too little");

    for node in nodes.into_iter().flatten() {
        node.terminate().await;
    }
    for mut n in nats {
        let _ = n.child.kill();
        let _ = n.child.wait();
    }
}

/// One NATS server with JetStream (replicas = 1), for tests that need no NATS failover.
fn start_one_nats(bin: &Path, dir: &Path) -> Nats {
    start_one_nats_on(bin, dir, free_port())
}

fn start_one_nats_on(bin: &Path, dir: &Path, port: u16) -> Nats {
    let conf = dir.join("nats-single.conf");
    let store = dir.join("nats-single");
    std::fs::write(&conf, format!("listen: 127.0.0.1:{port}\njetstream {{ store_dir: \"{}\" }}\n", store.display()))
        .unwrap();
    let log = dir.join("nats-single.log");
    let child = Nats::spawn(bin, &conf, &log);
    Nats { child, port, conf, log }
}

/// A node's environment on the one-server NATS (`replicas = 1`), `extra` settings on top.
fn single_env(dir: &Path, twilio: &FakeTwilio, nats: &Nats, i: usize, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = node_env(&dir.join(format!("node-{i}")), &twilio.base_url, i, std::slice::from_ref(nats));
    let extra: Vec<(&str, &str)> =
        [("LEADLINE__CLUSTER__REPLICAS", "1")].into_iter().chain(extra.iter().copied()).collect();
    env.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

/// Node `i`'s working directory (its logs), created.
fn work_dir(dir: &Path, i: usize) -> PathBuf {
    let work = dir.join(format!("work-{i}"));
    std::fs::create_dir_all(&work).unwrap();
    work
}

/// `leadline cluster status`, retried for up to 30 s (a NATS cluster that just lost a server
/// may time out a request while it elects new leaders).
fn cluster_status(nats: &Nats) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_leadline"))
            .args(["cluster", "status"])
            .env_clear()
            .env("LEADLINE__CLUSTER__NATS_URL", format!("nats://127.0.0.1:{}", nats.port))
            .output()
            .unwrap();
        match serde_json::from_slice(&out.stdout) {
            Ok(status) => return status,
            Err(e) if Instant::now() > deadline => panic!("cluster status: {e} {out:?}"),
            Err(e) => eprintln!("cluster status failed ({e}); retrying: {}", String::from_utf8_lossy(&out.stderr)),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Waits until the log was compacted past `above` (its first entry is a later snapshot's marker).
async fn compacted_past(nats: &Nats, above: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = cluster_status(nats);
        if status["first_sequence"].as_u64().is_some_and(|f| f > above) {
            return status;
        }
        assert!(Instant::now() < deadline, "the log was not compacted within 60 s: {status}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Log compaction: once the log grew by `snapshot_every` entries, the lease holder snapshots
/// its replica and the older entries are purged. A node starting on an empty data directory,
/// and one that was down through a compaction, load the snapshot and then serve every lead as
/// the others do; a lead that said STOP before the snapshot gets nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compacted_log_starts_new_and_returning_nodes_from_its_snapshot() {
    let Some(nats_bin) = nats_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let twilio = FakeTwilio::start().await;
    let nats = start_one_nats(&nats_bin, dir.path());
    let env = |i: usize| single_env(dir.path(), &twilio, &nats, i, &[("LEADLINE__CLUSTER__SNAPSHOT_EVERY", "40")]);
    let work = |i: usize| work_dir(dir.path(), i);
    let a = Server::start(&work(0), &env(0)).await;
    let b = Server::start(&work(1), &env(1)).await;

    // Leads captured (each: its event and its text's outbox records), one of them opted out.
    let first = phones(&["312", "415", "646"], 12, 300);
    for (i, phone) in first.iter().enumerate() {
        let node = if i % 2 == 0 { &a } else { &b };
        let body = lead_body(phone, &format!("CMP-{i}"), "MLS-CMP", "Ana");
        assert!(node.client.post_event("/v1/events/leads", &body).await.unwrap().status().is_success());
    }
    for phone in &first {
        assert_eq!(twilio.wait_for_within(phone, 1, Duration::from_secs(30)).await.len(), 1, "{phone}");
    }
    let stopped = &first[0];
    assert!(b
        .client
        .inbound(stopped, "STOP", "SMCMP00000000000000000000000000001")
        .await
        .unwrap()
        .status()
        .is_success());
    assert_eq!(twilio.wait_for_within(stopped, 2, Duration::from_secs(30)).await.len(), 2);

    let status = compacted_past(&nats, 1).await;
    assert!(status["snapshot"]["records"].as_u64().unwrap() > 12, "{status}");
    let purged_at = status["first_sequence"].as_u64().unwrap();

    // A new node on an empty data directory: from the snapshot, then the log's rest.
    let c = Server::start(&work(2), &env(2)).await;
    wait_ready(&c).await;
    for phone in &first {
        same_timeline(&c, &a, phone).await;
    }
    assert_eq!(c.client.lead(stopped).await.unwrap()["status"], "OPT_OUT");
    assert_eq!(restores(&c).await, 1, "the new node started from the snapshot");

    // Node b stops; more leads compact the log again; b returns on its stale replica.
    assert!(b.terminate().await);
    let second = phones(&["312", "415", "646"], 12, 400);
    for (i, phone) in second.iter().enumerate() {
        let body = lead_body(phone, &format!("CMP2-{i}"), "MLS-CMP", "Ana");
        assert!(c.client.post_event("/v1/events/leads", &body).await.unwrap().status().is_success());
    }
    for phone in &second {
        assert_eq!(twilio.wait_for_within(phone, 1, Duration::from_secs(30)).await.len(), 1, "{phone}");
    }
    compacted_past(&nats, purged_at).await;
    // The older snapshot goes right after the log's purge.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = cluster_status(&nats);
        if status["snapshot_messages"] == status["snapshot"]["chunks"] {
            break;
        }
        assert!(Instant::now() < deadline, "the older snapshot was not purged: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let b = Server::start(&work(1), &env(1)).await;
    wait_ready(&b).await;
    assert_eq!(restores(&b).await, 1, "the returning node's replica was behind the log's start");
    for phone in first.iter().chain(&second) {
        same_timeline(&b, &a, phone).await;
    }

    // The opted-out lead's new inquiry, through the restored node: no text.
    let again = lead_body(stopped, "CMP-AGAIN", "MLS-CMP2", "Ana");
    assert!(b.client.post_event("/v1/events/leads", &again).await.unwrap().status().is_success());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(twilio.received_for(stopped).len(), 2, "nothing after the STOP's confirmation");
    for phone in first.iter().chain(&second).skip(1) {
        assert_eq!(twilio.received_for(phone).len(), 1, "{phone}: no text sent twice");
    }
    for i in 0..3 {
        let staged: Vec<_> = std::fs::read_dir(dir.path().join(format!("node-{i}")))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().to_string()))
            .filter(|n| n.starts_with("cluster-snapshot-"))
            .collect();
        assert!(staged.is_empty(), "a snapshot's staging file stayed behind: {staged:?}");
    }
    for node in [a, b, c] {
        node.terminate().await;
    }
    let mut nats = nats;
    nats.kill();
}

/// The lead's timeline reads the same through both nodes (within 15 s: replicas apply the
/// log at their own pace).
async fn same_timeline(x: &Server, y: &Server, phone: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (tx, ty) = (x.client.timeline(phone).await, y.client.timeline(phone).await);
        if !tx.is_empty() && tx == ty {
            return;
        }
        assert!(Instant::now() < deadline, "{phone}: {} shows {tx:?}, {} shows {ty:?}", x.base, y.base);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How many snapshots the node loaded (its `/metrics`).
async fn restores(node: &Server) -> u64 {
    metric(node, "leadline_cluster_snapshot_restores_total").await as u64
}

async fn wait_ready(node: &Server) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut said = String::new();
        if let Ok(res) = reqwest::get(format!("{}/readyz", node.base)).await {
            if res.status().is_success() {
                return;
            }
            said = res.text().await.unwrap_or_default();
        }
        assert!(Instant::now() < deadline, "{} not ready within 60 s: {said}", node.base);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs `leadline <args>` on a stopped node's data directory with the cluster's settings.
fn offline(data: &Path, nats: &Nats, args: &[&str], extra: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_leadline"));
    cmd.args(args)
        .env_clear()
        .env("LEADLINE__STORAGE__PATH", data)
        .env("LEADLINE__CLUSTER__ENABLED", "true")
        .env("LEADLINE__CLUSTER__NATS_URL", format!("nats://127.0.0.1:{}", nats.port))
        .env("LEADLINE__CLUSTER__PARTITIONS", PARTITIONS)
        .env("LEADLINE__CLUSTER__REPLICAS", "1");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// The offline commands run on a stopped node change the whole cluster, not that node's
/// replica: a suppression import, an operator and its token, and a rescan's opt-out all reach
/// the running node (which may be the one that sends).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_commands_on_a_stopped_node_reach_every_node() {
    let Some(nats_bin) = nats_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let twilio = FakeTwilio::start().await;
    let nats = start_one_nats(&nats_bin, dir.path());
    let env = |i: usize| single_env(dir.path(), &twilio, &nats, i, &[]);
    let work = |i: usize| work_dir(dir.path(), i);
    let a = Server::start(&work(0), &env(0)).await;
    let b = Server::start(&work(1), &env(1)).await;
    wait_ready(&b).await;
    let lead = "+13125550301";
    assert!(a
        .client
        .post_event("/v1/events/leads", &lead_body(lead, "OFF-1", "MLS-OFF", "Ana"))
        .await
        .unwrap()
        .status()
        .is_success());
    assert_eq!(twilio.wait_for_within(lead, 1, Duration::from_secs(30)).await.len(), 1);
    // Not a revocation for the running nodes' classifier: handed to a person.
    assert!(a
        .client
        .inbound(lead, "bananas forever", "SMOFF0000000000000000000000000001")
        .await
        .unwrap()
        .status()
        .is_success());
    same_timeline(&b, &a, lead).await;
    assert!(b.terminate().await);

    let data = dir.path().join("node-1");
    let csv = dir.path().join("dnc.csv");
    let blocked = "+13125550302";
    std::fs::write(&csv, format!("phone,reason\n{blocked},asked by phone\n")).unwrap();
    let out = offline(&data, &nats, &["suppress", "import", csv.to_str().unwrap(), "--list", "litigator"], &[]);
    assert!(out.status.success(), "suppress import: {}", String::from_utf8_lossy(&out.stderr));
    let out = offline(&data, &nats, &["operators", "add", "vera", "--role", "viewer"], &[]);
    assert!(out.status.success(), "operators add: {}", String::from_utf8_lossy(&out.stderr));
    let out = offline(&data, &nats, &["operators", "token", "vera"], &[]);
    assert!(out.status.success(), "operators token: {}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let newer = [("LEADLINE__CLASSIFIER__EXTRA_OPT_OUT_PHRASES", r#"["bananas forever"]"#)];
    let out = offline(&data, &nats, &["compliance", "rescan"], &newer);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && printed.contains("1 lead(s) opted out"), "rescan: {printed} {out:?}");

    // The running node has all three.
    let http = reqwest::Client::new();
    let url = format!("{}/v1/admin/leads/{}", a.base, support::server::urlencode(lead));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let res = http.get(&url).bearer_auth(&token).send().await.unwrap();
        if res.status().is_success() {
            let shown: Value = res.json().await.unwrap();
            if shown["status"] == "OPT_OUT" {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the operator's token or the rescan's opt-out never reached the running node"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let entry = a.client.admin_json(&format!("/v1/admin/suppressions/{}", support::server::urlencode(blocked))).await;
    assert_eq!(entry.map(|e| e["list"].clone()), Some(Value::from("litigator")));
    assert!(a
        .client
        .post_event("/v1/events/leads", &lead_body(blocked, "OFF-2", "MLS-OFF", "Bo"))
        .await
        .unwrap()
        .status()
        .is_success());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(twilio.received_for(blocked).is_empty(), "a number suppressed offline got a text");
    assert_eq!(twilio.received_for(lead).len(), 1, "the rescan's opt-out sends no confirmation");

    // The stopped node, back, applies its own commands from the log like everyone else.
    let b = Server::start(&work(1), &env(1)).await;
    wait_ready(&b).await;
    same_timeline(&b, &a, lead).await;
    assert_eq!(b.client.lead(lead).await.unwrap()["status"], "OPT_OUT");
    for node in [a, b] {
        node.terminate().await;
    }
    let mut nats = nats;
    nats.kill();
}

/// A node started before its NATS server (one compose file, a reboot) waits for it instead
/// of exiting, then serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_started_before_nats_waits_for_it() {
    let Some(nats_bin) = nats_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let twilio = FakeTwilio::start().await;
    let port = free_port();
    let later = {
        let (bin, dir) = (nats_bin.clone(), dir.path().to_path_buf());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(3));
            start_one_nats_on(&bin, &dir, port)
        })
    };
    let mut env = base_env(&dir.path().join("node-0"), &twilio.base_url);
    let kv = |k: &str, v: &str| (k.to_string(), v.to_string());
    env.extend([
        kv("LEADLINE__CLUSTER__ENABLED", "true"),
        kv("LEADLINE__CLUSTER__NATS_URL", &format!("nats://127.0.0.1:{port}")),
        kv("LEADLINE__CLUSTER__PARTITIONS", PARTITIONS),
    ]);
    let started = Instant::now();
    let node = Server::start(&work_dir(dir.path(), 0), &env).await;
    assert!(started.elapsed() >= Duration::from_secs(2), "it waited for NATS");
    let mut nats = later.join().unwrap();
    wait_ready(&node).await;
    let phone = "+13125550401";
    let res = node.client.post_event("/v1/events/leads", &lead_body(phone, "LATE-1", "MLS-LATE", "Ana")).await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(twilio.wait_for_within(phone, 1, Duration::from_secs(30)).await.len(), 1);
    node.terminate().await;
    nats.kill();
}

/// Compaction under load: leads keep arriving while snapshots are taken and the log is
/// purged, and a node joins in the middle from a snapshot. Afterwards every node shows every
/// lead the same, and no text went out twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_taken_under_load_lose_nothing() {
    let Some(nats_bin) = nats_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let twilio = FakeTwilio::start().await;
    let nats = start_one_nats(&nats_bin, dir.path());
    let env = |i: usize| single_env(dir.path(), &twilio, &nats, i, &[("LEADLINE__CLUSTER__SNAPSHOT_EVERY", "60")]);
    let work = |i: usize| work_dir(dir.path(), i);
    let a = Server::start(&work(0), &env(0)).await;
    let b = Server::start(&work(1), &env(1)).await;
    let all = phones(&["312", "415", "646"], 90, 700);
    let load = {
        let (a, b, all) = (a.client.clone(), b.client.clone(), all.clone());
        tokio::spawn(async move {
            for (i, phone) in all.iter().enumerate() {
                let node = if i % 2 == 0 { &a } else { &b };
                let body = lead_body(phone, &format!("LOAD-{i}"), "MLS-LOAD", "Ana");
                let res = node.post_event("/v1/events/leads", &body).await.unwrap();
                assert!(res.status().is_success(), "{phone}: {}", res.status());
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
        })
    };
    // A new node joins once the log was compacted, while the load goes on.
    compacted_past(&nats, 1).await;
    let c = Server::start(&work(2), &env(2)).await;
    load.await.unwrap();
    wait_ready(&c).await;
    for phone in &all {
        assert_eq!(twilio.wait_for_within(phone, 1, Duration::from_secs(30)).await.len(), 1, "{phone}");
    }
    for phone in &all {
        same_timeline(&c, &a, phone).await;
        same_timeline(&b, &a, phone).await;
    }
    let status = cluster_status(&nats);
    assert!(status["snapshot"]["as_of"].as_u64().unwrap() > 1, "{status}");
    assert_eq!(restores(&c).await, 1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    for phone in &all {
        assert_eq!(twilio.received_for(phone).len(), 1, "{phone}: one first text, never two");
    }
    for node in [a, b, c] {
        node.terminate().await;
    }
    let mut nats = nats;
    nats.kill();
}

/// The priority lane holds in a cluster: with first texts queued behind the account's pace
/// (5 a second), an opt-out confirmation taken through any node goes out ahead of them, not
/// at the back of the queue (the time it took is printed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opt_out_confirmation_jumps_the_cluster_queue() {
    let Some(nats_bin) = nats_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let twilio = FakeTwilio::start().await;
    let nats = start_one_nats(&nats_bin, dir.path());
    let pace = [("LEADLINE__GATEWAY__LIMITS__ACCOUNT_MPS", "5"), ("LEADLINE__GATEWAY__LIMITS__SENDER_MPS", "5")];
    let env = |i: usize| single_env(dir.path(), &twilio, &nats, i, &pace);
    let work = |i: usize| work_dir(dir.path(), i);
    let a = Server::start(&work(0), &env(0)).await;
    let b = Server::start(&work(1), &env(1)).await;
    wait_ready(&b).await;
    let all = phones(&["312", "415", "646"], 40, 800);
    let captures = all.iter().enumerate().map(|(i, phone)| {
        let client = if i % 2 == 0 { a.client.clone() } else { b.client.clone() };
        let body = lead_body(phone, &format!("PRI-{i}"), "MLS-PRI", "Ana");
        async move { client.post_event("/v1/events/leads", &body).await.unwrap().status() }
    });
    for status in futures_util::future::join_all(captures).await {
        assert!(status.is_success(), "{status}");
    }
    // The first lead that got its text says STOP while the rest still wait their turn.
    let deadline = Instant::now() + Duration::from_secs(30);
    let stopper = loop {
        if let Some(first) = twilio.received().first() {
            break first.to().to_string();
        }
        assert!(Instant::now() < deadline, "no text went out");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let sid = "SMPRI0000000000000000000000000001";
    assert!(b.client.inbound(&stopper, "STOP", sid).await.unwrap().status().is_success());
    let stop_acked = Instant::now();
    let confirmation = twilio.wait_for_within(&stopper, 2, Duration::from_secs(30)).await;
    assert_eq!(confirmation.len(), 2);
    assert!(confirmation[1].body().contains(OPT_OUT_CONFIRMATION), "{}", confirmation[1].body());
    let waited = confirmation[1].at.saturating_duration_since(stop_acked);
    for phone in all.iter().filter(|p| **p != stopper) {
        assert_eq!(twilio.wait_for_within(phone, 1, Duration::from_secs(60)).await.len(), 1, "{phone}");
    }
    let received = twilio.received();
    let position = received.iter().position(|r| r.body().contains(OPT_OUT_CONFIRMATION)).unwrap();
    let behind = received[position + 1..].len();
    eprintln!("the confirmation went out {waited:?} after the STOP's ack, ahead of {behind} queued first texts");
    // Queued last, it would have gone out last (none behind it); the pace left most of the
    // first texts still waiting when the STOP came.
    assert!(behind >= 5, "the confirmation waited in line: {behind} texts after it, {waited:?}");
    for node in [a, b] {
        node.terminate().await;
    }
    let mut nats = nats;
    nats.kill();
}

/// `leadline cluster status`'s partition owners, by node id (only nodes that own some).
fn owners(nats: &Nats) -> (HashMap<String, Vec<u32>>, Vec<u32>) {
    let status = cluster_status(nats);
    let mut owned = HashMap::new();
    for node in status["nodes"].as_array().into_iter().flatten() {
        let parts: Vec<u32> =
            node["partitions"].as_array().into_iter().flatten().filter_map(|p| p.as_u64()).map(|p| p as u32).collect();
        if !parts.is_empty() {
            owned.insert(node["node"].as_str().unwrap_or_default().to_string(), parts);
        }
    }
    let unowned =
        status["unowned_partitions"].as_array().into_iter().flatten().filter_map(|p| p.as_u64()).map(|p| p as u32);
    (owned, unowned.collect())
}

/// Waits until the partitions are spread over exactly `nodes` (all owned, shares within
/// one); the assignment.
async fn spread_over(nats: &Nats, nodes: &[&str]) -> HashMap<String, Vec<u32>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (owned, unowned) = owners(nats);
        let mut holders: Vec<&str> = owned.keys().map(String::as_str).collect();
        holders.sort();
        let sizes: Vec<usize> = owned.values().map(Vec::len).collect();
        let even = sizes.iter().max().unwrap_or(&0) - sizes.iter().min().unwrap_or(&0) <= 1;
        if unowned.is_empty() && holders == nodes && even {
            let total: usize = sizes.iter().sum();
            assert_eq!(total.to_string(), PARTITIONS, "a partition with two owners: {owned:?}");
            return owned;
        }
        assert!(
            Instant::now() < deadline,
            "partitions not spread over {nodes:?} within 60 s: {owned:?} unowned {unowned:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Partition owners: the log's partitions spread evenly over the live nodes and move when a
/// node dies (SIGKILL) or stops. An owner fires its partitions' timers: leads deferred by
/// quiet hours, some in the partitions of a node killed before the window opens, each get
/// their first text exactly once when it opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_move_off_a_dead_node_and_its_timers_still_fire() {
    use chrono::Timelike;
    let Some(nats_bin) = nats_server() else { return };
    // Quiet hours end (for New York numbers) 30 s from now, within today.
    let opens = chrono::Utc::now().with_timezone(&chrono_tz::America::New_York) + chrono::Duration::seconds(30);
    if opens.hour() == 23 && opens.minute() >= 58 || opens.hour() == 0 && opens.minute() < 1 {
        eprintln!("skipped: too close to midnight in New York for a same-day quiet-hours window");
        return;
    }
    let start = opens.format("%H:%M:%S").to_string();
    let quiet = [
        ("LEADLINE__COMPLIANCE__QUIET_HOURS__FEDERAL__START", start.as_str()),
        ("LEADLINE__COMPLIANCE__QUIET_HOURS__FEDERAL__END", "23:59:59"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let twilio = FakeTwilio::start().await;
    let nats = start_one_nats(&nats_bin, dir.path());
    let mut nodes: Vec<Option<Server>> = Vec::new();
    for i in 0..3 {
        nodes.push(Some(
            Server::start(&work_dir(dir.path(), i), &single_env(dir.path(), &twilio, &nats, i, &quiet)).await,
        ));
    }
    let before = spread_over(&nats, &["node-0", "node-1", "node-2"]).await;
    // Each node's `/readyz` says what it owns (once it read the assignment, within a tick).
    for (i, node) in nodes.iter().flatten().enumerate() {
        let mine = before.get(&format!("node-{i}")).map_or(0, Vec::len) as u64;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ready: Value = reqwest::get(format!("{}/readyz", node.base)).await.unwrap().json().await.unwrap();
            if ready["partitions_owned"].as_u64() == Some(mine) {
                break;
            }
            assert!(Instant::now() < deadline, "node-{i} owns {mine} partitions: {ready}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // Leads in every partition, captured through node-0 during quiet hours: deferred.
    let partitions: u32 = PARTITIONS.parse().unwrap();
    let leads = phones(&["212", "646", "917"], 24, 900);
    for (i, phone) in leads.iter().enumerate() {
        let body = lead_body(phone, &format!("PO-{i}"), "MLS-PO", "Ana");
        let res = nodes[0].as_ref().unwrap().client.post_event("/v1/events/leads", &body).await.unwrap();
        assert!(res.status().is_success(), "{}", res.status());
    }
    assert!(twilio.received().is_empty(), "a text went out during quiet hours");

    // SIGKILL node-2 (partitions of its own, timers due in them).
    let victim = "node-2";
    let theirs: Vec<&String> = leads
        .iter()
        .filter(|p| {
            let phone = leadline_core::Phone::parse(p).unwrap();
            before[victim].contains(&leadline::cluster::log::partition(&phone, partitions))
        })
        .collect();
    assert!(!theirs.is_empty(), "no test lead in {victim}'s partitions {:?}", before[victim]);
    let killed_at = Instant::now();
    nodes[2].take().unwrap().kill9().await;
    let after = spread_over(&nats, &["node-0", "node-1"]).await;
    println!("partitions moved off the killed node after {} ms", killed_at.elapsed().as_millis());
    for node in ["node-0", "node-1"] {
        let kept = before[node].iter().filter(|p| after[node].contains(p)).count();
        assert_eq!(kept, before[node].len(), "{node} lost a partition though it lives: {before:?} -> {after:?}");
    }

    // The window opens: every lead, the killed owner's too, gets its first text once.
    for phone in &leads {
        let got = twilio.wait_for_within(phone, 1, Duration::from_secs(120)).await;
        assert_eq!(got.len(), 1, "{phone}: {got:?}");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for phone in &leads {
        assert_eq!(twilio.received_for(phone).len(), 1, "{phone} texted twice");
    }
    println!(
        "{} deferred leads texted once each, {} of them in the killed node's partitions",
        leads.len(),
        theirs.len()
    );
    // Each timer was fired by one node, its partition's owner, not by every node.
    let mut fired = 0.0;
    for node in nodes.iter().flatten() {
        fired += metric(node, "leadline_timers_fired_total").await;
    }
    assert_eq!(fired as usize, leads.len(), "timers fired by the two live nodes together");

    // A graceful stop hands its partitions over at once (its last heartbeat says so).
    let stopped_at = Instant::now();
    nodes[1].take().unwrap().terminate().await;
    spread_over(&nats, &["node-0"]).await;
    println!("partitions moved off the stopped node after {} ms", stopped_at.elapsed().as_millis());

    for node in nodes.into_iter().flatten() {
        node.terminate().await;
    }
    let mut nats = nats;
    nats.kill();
}

/// A metric's value on a node (0 when absent).
async fn metric(node: &Server, name: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", node.base)).await.unwrap().text().await.unwrap();
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// A heartbeat silent for a day (a node id that will not come back, e.g. a container's host
/// name) is dropped, so the ids every node reads on each tick do not pile up; a recent one
/// stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heartbeat_silent_for_a_day_is_forgotten() {
    use leadline::cluster::{lease, Cluster};
    let Some(nats_bin) = nats_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let nats = start_one_nats(&nats_bin, dir.path());
    let settings = leadline::config::ClusterSettings {
        enabled: true,
        nats_url: format!("nats://127.0.0.1:{}", nats.port),
        node_id: "probe".into(),
        partitions: PARTITIONS.parse().unwrap(),
        replicas: 1,
        lease_ms: LEASE_MS,
        snapshot_every: 0,
    };
    let clock = Arc::new(leadline_core::clock::SystemClock);
    let cluster = Cluster::connect(&settings, 0, clock, Duration::from_secs(10)).await.unwrap();
    for node in ["ghost", "recent"] {
        cluster.kv.put(format!("node.{node}"), "applied=0 lag=0 leader=false".into()).await.unwrap();
    }
    let ids = |beats: Vec<lease::Heartbeat>| beats.into_iter().map(|b| b.node).collect::<Vec<_>>();
    assert_eq!(ids(lease::heartbeats(&cluster.kv).await.unwrap()), ["ghost", "recent"]);
    let now = chrono::Utc::now().timestamp();
    assert!(!lease::forgotten(&cluster, "recent", now - 60).await, "a minute-old heartbeat is kept");
    assert!(lease::forgotten(&cluster, "ghost", now - 25 * 60 * 60).await);
    assert_eq!(ids(lease::heartbeats(&cluster.kv).await.unwrap()), ["recent"]);
    let mut nats = nats;
    nats.kill();
}
