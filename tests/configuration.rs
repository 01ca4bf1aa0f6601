//! The configuration as documented is the configuration the server reads:
//! every environment variable of the command line appears in the table of
//! docs/configuration.md and in `.env.example`, and where the command line
//! has a default, the table says that default and `.env.example` (when it
//! sets the variable) sets that value.

use std::collections::BTreeMap;

use clap::CommandFactory;

/// Each variable the server reads, with its default (none: `None`).
fn variables() -> BTreeMap<String, Option<String>> {
    let cmd = todo_api::cli::Cli::command();
    let mut out = BTreeMap::new();
    for arg in cmd.get_arguments() {
        let Some(env) = arg.get_env() else { continue };
        let default = arg
            .get_default_values()
            .first()
            .map(|v| v.to_string_lossy().into_owned());
        out.insert(env.to_string_lossy().into_owned(), default);
    }
    assert!(out.len() > 40, "only {} variables found", out.len());
    out
}

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The configuration table: for each variable named in a row's first cell,
/// the default cell's backticked values in order, and which one is its.
fn table() -> BTreeMap<String, Vec<String>> {
    let doc = read("docs/configuration.md");
    let mut out = BTreeMap::new();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        if cells.len() < 3 {
            continue;
        }
        let names = ticked(cells[0].trim_start_matches("| "));
        let defaults = ticked(cells[1]);
        for (i, name) in names.iter().enumerate() {
            // Several variables in a row: their defaults in the same order.
            let own = if names.len() > 1 {
                defaults.get(i).cloned().into_iter().collect()
            } else {
                defaults.clone()
            };
            out.insert(name.clone(), own);
        }
    }
    out
}

/// The `code` spans of a cell.
fn ticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// What a default looks like written down: clap's `true`, `1000`, `json`.
fn same(doc: &str, default: &str) -> bool {
    doc.eq_ignore_ascii_case(default) || doc.replace(',', "") == default
}

#[test]
fn every_variable_is_in_the_table_with_its_default() {
    let table = table();
    let mut wrong = Vec::new();
    for (name, default) in variables() {
        match (table.get(&name), &default) {
            (None, _) => wrong.push(format!("{name}: not in docs/configuration.md")),
            (Some(doc), Some(d)) if !doc.iter().any(|v| same(v, d)) => wrong.push(format!(
                "{name}: the server's default is `{d}`, the table says {doc:?}"
            )),
            _ => {}
        }
    }
    let known = variables();
    for name in table.keys() {
        if !known.contains_key(name) && name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
            wrong.push(format!(
                "{name}: in the table, but the server does not read it"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_variable_is_in_env_example_with_its_default() {
    let example = read(".env.example");
    let mut set: BTreeMap<String, String> = BTreeMap::new();
    let mut named = std::collections::BTreeSet::new();
    for line in example.lines() {
        let commented = line.trim_start().starts_with('#');
        let body = line.trim_start().trim_start_matches('#').trim();
        if let Some((k, v)) = body.split_once('=')
            && !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            named.insert(k.to_owned());
            if !commented {
                set.insert(k.to_owned(), v.trim().to_owned());
            }
        }
    }
    let mut wrong = Vec::new();
    for (name, default) in variables() {
        if !named.contains(&name) {
            wrong.push(format!("{name}: not in .env.example"));
            continue;
        }
        if let (Some(v), Some(d)) = (set.get(&name), &default)
            && !same(v, d)
        {
            wrong.push(format!(
                "{name}: .env.example sets `{v}`, the server's default is `{d}`"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
