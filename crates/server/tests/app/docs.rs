//! ARCHITECTURE.md stays true to the tree: every repository path it cites in backticks exists,
//! and every test it names under *Checked by:* is a `fn` of that name in the file (or, for a
//! folder, in a Rust file under it) cited just before. It stays a map, too: at most
//! [`MAX_LINES`] lines, and every invariant names what checks it. Only reads files.

use std::path::{Path, PathBuf};

/// The document's length limit: a map, not an atlas.
const MAX_LINES: usize = 300;

/// Endings that make a backticked span a file path.
const EXTENSIONS: [&str; 13] = [
    "rs", "md", "toml", "sh", "py", "js", "mjs", "html", "css", "json", "sql", "lock", "yml",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A backticked span that names something in the repository: plain path characters, a `/`,
/// relative, and either a file with a known extension, a folder (trailing `/`), or anything
/// under one of the repository's top-level entries (`crates/…`, `tests/…`, `web/…`). Other
/// spans with a `/` (API routes, MIME types, `{id}` templates, labels) are not paths.
fn is_path(span: &str, root: &Path) -> bool {
    let plain = span
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'));
    if !plain || !span.contains('/') || span.starts_with('/') || span.starts_with('.') {
        return false;
    }
    let last = span.rsplit('/').next().unwrap_or_default();
    let has_extension = last
        .rsplit_once('.')
        .is_some_and(|(stem, ext)| !stem.is_empty() && EXTENSIONS.contains(&ext));
    let first = span.split('/').next().unwrap_or_default();
    has_extension || span.ends_with('/') || root.join(first).is_dir()
}

/// A test function's name as the document writes it: snake_case words of lowercase letters and
/// digits, at least two, the first starting with a letter.
fn is_test_name(span: &str) -> bool {
    span.starts_with(|c: char| c.is_ascii_lowercase())
        && span.contains('_')
        && span.split('_').all(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// Whether `text` defines a function called `name`: `fn name` at the start of a line or after
/// a space (`pub fn`, `async fn`), followed by `(` or `<`; a mention in a comment or a string
/// does not count.
fn defines_fn(text: &str, name: &str) -> bool {
    let needle = format!("fn {name}");
    text.match_indices(&needle).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + needle.len()..].chars().next();
        before.is_none_or(|c| c == ' ' || c == '\n') && matches!(after, Some('(' | '<'))
    })
}

/// The Rust source a cited path stands for: the file itself, or every `.rs` file under a folder.
fn sources(path: &Path) -> Vec<String> {
    if path.is_file() {
        return vec![std::fs::read_to_string(path).unwrap_or_default()];
    }
    let mut out = Vec::new();
    let mut todo = vec![path.to_path_buf()];
    while let Some(p) = todo.pop() {
        if p.is_dir() {
            todo.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(std::fs::read_to_string(&p).unwrap());
        }
    }
    out
}

/// The document's lines outside fenced code blocks, numbered from 1.
fn prose(doc: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (i, line) in doc.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            out.push((i + 1, line));
        }
    }
    out
}

/// The spans between single backticks on one line.
fn spans(line: &str) -> impl Iterator<Item = &str> {
    line.split('`').skip(1).step_by(2)
}

/// Bullets and paragraphs: a block starts at a bullet (`- ` at the margin), a heading or after a
/// blank line, and runs over its indented continuation lines.
fn blocks(lines: &[(usize, &str)]) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut open = false;
    for &(n, line) in lines {
        let starts = line.starts_with("- ") || line.starts_with('#');
        if line.trim().is_empty() {
            open = false;
        } else if starts || !open {
            out.push((n, line.to_owned()));
            open = !line.starts_with('#');
        } else if let Some((_, text)) = out.last_mut() {
            text.push('\n');
            text.push_str(line);
        }
    }
    out
}

/// What the document cites: paths and tests, counted, and every citation that is not true.
#[derive(Debug, Default)]
struct Report {
    paths: usize,
    tests: usize,
    problems: Vec<String>,
}

fn check(doc: &str, root: &Path) -> Report {
    let mut r = Report::default();
    let count = doc.lines().count();
    if count > MAX_LINES {
        r.problems.push(format!(
            "{count} lines: keep it a map of at most {MAX_LINES} (move detail to the module comments)"
        ));
    }
    let lines = prose(doc);
    for &(n, line) in &lines {
        if line.matches('`').count() % 2 == 1 {
            r.problems.push(format!(
                "line {n}: unbalanced backticks (keep each `span` on one line)"
            ));
            continue;
        }
        for span in spans(line).filter(|s| is_path(s, root)) {
            r.paths += 1;
            if !root.join(span).exists() {
                r.problems
                    .push(format!("line {n}: `{span}` does not exist"));
            }
        }
    }
    for (n, block) in blocks(&lines) {
        let checked = block.split_once("*Checked by:*").map(|(_, rest)| rest);
        if block.starts_with("- **Invariant:**") && checked.is_none() {
            r.problems.push(format!(
                "line {n}: an invariant without a *Checked by:* test"
            ));
        }
        let Some(checked) = checked else { continue };
        let mut file: Option<&str> = None;
        let mut cited_any = false;
        for span in checked.lines().flat_map(spans) {
            if is_path(span, root) {
                file = Some(span);
                cited_any = true;
            } else if is_test_name(span) {
                r.tests += 1;
                let Some(f) = file else {
                    r.problems.push(format!(
                        "line {n}: test `{span}` comes before any file that could hold it"
                    ));
                    continue;
                };
                if !sources(&root.join(f)).iter().any(|t| defines_fn(t, span)) {
                    r.problems
                        .push(format!("line {n}: no `fn {span}` in `{f}`"));
                }
            }
        }
        if !cited_any {
            r.problems
                .push(format!("line {n}: *Checked by:* cites no file"));
        }
    }
    r
}

#[test]
fn architecture_md_cites_only_paths_and_tests_that_exist() {
    let root = workspace();
    let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let r = check(&doc, &root);
    assert!(
        r.problems.is_empty(),
        "ARCHITECTURE.md has drifted from the tree:\n{}",
        r.problems.join("\n")
    );
    // The reader found what the document cites (a reader that found nothing would pass).
    assert!(r.paths >= 40, "only {} paths read: {r:?}", r.paths);
    assert!(r.tests >= 30, "only {} test names read: {r:?}", r.tests);
}

#[test]
fn made_up_paths_and_test_names_are_caught() {
    let root = workspace();
    // `a_test_that_was_never_written` is mentioned in this file (in the expected problems below)
    // but defined nowhere: a mention is not a test.
    let doc = "# Made up\n\
        \n\
        The map names `crates/server/src/no_such_module.rs`, `crates/nowhere/` and\n\
        `crates/server/src/limiter.rs`, an API route `/api/uploads` and a label `cipherdrop/v2`.\n\
        \n\
        ```\n\
        `crates/in/a/fence.rs`\n\
        ```\n\
        \n\
        - **Invariant:** one.\n  \
          *Checked by:* `crates/server/tests/app/docs.rs` `a_test_that_was_never_written`,\n  \
          `made_up_paths_and_test_names_are_caught`; `crates/server/tests/app/`\n  \
          `architecture_md_cites_only_paths_and_tests_that_exist`.\n\
        - **Invariant:** two.\n  \
          *Checked by:* `a_name_with_no_file_before_it`.\n\
        - **Invariant:** three, with nothing that checks it.\n";
    let r = check(doc, &root);
    assert_eq!(
        r.problems,
        [
            "line 3: `crates/server/src/no_such_module.rs` does not exist",
            "line 3: `crates/nowhere/` does not exist",
            "line 10: no `fn a_test_that_was_never_written` in `crates/server/tests/app/docs.rs`",
            "line 14: test `a_name_with_no_file_before_it` comes before any file that could hold it",
            "line 14: *Checked by:* cites no file",
            "line 16: an invariant without a *Checked by:* test",
        ],
        "{r:?}"
    );
    assert_eq!((r.paths, r.tests), (5, 4), "{r:?}");

    let long = "line\n".repeat(MAX_LINES + 1);
    assert_eq!(check(&long, &root).problems.len(), 1);
}
