//! The real binary: graceful shutdown on SIGTERM keeps what was acknowledged, and bad
//! configuration stops start-up with a message that names the key.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn leadline(data: &std::path::Path, port: u16) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leadline"));
    cmd.arg("serve")
        .env("LEADLINE__STORAGE__PATH", data)
        .env("LEADLINE__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("LEADLINE_ADMIN_TOKEN", "t0ken")
        .env("LEADLINE__LOG__FILTER", "warn")
        .current_dir(data.parent().unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

fn wait_ready(client: &reqwest::blocking::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if client.get(format!("{base}/readyz")).send().is_ok_and(|r| r.status() == 200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("service did not become ready at {base}");
}

#[test]
fn an_event_acknowledged_just_before_sigterm_is_there_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::blocking::Client::new();

    // Info logs of our own crate on stdout, to see the checkpoint after the stop.
    let mut first = leadline(&data, port);
    first.env("LEADLINE__LOG__FILTER", "warn,leadline=info").stdout(Stdio::piped());
    let mut child = first.spawn().unwrap();
    wait_ready(&client, &base);
    let lead = serde_json::json!({"source": "web", "phone": "+12125550901", "first_name": "Sig"});
    let res = client.post(format!("{base}/v1/events/leads")).json(&lead).send().unwrap();
    assert_eq!(res.status(), 202);

    let term = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(term.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "did not exit within the grace period");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "graceful shutdown exits 0");
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut logs).unwrap();
    // Every handle on the database was gone, so sled could write its start-up snapshot.
    assert!(logs.contains("storage checkpoint written"), "{logs}");

    let mut child = leadline(&data, port).spawn().unwrap();
    wait_ready(&client, &base);
    let res = client.get(format!("{base}/v1/admin/leads/%2B12125550901")).bearer_auth("t0ken").send().unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().unwrap();
    assert_eq!(body["first_name"], "Sig");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_bad_config_value_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_leadline"))
        .args(["serve"])
        .env("LEADLINE__STORAGE__PATH", dir.path().join("data"))
        .env("LEADLINE__SERVER__MAX_BODY_BYTES", "lots")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.to_lowercase().contains("server.max_body_bytes"), "{stderr}");
}
