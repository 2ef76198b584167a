//! The house holds: one workspace and one Cargo.lock; the core crate
//! reaches no HTTP, TLS or archive crate; no `cfg(feature = "ops")`; no
//! import circle between the files of a crate nor between its top-level
//! modules; no `cli/` module imports a sibling command; no source file
//! over 700 lines; docs/architecture.md names only files that exist; the
//! shell scripts parse in their shells.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::workspace;

/// The crates: (name as other crates write it, its src folder).
fn crates() -> Vec<(&'static str, PathBuf)> {
    let root = workspace();
    vec![
        ("stagecraft_core", root.join("crates/core/src")),
        ("stagecraft", root.join("crates/stagecraft/src")),
        ("xtask", root.join("xtask/src")),
    ]
}

fn files_with(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_with(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    files_with(dir, "rs", &mut out);
    out.sort();
    out
}

/// The module path of a file: `cluster/kind.rs` is `[cluster, kind]`,
/// `cluster/mod.rs` is `[cluster]`, `lib.rs` is `[]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The file that defines module `path` in `src`, if one does.
fn file_of(src: &Path, path: &[String]) -> Option<PathBuf> {
    if path.is_empty() {
        return None;
    }
    let joined: PathBuf = path.iter().collect();
    [
        src.join(&joined).with_extension("rs"),
        src.join(&joined).join("mod.rs"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// The code of a file without comments and without its `mod tests`.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a file's code names from `crate::`, `super::` and `self::`,
/// each as an absolute module path; `use x::{a, b::c}` gives both.
fn named_paths(code: &str, own: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < bytes.len() {
        if !code.is_char_boundary(i) || (i > 0 && (word(bytes[i - 1]) || bytes[i - 1] == b':')) {
            i += 1;
            continue;
        }
        let rest = &code[i..];
        let (base, skip): (Vec<String>, usize) = if rest.starts_with("crate::") {
            (Vec::new(), "crate::".len())
        } else if rest.starts_with("super::") {
            // The parent module (`own` of a mod.rs is its folder's).
            let mut base = own.to_vec();
            base.pop();
            (base, "super::".len())
        } else if rest.starts_with("self::") {
            (own.to_vec(), "self::".len())
        } else {
            i += 1;
            continue;
        };
        let tail = &rest[skip..];
        for path in expand_use_tree(tail) {
            let mut full = base.clone();
            full.extend(path);
            out.push(full);
        }
        i += skip;
    }
    out
}

/// `a::b::{c, d::e}` as `[a,b,c]`, `[a,b,d,e]`; `a::b::C` as `[a,b,C]`.
fn expand_use_tree(text: &str) -> Vec<Vec<String>> {
    let mut prefix = Vec::new();
    let mut rest = text;
    loop {
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            if let Some(inner) = rest.strip_prefix('{') {
                let mut depth = 1;
                let mut end = 0;
                for (i, c) in inner.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                let mut out = Vec::new();
                let mut depth = 0;
                let mut start = 0;
                let inner = &inner[..end];
                for (i, c) in inner.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            out.extend(branch(&prefix, &inner[start..i]));
                            start = i + 1;
                        }
                        _ => {}
                    }
                }
                out.extend(branch(&prefix, &inner[start..]));
                return out;
            }
            return vec![prefix];
        }
        rest = &rest[name.len()..];
        // `outln!` is a macro, not a module.
        if rest.starts_with('!') {
            return vec![prefix];
        }
        prefix.push(name);
        match rest.strip_prefix("::") {
            Some(after) => rest = after,
            None => return vec![prefix],
        }
    }
}

fn branch(prefix: &[String], part: &str) -> Vec<Vec<String>> {
    let part = part.trim();
    if part.is_empty() || part == "self" {
        return vec![prefix.to_vec()];
    }
    expand_use_tree(part)
        .into_iter()
        .map(|p| {
            let mut full = prefix.to_vec();
            full.extend(p.into_iter().filter(|s| s != "self"));
            full
        })
        .collect()
}

/// The file a module path lands in: the longest prefix that is a file.
fn resolve(src: &Path, path: &[String]) -> Option<PathBuf> {
    (1..=path.len())
        .rev()
        .find_map(|n| file_of(src, &path[..n]))
}

/// Edges file -> files it imports, within one crate.
fn file_graph(src: &Path) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let mut graph = BTreeMap::new();
    for file in rust_files(src) {
        let own = module_path(src, &file);
        let code = code_of(&fs::read_to_string(&file).unwrap());
        let mut to = BTreeSet::new();
        for path in named_paths(&code, &own) {
            if let Some(target) = resolve(src, &path)
                && target != file
            {
                to.insert(target);
            }
        }
        graph.insert(file, to);
    }
    graph
}

fn find_cycle<T: Ord + Clone>(graph: &BTreeMap<T, BTreeSet<T>>) -> Option<Vec<T>> {
    fn visit<T: Ord + Clone>(
        node: &T,
        graph: &BTreeMap<T, BTreeSet<T>>,
        open: &mut Vec<T>,
        done: &mut BTreeSet<T>,
    ) -> Option<Vec<T>> {
        if let Some(pos) = open.iter().position(|n| n == node) {
            let mut cycle = open[pos..].to_vec();
            cycle.push(node.clone());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        open.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, open, done) {
                return Some(cycle);
            }
        }
        open.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_import_circles_between_files_or_top_level_modules() {
    for (_, src) in crates() {
        let graph = file_graph(&src);
        if let Some(cycle) = find_cycle(&graph) {
            let names: Vec<String> = cycle
                .iter()
                .map(|f| f.strip_prefix(workspace()).unwrap().display().to_string())
                .collect();
            panic!("an import circle between files: {}", names.join(" -> "));
        }
        // The same, folder by folder: `app` and `cluster` never import each other both ways.
        let top = |file: &Path| module_path(&src, file).first().cloned();
        let mut modules: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, tos) in &graph {
            let Some(from) = top(from) else { continue };
            for to in tos.iter().filter_map(|t| top(t)) {
                if to != from {
                    modules.entry(from.clone()).or_default().insert(to);
                }
            }
        }
        if let Some(cycle) = find_cycle(&modules) {
            panic!(
                "an import circle between the modules of {}: {}",
                src.display(),
                cycle.join(" -> ")
            );
        }
        // The plumbing stays at the bottom.
        for bottom in ["quote", "suggest", "user_env", "ui"] {
            let allowed = ["ui", "user_env"];
            assert!(
                modules
                    .get(bottom)
                    .is_none_or(|deps| deps.iter().all(|d| allowed.contains(&d.as_str()))),
                "{bottom} imports {:?}",
                modules.get(bottom)
            );
        }
    }
}

/// The resolver sees what a reader sees.
#[test]
fn the_import_reader_expands_use_trees() {
    let own = vec!["cluster".to_owned(), "kind".to_owned()];
    let paths = named_paths(
        "use super::{gateway, target::Target};\nlet x = crate::app::model::plan(); crate::outln!(\"\");",
        &own,
    );
    let shown: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        shown,
        [
            "cluster::gateway",
            "cluster::target::Target",
            "app::model::plan",
            ""
        ]
    );
    let from_mod = named_paths("use super::x;", &["cluster".to_owned()]);
    assert_eq!(from_mod, [vec!["x".to_owned()]]);
}

#[test]
fn no_cli_module_imports_a_sibling_command() {
    for (_, src) in crates() {
        let cli = src.join("cli");
        if !cli.is_dir() {
            continue;
        }
        let commands: Vec<String> = fs::read_dir(&cli)
            .unwrap()
            .map(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .trim_end_matches(".rs")
                    .to_owned()
            })
            .filter(|name| name != "mod" && name != "progress")
            .collect();
        for command in &commands {
            let text = fs::read_to_string(cli.join(format!("{command}.rs"))).unwrap();
            for other in commands.iter().filter(|c| *c != command) {
                for form in [
                    format!("super::{other}::"),
                    format!("super::super::{other}"),
                    format!("crate::cli::{other}::"),
                    format!("super::{other};"),
                ] {
                    assert!(
                        !text.contains(&form),
                        "cli/{command}.rs imports cli/{other}.rs ({form})"
                    );
                }
            }
        }
    }
}

/// The split between the everyday path and the operations is the crate
/// boundary, not a feature: nothing is compiled out.
#[test]
fn no_ops_feature_and_one_lock_file() {
    let mut files = Vec::new();
    for (_, src) in crates() {
        files.extend(rust_files(src.parent().unwrap()));
    }
    let needle = ["feature = ", "\"ops\""].concat();
    for file in &files {
        let code = code_of(&fs::read_to_string(file).unwrap());
        assert!(!code.contains(&needle), "{} has {needle}", file.display());
    }
    let mut locks = Vec::new();
    for dir in [
        workspace(),
        workspace().join("crates"),
        workspace().join("xtask"),
    ] {
        let mut found = Vec::new();
        files_with(&dir, "lock", &mut found);
        locks.extend(
            found
                .into_iter()
                .filter(|p| !p.components().any(|c| c.as_os_str() == "target"))
                .filter(|p| p.file_name().is_some_and(|n| n == "Cargo.lock")),
        );
    }
    locks.sort();
    locks.dedup();
    assert_eq!(locks, [workspace().join("Cargo.lock")]);
}

/// What `cargo xtask` compiles for the everyday commands reaches no
/// network, TLS, archive or progress-bar crate.
#[test]
fn the_core_crate_reaches_no_http_tls_or_archive_crate() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    for package in ["stagecraft-core", "xtask"] {
        let out = Command::new(&cargo)
            .args(["tree", "--locked", "--offline", "--prefix", "none"])
            .args(["--edges", "normal,build", "--package", package])
            .current_dir(workspace())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cargo tree: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let tree = String::from_utf8_lossy(&out.stdout);
        let crates: BTreeSet<&str> = tree
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert!(crates.contains("clap"), "{tree}");
        let heavy = [
            "ureq",
            "rustls",
            "ring",
            "webpki",
            "hyper",
            "reqwest",
            "h2",
            "native-tls",
            "openssl",
            "flate2",
            "tar",
            "zip",
            "miniz_oxide",
            "zlib-rs",
            "indicatif",
            "sha2",
            "hmac",
            "toml_edit",
            "vt100",
            "rcgen",
        ];
        let found: Vec<&&str> = heavy
            .iter()
            .filter(|h| {
                crates
                    .iter()
                    .any(|c| c == *h || c.starts_with(&format!("{h}-")))
            })
            .collect();
        assert!(found.is_empty(), "{package} depends on {found:?}:\n{tree}");
    }
}

#[test]
fn no_source_file_is_over_700_lines() {
    let mut files = Vec::new();
    for (_, src) in crates() {
        files.extend(rust_files(src.parent().unwrap()));
    }
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = fs::read_to_string(f).unwrap().lines().count();
            (lines > 700).then(|| format!("{} ({lines})", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "over 700 lines: {long:?}");
}

/// docs/architecture.md: every path it names in backquotes exists, from
/// the workspace root or (in a crate's table) from that crate's `src/`.
#[test]
fn the_architecture_doc_names_only_files_that_exist() {
    let doc = fs::read_to_string(workspace().join("docs/architecture.md")).unwrap();
    let bases: Vec<PathBuf> = std::iter::once(workspace())
        .chain(crates().into_iter().map(|(_, src)| src))
        .collect();
    let mut named = 0;
    for (i, piece) in doc.split('`').enumerate() {
        if i % 2 == 0 {
            continue;
        }
        let looks_like_path = piece.contains('/')
            && !piece.contains(' ')
            && !piece.contains('<')
            && !piece.contains('*')
            && !piece.starts_with("--")
            && (piece.ends_with(".rs")
                || piece.ends_with('/')
                || piece.ends_with(".toml")
                || piece.ends_with(".md")
                || piece.ends_with(".bash")
                || piece.ends_with(".zsh")
                || piece.ends_with(".fish")
                || piece.ends_with(".rc"));
        if !looks_like_path {
            continue;
        }
        named += 1;
        assert!(
            bases.iter().any(|base| base.join(piece).exists()),
            "docs/architecture.md names `{piece}`, which does not exist"
        );
    }
    assert!(named > 40, "the map names only {named} files");
}

fn shell_installed(shell: &str) -> PathBuf {
    ["/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(shell))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{shell} is not installed: apt-get install -y {shell}"))
}

#[test]
fn the_shell_scripts_parse_in_their_shells() {
    let shells = workspace().join("crates/core/src/stage/shells");
    let cases: [(&str, &[&str], &str); 7] = [
        ("bash", &["-n"], "bash.rc"),
        ("zsh", &["-n"], "zsh/zshenv.zsh"),
        ("zsh", &["-n"], "zsh/zshrc.zsh"),
        ("fish", &["--no-execute"], "fish.fish"),
        ("bash", &["-n"], "detect.bash"),
        ("zsh", &["-n"], "zsh/detect.zsh"),
        ("fish", &["--no-execute"], "detect.fish"),
    ];
    for (shell, flags, file) in cases {
        let out = Command::new(shell_installed(shell))
            .args(flags)
            .arg(shells.join(file))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{shell} {flags:?} {file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
