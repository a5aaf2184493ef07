//! Every crate's module graph, read from its source: the top-level modules of each crate in the
//! workspace (and the crate root's own items) import one another without a cycle, so each crate
//! reads top-down; in the server only `lib.rs` imports the routes (route → objects → aws → core).
//!
//! The reader lexes the source (comments, strings and `#[cfg(test)]` modules left out) and follows
//! `crate::…`, `$crate::…`, `super::…` up to the root, `self::…` and bare module paths in the
//! root file, through `use` groups, and through the root's re-exports (`crate::Kms` is an edge to
//! the module that defines `Kms`). A cycle is reported with the line that makes each of its edges.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

/// One crate's graph: top-level module (or the root file, named `lib` or `main`) → the modules
/// its code names, each edge with the first place that names it.
#[derive(Debug, Default)]
struct Graph {
    root: String,
    nodes: BTreeSet<String>,
    edges: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    PathSep,
    Punct(char),
    /// A literal (string, char, number): never part of a path.
    Lit,
}

/// The tokens of `text` with their line numbers; comments dropped, literals opaque.
fn lex(text: &str) -> Vec<(Tok, usize)> {
    let c: Vec<char> = text.chars().collect();
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    let (mut i, mut line, mut out) = (0, 1, Vec::new());
    // Skips a quoted literal opening at `i` (on the quote) with `hashes` closing `#`s (raw when
    // `raw`); returns the index after it.
    let skip_quoted = |mut i: usize, hashes: usize, raw: bool, line: &mut usize| {
        i += 1;
        while i < c.len() {
            match c[i] {
                '\\' if !raw => i += 1,
                '\n' => *line += 1,
                '"' if (1..=hashes).all(|k| at(i + k) == '#') => return i + 1 + hashes,
                _ => {}
            }
            i += 1;
        }
        i
    };
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if c[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if ch == '"' {
            out.push((Tok::Lit, line));
            i = skip_quoted(i, 0, false, &mut line);
        } else if ch == '\'' {
            if at(i + 1) == '\\' {
                // An escaped char literal: up to the closing quote.
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push((Tok::Lit, line));
            } else if at(i + 2) == '\'' {
                i += 3;
                out.push((Tok::Lit, line));
            } else {
                // A lifetime or label: its name follows as an identifier, harmless.
                i += 1;
            }
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_' || c[i] == '.') {
                if c[i] == '.' && !at(i + 1).is_ascii_digit() {
                    break;
                }
                i += 1;
            }
            out.push((Tok::Lit, line));
        } else if ch.is_alphabetic() || ch == '_' || (ch == '$' && at(i + 1).is_alphabetic()) {
            let start = i;
            i += 1;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            let prefix = matches!(word.as_str(), "r" | "b" | "br" | "c" | "cr");
            if prefix && (at(i) == '"' || (word.ends_with('r') && at(i) == '#')) {
                let mut hashes = 0;
                while at(i) == '#' {
                    hashes += 1;
                    i += 1;
                }
                if at(i) == '"' {
                    out.push((Tok::Lit, line));
                    i = skip_quoted(i, hashes, word.ends_with('r'), &mut line);
                    continue;
                }
                // `r#ident`: a raw identifier.
                let start = i;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
                out.push((Tok::Ident(c[start..i].iter().collect()), line));
            } else if word == "b" && at(i) == '\'' {
                // A byte literal: the char-literal branch reads it.
                continue;
            } else {
                let word = word.strip_prefix('$').unwrap_or(&word).to_owned();
                out.push((Tok::Ident(word), line));
            }
        } else if ch == ':' && at(i + 1) == ':' {
            out.push((Tok::PathSep, line));
            i += 2;
        } else {
            out.push((Tok::Punct(ch), line));
            i += 1;
        }
    }
    out
}

/// Where a path leads: a top-level module by name, or a name at the crate root (an item of the
/// root file, a re-export, a module, or `*`), resolved once every file is read.
#[derive(Debug)]
struct Ref {
    /// The module path of the code that names it.
    from: Vec<String>,
    at: String,
    root_name: String,
    /// A bare name in the root file's own code: an edge only if it is a re-exported item (the
    /// root using a module's item through its own re-export).
    bare: bool,
}

/// What one file says: its paths to the root, the re-exports (root file only) and the test-only
/// modules it declares as files.
#[derive(Debug, Default)]
struct FileRefs {
    refs: Vec<Ref>,
    reexports: BTreeMap<String, String>,
    test_mods: Vec<Vec<String>>,
    inline_mods: Vec<Vec<String>>,
}

fn ident(t: Option<&(Tok, usize)>) -> Option<&str> {
    match t {
        Some((Tok::Ident(s), _)) => Some(s),
        _ => None,
    }
}

fn is(t: Option<&(Tok, usize)>, want: &Tok) -> bool {
    t.is_some_and(|(t, _)| t == want)
}

/// The index after the group opening at `i` (`{`, `[` or `(`).
fn close(toks: &[(Tok, usize)], i: usize) -> usize {
    let (open, shut) = match toks.get(i) {
        Some((Tok::Punct('['), _)) => ('[', ']'),
        Some((Tok::Punct('('), _)) => ('(', ')'),
        _ => ('{', '}'),
    };
    let mut depth = 0;
    for (j, (t, _)) in toks.iter().enumerate().skip(i) {
        if *t == Tok::Punct(open) {
            depth += 1;
        } else if *t == Tok::Punct(shut) {
            depth -= 1;
            if depth == 0 {
                return j + 1;
            }
        }
    }
    toks.len()
}

/// The first segments named after a path separator at `i`: `x` of `::x`, or each item of a
/// `::{a::X, b, *}` group.
fn first_segments(toks: &[(Tok, usize)], i: usize) -> Vec<String> {
    match toks.get(i) {
        Some((Tok::Ident(s), _)) => vec![s.clone()],
        Some((Tok::Punct('*'), _)) => vec!["*".to_owned()],
        Some((Tok::Punct('{'), _)) => {
            let end = close(toks, i);
            let mut out = Vec::new();
            let mut depth = 0;
            let mut item_start = true;
            for (t, _) in toks.get(i..end).unwrap_or_default() {
                match t {
                    Tok::Punct('{') => {
                        depth += 1;
                        item_start = depth == 1;
                    }
                    Tok::Punct('}') => depth -= 1,
                    Tok::Punct(',') if depth == 1 => item_start = true,
                    Tok::Ident(s) if item_start && depth == 1 => {
                        if s != "self" {
                            out.push(s.clone());
                        }
                        item_start = false;
                    }
                    Tok::Punct('*') if item_start && depth == 1 => {
                        out.push("*".to_owned());
                        item_start = false;
                    }
                    _ => item_start = false,
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

/// Reads one file at module path `module` (`[]` for the crate root) of `file`.
fn read_file(file: &str, module: &[String], text: &str, root_mods: &BTreeSet<String>) -> FileRefs {
    let toks = lex(text);
    let is_root_file = module.is_empty();
    let mut out = FileRefs::default();
    // Inline modules open at brace depths.
    let mut inline: Vec<(usize, String)> = Vec::new();
    let mut depth = 0usize;
    let path_here = |inline: &[(usize, String)]| -> Vec<String> {
        let mut p = module.to_vec();
        p.extend(inline.iter().map(|(_, n)| n.clone()));
        p
    };
    let mut i = 0;
    while i < toks.len() {
        let (tok, line) = &toks[i];
        let at = format!("{file}:{line}");
        let prev_sep = i > 0 && is(toks.get(i - 1), &Tok::PathSep);
        // `#[cfg(test)]` before a module: that module is test code.
        if *tok == Tok::Punct('#')
            && is(toks.get(i + 1), &Tok::Punct('['))
            && ident(toks.get(i + 2)) == Some("cfg")
            && is(toks.get(i + 3), &Tok::Punct('('))
            && ident(toks.get(i + 4)) == Some("test")
            && is(toks.get(i + 5), &Tok::Punct(')'))
        {
            let mut j = close(&toks, i + 1);
            while is(toks.get(j), &Tok::Punct('#')) {
                j = close(&toks, j + 1);
            }
            if ident(toks.get(j)) == Some("pub") {
                j += 1;
                if is(toks.get(j), &Tok::Punct('(')) {
                    j = close(&toks, j);
                }
            }
            if ident(toks.get(j)) == Some("mod")
                && let Some(name) = ident(toks.get(j + 1))
            {
                if is(toks.get(j + 2), &Tok::Punct('{')) {
                    i = close(&toks, j + 2);
                    continue;
                }
                let mut p = path_here(&inline);
                p.push(name.to_owned());
                out.test_mods.push(p);
                i = j + 2;
                continue;
            }
            i = close(&toks, i + 1);
            continue;
        }
        if let Tok::Ident(w) = tok
            && is_root_file
            && !prev_sep
            && i.checked_sub(1).and_then(|k| ident(toks.get(k))) != Some("mod")
        {
            out.refs.push(Ref {
                from: path_here(&inline),
                at: at.clone(),
                root_name: w.clone(),
                bare: true,
            });
        }
        match tok {
            Tok::Ident(w) if w == "mod" && !prev_sep => {
                if let (Some(name), true) = (
                    ident(toks.get(i + 1)),
                    is(toks.get(i + 2), &Tok::Punct('{')),
                ) {
                    let mut p = path_here(&inline);
                    p.push(name.to_owned());
                    out.inline_mods.push(p);
                    inline.push((depth, name.to_owned()));
                    depth += 1;
                    i += 3;
                    continue;
                }
            }
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(d, _)| *d == depth) {
                    inline.pop();
                }
            }
            // A re-export in the root file names its module's items at the root; it is not the
            // root's own code using them.
            Tok::Ident(w) if w == "pub" && is_root_file && inline.is_empty() => {
                let mut j = i + 1;
                if is(toks.get(j), &Tok::Punct('(')) {
                    j = close(&toks, j);
                }
                if ident(toks.get(j)) == Some("use") {
                    let end = (j..toks.len())
                        .find(|&k| is(toks.get(k), &Tok::Punct(';')))
                        .unwrap_or(toks.len());
                    let mut k = j + 1;
                    while matches!(ident(toks.get(k)), Some("crate" | "self"))
                        && is(toks.get(k + 1), &Tok::PathSep)
                    {
                        k += 2;
                    }
                    if let Some(m) = ident(toks.get(k)).filter(|m| root_mods.contains(*m)) {
                        for (t, _) in toks.get(k + 1..end).unwrap_or_default() {
                            if let Tok::Ident(name) = t {
                                out.reexports.insert(name.clone(), m.to_owned());
                            }
                        }
                    }
                    i = end;
                    continue;
                }
            }
            Tok::Ident(w) if !prev_sep && is(toks.get(i + 1), &Tok::PathSep) => {
                let here = path_here(&inline);
                let mut to_root: Option<usize> = None;
                if w == "crate" || (w == "self" && here.is_empty()) {
                    to_root = Some(i + 2);
                } else if w == "super" {
                    let mut ups = 0;
                    let mut j = i;
                    while ident(toks.get(j)) == Some("super") && is(toks.get(j + 1), &Tok::PathSep)
                    {
                        ups += 1;
                        j += 2;
                    }
                    if ups == here.len() {
                        to_root = Some(j);
                    }
                } else if is_root_file && root_mods.contains(w.as_str()) {
                    // The root file (and modules written inline in it) names modules bare.
                    out.refs.push(Ref {
                        from: here.clone(),
                        at: at.clone(),
                        root_name: w.clone(),
                        bare: false,
                    });
                }
                if let Some(j) = to_root {
                    for name in first_segments(&toks, j) {
                        out.refs.push(Ref {
                            from: here.clone(),
                            at: at.clone(),
                            root_name: name,
                            bare: false,
                        });
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The graph of the crate whose source folder is `src`, from `files` (path relative to `src`,
/// text). The root is `lib.rs`, or `main.rs` when there is no `lib.rs` (a `main.rs` beside a
/// `lib.rs` is a crate of its own, using the library from outside).
fn graph_of(files: &[(PathBuf, String)]) -> Graph {
    let root_file = if files.iter().any(|(p, _)| p == Path::new("lib.rs")) {
        "lib.rs"
    } else {
        "main.rs"
    };
    let module_of = |rel: &Path| -> Option<Vec<String>> {
        if rel.starts_with("bin") || (rel == Path::new("main.rs") && root_file != "main.rs") {
            return None;
        }
        if rel == Path::new(root_file) {
            return Some(Vec::new());
        }
        let mut p: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if p.last().is_some_and(|l| l == "mod.rs") {
            p.pop();
        } else if let Some(l) = p.last_mut() {
            *l = l.trim_end_matches(".rs").to_owned();
        }
        Some(p)
    };
    let mut g = Graph {
        root: root_file.trim_end_matches(".rs").to_owned(),
        ..Graph::default()
    };
    let mut root_mods: BTreeSet<String> = files
        .iter()
        .filter_map(|(p, _)| module_of(p))
        .filter_map(|m| m.first().cloned())
        .collect();
    // Modules written inline in the root file are top-level modules too.
    for (p, text) in files {
        if module_of(p).is_some_and(|m| m.is_empty()) {
            let r = read_file(root_file, &[], text, &root_mods);
            root_mods.extend(r.inline_mods.iter().filter_map(|m| m.first().cloned()));
        }
    }
    let mut read: Vec<FileRefs> = Vec::new();
    for (p, text) in files {
        if let Some(m) = module_of(p) {
            read.push(read_file(&p.to_string_lossy(), &m, text, &root_mods));
        }
    }
    let reexports: BTreeMap<String, String> =
        read.iter().flat_map(|r| r.reexports.clone()).collect();
    let test_mods: Vec<Vec<String>> = read.iter().flat_map(|r| r.test_mods.clone()).collect();
    g.nodes = root_mods.clone();
    g.nodes.insert(g.root.clone());
    for r in read.iter().flat_map(|r| &r.refs) {
        if test_mods.iter().any(|t| r.from.starts_with(t)) {
            continue;
        }
        let from = r.from.first().cloned().unwrap_or_else(|| g.root.clone());
        let to = if r.bare {
            match reexports.get(&r.root_name) {
                Some(m) => m.clone(),
                None => continue,
            }
        } else if root_mods.contains(&r.root_name) {
            r.root_name.clone()
        } else if let Some(m) = reexports.get(&r.root_name) {
            m.clone()
        } else {
            g.root.clone()
        };
        if from != to {
            g.edges
                .entry(from)
                .or_default()
                .entry(to)
                .or_insert_with(|| r.at.clone());
        }
    }
    g
}

/// Reads the crate at `dir` (relative to the workspace) from disk. Files named `tests.rs` under
/// a `#[cfg(test)] mod tests;` are left out by the reader, not here.
fn graph(dir: &str) -> Graph {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let src = workspace.join(dir).join("src");
    let mut files = Vec::new();
    let mut todo = vec![src.clone()];
    while let Some(path) = todo.pop() {
        if path.is_dir() {
            todo.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            files.push((path.strip_prefix(&src).unwrap().to_path_buf(), text));
        }
    }
    assert!(!files.is_empty(), "no source in {}", src.display());
    graph_of(&files)
}

/// Every cycle, one per strongly connected set of modules, each shown as its shortest loop with
/// the line that makes each edge.
fn cycles(g: &Graph) -> Vec<String> {
    let next = |m: &str| -> Vec<String> {
        g.edges
            .get(m)
            .map(|e| e.keys().cloned().collect())
            .unwrap_or_default()
    };
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_owned()];
        while let Some(m) = todo.pop() {
            for d in next(&m) {
                if seen.insert(d.clone()) {
                    todo.push(d);
                }
            }
        }
        seen
    };
    let reached: BTreeMap<String, BTreeSet<String>> =
        g.nodes.iter().map(|m| (m.clone(), reach(m))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for m in &g.nodes {
        if done.contains(m) || !reached[m].contains(m) {
            continue;
        }
        let set: BTreeSet<String> = reached[m]
            .iter()
            .filter(|d| reached[*d].contains(m))
            .cloned()
            .collect();
        done.extend(set.iter().cloned());
        // Shortest loop from `m` back to itself (breadth first).
        let mut parent: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = VecDeque::from([m.clone()]);
        'search: while let Some(x) = queue.pop_front() {
            for d in next(&x) {
                if d == *m {
                    parent.insert(format!("{m}'"), x);
                    break 'search;
                }
                if set.contains(&d) && !parent.contains_key(&d) {
                    parent.insert(d.clone(), x.clone());
                    queue.push_back(d);
                }
            }
        }
        let mut loop_ = vec![m.clone()];
        let mut x = parent[&format!("{m}'")].clone();
        while x != *m {
            loop_.push(x.clone());
            x = parent[&x].clone();
        }
        loop_.push(m.clone());
        loop_.reverse();
        let steps: Vec<String> = loop_
            .windows(2)
            .map(|w| format!("    {} → {}  ({})", w[0], w[1], g.edges[&w[0]][&w[1]]))
            .collect();
        out.push(format!(
            "cycle {} (modules in it: {})\n{}",
            loop_.join(" → "),
            set.into_iter().collect::<Vec<_>>().join(", "),
            steps.join("\n")
        ));
    }
    out
}

fn assert_acyclic(dir: &str, expected: &[&str]) -> Graph {
    let g = graph(dir);
    for m in expected {
        assert!(
            g.edges.contains_key(*m),
            "{dir}: no edges read from {m}: {g:#?}"
        );
    }
    let found = cycles(&g);
    assert!(
        found.is_empty(),
        "{dir}/src: {} import cycle(s) between top-level modules; move the shared item to the \
         module it belongs to:\n{}",
        found.len(),
        found.join("\n")
    );
    g
}

/// The crates checked; `every_crate_is_checked` fails when one is added without a line here.
const CRATES: [&str; 9] = [
    "crates/api",
    "crates/cli",
    "crates/core",
    "crates/keyfile",
    "crates/kms",
    "crates/s3",
    "crates/server",
    "crates/testkit",
    "web",
];

#[test]
fn every_crate_is_checked() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut found: Vec<String> = std::fs::read_dir(workspace.join("crates"))
        .unwrap()
        .map(|e| format!("crates/{}", e.unwrap().file_name().to_string_lossy()))
        .filter(|d| workspace.join(d).join("src").is_dir())
        .collect();
    found.push("web".to_owned());
    found.sort();
    assert_eq!(found, CRATES);
}

#[test]
fn api_modules_form_no_cycle() {
    assert_acyclic("crates/api", &[]);
}

#[test]
fn cli_modules_form_no_cycle() {
    assert_acyclic("crates/cli", &["main"]);
}

#[test]
fn core_modules_form_no_cycle() {
    assert_acyclic("crates/core", &["decrypt", "header"]);
}

#[test]
fn keyfile_modules_form_no_cycle() {
    assert_acyclic("crates/keyfile", &[]);
}

#[test]
fn kms_modules_form_no_cycle() {
    assert_acyclic("crates/kms", &["lib", "service", "store"]);
}

#[test]
fn s3_modules_form_no_cycle() {
    assert_acyclic("crates/s3", &["store"]);
}

#[test]
fn server_modules_form_no_cycle_and_only_the_root_uses_the_routes() {
    let g = assert_acyclic("crates/server", &["lib", "routes", "objects"]);
    let importers: Vec<&String> = g
        .edges
        .iter()
        .filter(|(m, deps)| deps.contains_key("routes") && **m != g.root)
        .map(|(m, _)| m)
        .collect();
    assert!(
        importers.is_empty(),
        "only lib.rs may use the routes: {importers:?}"
    );
}

#[test]
fn testkit_modules_form_no_cycle() {
    assert_acyclic("crates/testkit", &[]);
}

#[test]
fn web_modules_form_no_cycle() {
    assert_acyclic("web", &["transfer", "ui"]);
}

/// The reader itself, on a made-up crate with every form of path it follows (and the ones it
/// must not): each edge below is one form, and a cycle is named with its lines.
#[test]
fn the_reader_follows_every_path_form() {
    let files: Vec<(PathBuf, String)> = [
        (
            "lib.rs",
            "mod a; mod b; mod c; mod d; mod e; mod f;\npub use a::{Alpha, alpha_fn};\n\
             pub const ROOT: u8 = 1;\nfn go() { b::run() }\nfn alpha() -> Alpha { todo!() }\n",
        ),
        // crate:: to a module; a group; a re-exported name resolves to its module.
        (
            "a.rs",
            "use crate::{c::X, d};\nfn f() -> crate::Alpha { todo!() }\n",
        ),
        // super:: from a top-level file reaches the root's own item.
        ("b.rs", "fn run() { let _ = super::ROOT; }\n"),
        // Comments, strings, and test modules are not code.
        (
            "c.rs",
            "// crate::e::X\n/* crate::e */ const S: &str = \"crate::e::X\";\n\
             const R: &str = r#\"crate::e\"#;\nconst Q: char = '\"'; const L: &'static str = \"\";\n\
             #[cfg(test)]\n#[allow(x)]\nmod tests { use crate::e::X; }\nfn k() { $crate::f::m!() }\n",
        ),
        // super::super:: from a nested file reaches the root; super:: stays inside.
        ("d/mod.rs", "mod inner;\n"),
        ("d/inner.rs", "use super::super::e::Y;\nuse super::Z;\n"),
        // A test-only file module is test code.
        ("e.rs", "#[cfg(test)]\nmod tests;\n"),
        ("e/tests.rs", "use crate::a::Alpha;\n"),
        ("f.rs", "macro_rules! m { () => { $crate::a::alpha_fn() } }\n"),
    ]
    .into_iter()
    .map(|(p, t)| (PathBuf::from(p), t.to_owned()))
    .collect();
    let g = graph_of(&files);
    let edges: Vec<(String, String)> = g
        .edges
        .iter()
        .flat_map(|(m, d)| d.keys().map(move |t| (m.clone(), t.clone())))
        .collect();
    let want: Vec<(String, String)> = [
        ("a", "c"),
        ("a", "d"),
        ("b", "lib"),
        ("c", "f"),
        ("d", "e"),
        ("f", "a"),
        ("lib", "a"),
        ("lib", "b"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(edges, want);
    // a → c → f → a is a cycle; lib → b → lib another.
    let found = cycles(&g);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found[0].starts_with("cycle a → c → f → a"), "{}", found[0]);
    assert!(found[0].contains("c → f  (c.rs:8)"), "{}", found[0]);
    assert!(found[1].starts_with("cycle b → lib → b"), "{}", found[1]);
}
