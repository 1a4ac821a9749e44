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

/// Every directory under `root` (and `root`) is 0700 and every file 0600: no access for group
/// or others. Returns the files seen.
#[cfg(unix)]
fn assert_private_tree(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let mut files = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o700, "directory {} is {mode:04o}", dir.display());
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                todo.push(path);
            } else {
                let mode = meta.permissions().mode() & 0o7777;
                assert_eq!(mode, 0o600, "file {} is {mode:04o}", path.display());
                files.push(path);
            }
        }
    }
    files
}

/// Runs `cmd` with umask 000, as a careless service manager might: without leadline's own
/// umask every file it creates would be world-readable.
#[cfg(unix)]
fn with_open_umask(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: umask(2) is async-signal-safe and allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0);
            Ok(())
        })
    }
}

#[cfg(unix)]
#[test]
fn the_data_directory_database_and_dry_run_record_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // An existing directory that anyone may read: leadline tightens it and says so.
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Texting allowed around the clock, so the dry-run provider records the first text
    // whatever time the test runs.
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[compliance.quiet_hours]\nfederal = { start = \"00:00\", end = \"23:59:59\" }\ninherit_builtin_states = false\n",
    )
    .unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::blocking::Client::new();
    let mut cmd = leadline(&data, port);
    cmd.args(["--config", config.to_str().unwrap()]).stdout(Stdio::piped());
    let mut child = with_open_umask(&mut cmd).spawn().unwrap();
    wait_ready(&client, &base);
    let lead = serde_json::json!({
        "source": "zillow", "phone": "+12125550931", "first_name": "Ana",
        "consent": {"granted_at": chrono::Utc::now().to_rfc3339(), "source_url": "https://agent.example.com/l/1",
                    "disclosure": "I agree to receive automated texts from Acme Realty.", "ip": "203.0.113.9"}
    });
    let res = client.post(format!("{base}/v1/events/leads")).json(&lead).send().unwrap();
    assert_eq!(res.status(), 202);
    let record = data.join("dry-run-messages.jsonl");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !std::fs::read_to_string(&record).is_ok_and(|r| r.contains("+12125550931")) {
        assert!(Instant::now() < deadline, "the dry-run provider recorded no text");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Stopped gracefully, so sled's start-up snapshot is written too.
    let term = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(term.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut logs).unwrap();
    assert!(logs.contains("was mode 0755") && logs.contains("changed it to 0700"), "{logs}");

    let files = assert_private_tree(&data);
    let names: Vec<String> =
        files.iter().map(|f| f.strip_prefix(&data).unwrap().to_string_lossy().into_owned()).collect();
    for expected in ["db", "conf", "dry-run-messages.jsonl"] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
    assert!(names.iter().any(|n| n.starts_with("snap.")), "sled's snapshot missing from {names:?}");

    // An offline command that creates the database: the new directory is private as well.
    let offline = dir.path().join("offline").join("data");
    let list = dir.path().join("dnc.csv");
    std::fs::write(&list, "2125550932,asked to stop\n").unwrap();
    let out = with_open_umask(
        Command::new(env!("CARGO_BIN_EXE_leadline"))
            .args(["suppress", "import", list.to_str().unwrap()])
            .env("LEADLINE__STORAGE__PATH", &offline)
            .current_dir(dir.path()),
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!assert_private_tree(&offline).is_empty());
}

/// `leadline operators …` (offline, the bootstrap path): add with a password from stdin,
/// issue a token that the service then accepts, list, refuse a bad role, revoke.
#[test]
fn operators_are_managed_offline_and_their_tokens_work() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str], stdin: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_leadline"))
            .args(args)
            .env("LEADLINE__STORAGE__PATH", &data)
            .current_dir(dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) =
        run(&["operators", "add", "ana.ruiz", "--role", "agent", "--password-stdin"], "a long passphrase\n");
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, _, err) = run(&["operators", "add", "bob", "--role", "boss"], "");
    assert_eq!(code, Some(2), "a bad role is a usage error: {err}");
    assert!(err.contains("unknown role"));
    let (code, token, _) = run(&["operators", "token", "ana.ruiz"], "");
    assert_eq!(code, Some(0));
    let token = token.trim().to_string();
    assert!(token.starts_with("llop_"), "{token}");
    let (_, list, _) = run(&["operators", "list"], "");
    assert!(list.contains("ana.ruiz\tagent\tpassword=yes\ttokens=1"), "{list}");

    // What the service would check: the token names the agent.
    {
        let store = leadline_core::storage::Store::open(&data).unwrap();
        let who = leadline::app::operators::bearer(&store, None, &token).unwrap().expect("the token is known");
        assert_eq!((who.name.as_str(), who.role), ("ana.ruiz", leadline_core::operators::Role::Agent));
    }
    let (code, _, _) = run(&["operators", "revoke", "ana.ruiz"], "");
    assert_eq!(code, Some(0));
    let store = leadline_core::storage::Store::open(&data).unwrap();
    assert!(leadline::app::operators::bearer(&store, None, &token).unwrap().is_none(), "revoked");
}
