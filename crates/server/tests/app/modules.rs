//! The server's module graph, read from its source: no cycle, and only `lib.rs` imports the
//! routes, so an upload's data flow reads top-down (route → objects → aws → core).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module → the top-level modules its code names as `crate::…` (comments skipped).
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = vec![src.clone()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let rel = path.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let deps = graph.entry(module.clone()).or_default();
        // Unit-test modules sit at the end of a file and may name anything.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (i, _) in line.match_indices("crate::") {
                let name: String = line[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                // `crate::Name` (an item re-exported at the root) is not a module edge.
                if name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) && name != module {
                    deps.insert(name);
                }
            }
            // `super::x` from inside a folder module stays inside it; at the top level it is lib.
            if !rel.to_string_lossy().contains('/') && module != "lib" && line.contains("super::") {
                deps.insert("lib".to_owned());
            }
        }
    }
    graph
}

#[test]
fn the_server_modules_form_no_cycle() {
    let graph = graph();
    assert!(graph.contains_key("routes") && graph.contains_key("objects"));
    // Depth-first search with colours: grey on the stack, black done.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) {
        path.push(m.to_owned());
        match state.get(m) {
            Some(1) => panic!("import cycle: {}", path.join(" → ")),
            Some(2) => {}
            _ => {
                state.insert(m.to_owned(), 1);
                for d in graph.get(m).into_iter().flatten() {
                    visit(d, graph, state, path);
                }
                state.insert(m.to_owned(), 2);
            }
        }
        path.pop();
    }
    let mut state = BTreeMap::new();
    for m in graph.keys() {
        visit(m, &graph, &mut state, &mut Vec::new());
    }
    let importers: Vec<&String> = graph
        .iter()
        .filter(|(_, deps)| deps.contains("routes"))
        .map(|(m, _)| m)
        .collect();
    assert!(
        importers.is_empty(),
        "only lib.rs may use the routes: {importers:?}"
    );
}
