//! The module map holds: no import circles between the crate's modules,
//! no `cli/` module imports a sibling command module, and the shell
//! scripts parse in their shells.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::workspace;

fn src() -> PathBuf {
    workspace().join("xtask/src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to: `cluster/kind.rs` is `cluster`.
fn module_of(file: &Path) -> String {
    let rel = file.strip_prefix(src()).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// Every `crate::NAME` a file mentions (macros like `crate::outln!` are
/// not modules), comments left out.
fn crate_refs(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let is_macro = after[name.len()..].starts_with('!');
            if !name.is_empty() && !is_macro {
                out.insert(name.clone());
            }
            // `use crate::{a, b}`: each name in the braces.
            if name.is_empty() && after.starts_with('{') {
                let inner = after[1..].split('}').next().unwrap_or("");
                for part in inner.split(',') {
                    let head: String = part
                        .trim()
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !head.is_empty() {
                        out.insert(head);
                    }
                }
            }
            rest = &after[name.len()..];
        }
    }
    out
}

#[test]
fn no_import_circles_between_modules() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let modules: BTreeSet<String> = files
        .iter()
        .map(|f| module_of(f))
        .filter(|m| m != "lib" && m != "main" && m != "ops_main")
        .collect();
    for file in &files {
        let from = module_of(file);
        let text = fs::read_to_string(file).unwrap();
        for to in crate_refs(&text) {
            if to != from && modules.contains(&to) {
                graph.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        open: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(pos) = open.iter().position(|n| n == node) {
            let mut cycle = open[pos..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        open.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, open, done) {
                return Some(cycle);
            }
        }
        open.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for module in &modules {
        if let Some(cycle) = visit(module, &graph, &mut Vec::new(), &mut done) {
            panic!("an import circle: {}", cycle.join(" -> "));
        }
    }
    // The seams stay at the bottom.
    for bottom in ["quote", "suggest", "user_env", "ui"] {
        assert!(
            graph
                .get(bottom)
                .is_none_or(|deps| deps.iter().all(|d| d == "ui" || d == "user_env")),
            "{bottom} imports {:?}",
            graph.get(bottom)
        );
    }
}

#[test]
fn no_cli_module_imports_a_sibling_command() {
    let cli = src().join("cli");
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

fn shell_installed(shell: &str) -> PathBuf {
    ["/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(shell))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{shell} is not installed: apt-get install -y {shell}"))
}

#[test]
fn the_shell_scripts_parse_in_their_shells() {
    let shells = src().join("shells");
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
