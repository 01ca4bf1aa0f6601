//! The module layers of `docs/architecture.md`, kept: every `crate::…` path
//! in `src/` must name the file's own layer or one its row allows. A wrong
//! arrow fails here with its file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One row of the layer table: where the layer's files are, what it may import.
#[derive(Debug)]
struct Layer {
    name: String,
    paths: Vec<String>,
    may_import: Vec<String>,
}

/// The rows between the `layers:begin` and `layers:end` markers:
/// `| layer | files | may import |`, lists comma-separated, `-` for none.
fn layers(doc: &str) -> Vec<Layer> {
    let begin = doc
        .find("<!-- layers:begin -->")
        .expect("a layers:begin marker");
    let end = doc
        .find("<!-- layers:end -->")
        .expect("a layers:end marker");
    doc[begin..end]
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect::<Vec<_>>()
        })
        .filter(|cells| cells.len() == 3 && !cells[0].starts_with("---") && cells[0] != "layer")
        .map(|cells| {
            let list = |cell: &str| -> Vec<String> {
                cell.split(',')
                    .map(|c| c.trim().trim_matches('`').to_owned())
                    .filter(|c| !c.is_empty() && c != "-")
                    .collect()
            };
            Layer {
                name: cells[0].trim_matches('`').to_owned(),
                paths: list(cells[1]),
                may_import: list(cells[2]),
            }
        })
        .collect()
}

/// The layer a file (relative to the crate root, `src/…`) belongs to: the
/// row with the longest path that is the file or a folder holding it.
fn layer_of<'a>(layers: &'a [Layer], file: &str) -> Option<&'a Layer> {
    layers
        .iter()
        .flat_map(|l| l.paths.iter().map(move |p| (p, l)))
        .filter(|(p, _)| file == p.as_str() || (p.ends_with('/') && file.starts_with(p.as_str())))
        .max_by_key(|(p, _)| p.len())
        .map(|(_, l)| l)
}

/// The top-level modules a line names with `crate::name`.
fn crate_paths(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or("");
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + "crate::".len()..];
        rest = after;
        // `todo_api_crate::` or `$crate::` are not this crate's paths.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if let Some(group) = after.strip_prefix('{') {
            // `crate::{a::X, b}`: the first segment of each item. A group
            // that does not close on its line is reported as such.
            let Some(close) = group.find('}') else {
                found.push("{ (a multi-line crate:: group)".to_owned());
                continue;
            };
            let mut depth = 0;
            let mut item = String::new();
            for c in group[..close].chars().chain(std::iter::once(',')) {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        let name: String = item
                            .trim()
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        if !name.is_empty() {
                            found.push(name);
                        }
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            continue;
        }
        let name: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.push(name);
        }
    }
    found
}

/// Every arrow against the table: `file:line: layer -> target`.
fn violations(layers: &[Layer], files: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (file, text) in files {
        let Some(layer) = layer_of(layers, file) else {
            out.push(format!("{file}: in no layer of docs/architecture.md"));
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            for target in crate_paths(line) {
                let allowed = target == layer.name || layer.may_import.contains(&target);
                if !allowed {
                    out.push(format!(
                        "{file}:{}: {} -> {target} goes against docs/architecture.md: {}",
                        n + 1,
                        layer.name,
                        line.trim()
                    ));
                }
            }
        }
    }
    out
}

fn rust_files(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path: PathBuf = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.insert(rel, std::fs::read_to_string(&path).unwrap());
        }
    }
}

fn table() -> Vec<Layer> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc =
        std::fs::read_to_string(root.join("docs/architecture.md")).expect("docs/architecture.md");
    let layers = layers(&doc);
    assert!(layers.len() >= 8, "the layer table was read: {layers:?}");
    layers
}

#[test]
fn every_import_follows_the_layer_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = BTreeMap::new();
    rust_files(&root.join("src"), root, &mut files);
    assert!(files.len() > 30, "src/ was read");
    let found = violations(&table(), &files);
    assert!(
        found.is_empty(),
        "imports against the layers:\n{}",
        found.join("\n")
    );
}

/// The check itself: a wrong arrow, a path in an expression, a file outside
/// every layer are all caught; comments and other crates' paths are not.
#[test]
fn the_check_catches_a_wrong_import() {
    let layers = table();
    let file = |path: &str, text: &str| {
        let mut m = BTreeMap::new();
        m.insert(path.to_owned(), text.to_owned());
        violations(&layers, &m)
    };
    let up = file("src/tasks/model.rs", "use crate::http::error::ApiError;\n");
    assert_eq!(up.len(), 1, "{up:?}");
    assert!(
        up[0].starts_with("src/tasks/model.rs:1: tasks -> http"),
        "{up:?}"
    );
    let inline = file(
        "src/db/mod.rs",
        "fn f() {\n    crate::auth::random_secret();\n}\n",
    );
    assert!(
        inline[0].starts_with("src/db/mod.rs:2: db -> auth"),
        "{inline:?}"
    );
    let grouped = file("src/auth/mod.rs", "use crate::{telemetry, db::Store};\n");
    assert_eq!(grouped.len(), 1, "{grouped:?}");
    assert!(grouped[0].contains("auth -> db"), "{grouped:?}");
    assert_eq!(file("src/auth/mod.rs", "use crate::{\n").len(), 1);
    assert!(!file("src/nowhere.rs", "").is_empty(), "a file in no layer");
    assert!(file("src/db/mod.rs", "// crate::http is not imported here\n").is_empty());
    assert!(file("src/db/mod.rs", "use crate::tasks::model::Task;\n").is_empty());
    assert!(file("src/http/tasks.rs", "use crate::db::Store;\n").is_empty());
}
