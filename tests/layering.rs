//! The dependency rule of the service crate (ARCHITECTURE.md, "Layers"), checked on the
//! source:
//!
//! - `http`, `cli`, `simulate` and `integrations` use `app`; `app` uses the core crate;
//! - nothing outside `src/http/` imports `http`, except the composition root
//!   (`src/startup.rs`, which mounts the router);
//! - `app` imports none of the shell (`http`, `integrations`, `cli`, `simulate`, `startup`,
//!   `background`, `serve`);
//! - no import circle spans more than one folder (or top-level file) of `src/`;
//! - the serde attributes bincode cannot encode (`flatten`, `tag`, `untagged`,
//!   `skip_serializing_if`) appear only in files whose types never reach the codec
//!   ([`WIRE_ONLY`]: JSON replies, wire and vendor payloads, configuration).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The folder or top-level file of `src/` a file belongs to: `src/http/api/admin.rs` ->
/// `http`, `src/cli.rs` -> `cli`, `src/bin/x.rs` -> `bin`.
fn unit_of(file: &Path) -> String {
    let rel = file.strip_prefix(root().join("src")).unwrap();
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().to_string();
    first.trim_end_matches(".rs").to_string()
}

/// The code of a file without comments (line comments and doc comments), so a comment that
/// mentions `crate::http` is not an import.
fn code_of(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident_at(s: &str) -> String {
    s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// The top-level modules of this crate a file's code refers to (`crate::x`, `leadline::x`,
/// including `use crate::{a::B, c}`).
fn referenced_units(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for prefix in ["crate::", "leadline::"] {
        let mut rest = code;
        while let Some(i) = rest.find(prefix) {
            // `leadline_core::` is the core crate, not this one.
            let before = rest[..i].chars().last();
            rest = &rest[i + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                let mut depth = 0;
                let mut item_start = true;
                for (j, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => item_start = true,
                        c if item_start && !c.is_whitespace() => {
                            item_start = false;
                            let id = ident_at(&group[j..]);
                            if !id.is_empty() && id != "self" {
                                out.insert(id);
                            }
                        }
                        _ => {}
                    }
                }
            } else {
                let id = ident_at(rest);
                if !id.is_empty() {
                    out.insert(id);
                }
            }
        }
    }
    out
}

/// Folder-level imports: unit -> the units it imports.
type Graph = BTreeMap<String, BTreeSet<String>>;
/// Per file: its unit, its path, the units it imports.
type FileImports = Vec<(String, PathBuf, BTreeSet<String>)>;

/// The folder-level graph, and each file's imports (for messages).
fn import_graph() -> (Graph, FileImports) {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = Vec::new();
    for file in rust_files(&root().join("src")) {
        let unit = unit_of(&file);
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        let refs: BTreeSet<String> = referenced_units(&code).into_iter().filter(|r| *r != unit).collect();
        graph.entry(unit.clone()).or_default().extend(refs.iter().cloned());
        files.push((unit, file, refs));
    }
    (graph, files)
}

#[test]
fn the_scanner_reads_imports() {
    let code = "use crate::{app::App, http::{self, x}};\nuse leadline_core::model;\nlet y = crate::config::load();\n// crate::cli in a comment\nleadline::startup::run();";
    let refs = referenced_units(&code_of(code));
    assert_eq!(refs, ["app", "config", "http", "startup"].iter().map(|s| s.to_string()).collect());
}

#[test]
fn nothing_outside_http_imports_http() {
    let (_, files) = import_graph();
    let offenders: Vec<String> = files
        .iter()
        .filter(|(unit, file, refs)| unit != "http" && refs.contains("http") && !file.ends_with("src/startup.rs"))
        .map(|(_, file, _)| file.display().to_string())
        .collect();
    assert!(offenders.is_empty(), "these files import crate::http: {offenders:?}");
}

#[test]
fn the_application_layer_imports_no_shell() {
    let shell = ["http", "integrations", "cli", "simulate", "startup", "background", "serve", "main", "bin"];
    let (_, files) = import_graph();
    let offenders: Vec<String> = files
        .iter()
        .filter(|(unit, _, _)| unit == "app")
        .flat_map(|(_, file, refs)| {
            refs.iter().filter(|r| shell.contains(&r.as_str())).map(move |r| format!("{} -> {r}", file.display()))
        })
        .collect();
    assert!(offenders.is_empty(), "app must not depend on the shell: {offenders:?}");
}

#[test]
fn no_import_circle_spans_more_than_one_folder() {
    let (graph, _) = import_graph();
    // Every unit that can reach itself through another unit is on a circle.
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<String> = graph.get(from).into_iter().flatten().cloned().collect();
        while let Some(u) = todo.pop() {
            if seen.insert(u.clone()) {
                todo.extend(graph.get(&u).into_iter().flatten().cloned());
            }
        }
        seen
    };
    let circles: Vec<String> = graph
        .keys()
        .filter(|u| reach(u).contains(*u))
        .map(|u| {
            let via: Vec<&String> = graph[u].iter().filter(|v| reach(v).contains(u)).collect();
            format!("{u} (back through {via:?})")
        })
        .collect();
    assert!(circles.is_empty(), "import circles between folders: {circles:?}\ngraph: {graph:#?}");
}

/// Files (or folders) whose serde types are JSON, form or TOML only, never stored with
/// bincode, and why.
const WIRE_ONLY: &[(&str, &str)] = &[
    ("src/app/views.rs", "the API's JSON replies"),
    ("src/http", "request bodies and the OpenAPI document"),
    ("src/integrations/twilio/form.rs", "Twilio's webhook forms"),
    ("src/simulate.rs", "the simulator's JSON-lines input"),
    ("actors/src/quiet_hours.rs", "configuration read from TOML (StateRule, Blackout)"),
];

#[test]
fn serde_attributes_bincode_cannot_encode_stay_out_of_stored_types() {
    let allowed = |file: &Path| WIRE_ONLY.iter().any(|(p, _)| file.starts_with(root().join(p)));
    let mut offenders = Vec::new();
    let files = rust_files(&root().join("src")).into_iter().chain(rust_files(&root().join("actors/src")));
    for file in files {
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        for (n, line) in code.lines().enumerate() {
            let serde_attr = line.trim_start().starts_with("#[serde(");
            let breaks = ["flatten", "tag =", "untagged", "skip_serializing_if"].iter().any(|a| line.contains(a));
            if serde_attr && breaks && !allowed(&file) {
                offenders.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(offenders.is_empty(), "serde attributes bincode cannot encode: {offenders:?}");
}
