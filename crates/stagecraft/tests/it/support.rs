//! A temp copy of an example monorepo and the real `xtask` binary run in it,
//! with HOME sandboxed and a controlled environment.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tempfile::TempDir;

pub const XTASK: &str = env!("CARGO_BIN_EXE_stagecraft");

/// The workspace root: the example monorepo the tests copy.
pub fn workspace() -> PathBuf {
    // This package is crates/stagecraft: the workspace is two folders up.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_owned()
}

/// The team's fixtures (`../shared/fixtures`): real upstream artifacts.
pub fn shared_fixtures() -> PathBuf {
    let dir = workspace().join("../shared/fixtures");
    assert!(
        dir.join("README.md").is_file(),
        "{} is missing: the team's fixtures are at ../shared/fixtures from the repository",
        dir.display()
    );
    dir
}

/// The real helm, kubectl and kubernetes-validate that `.ci/tools.sh` installs.
pub fn test_tool(name: &str) -> PathBuf {
    let path = workspace().join("target/test-tools/bin").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `bash .ci/tools.sh` to install the real helm, kubectl and kubernetes-validate for the tests",
        path.display()
    );
    path
}

/// A kubeconfig as kind or a cloud's CLI writes it: one context, with its
/// cluster (`server`) and user.
pub fn kubeconfig(context: &str, server: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster: {{server: '{server}'}}\n  name: {context}\n\
         contexts:\n- context: {{cluster: {context}, user: {context}}}\n  name: {context}\n\
         current-context: {context}\nusers:\n- name: {context}\n  user: {{token: fake}}\n"
    )
}

/// A kubeconfig whose first context is `context`, with `others` beside it
/// (what `aws eks update-kubeconfig` into a shared file leaves).
pub fn kubeconfig_with_others(context: &str, server: &str, others: &[(&str, &str)]) -> String {
    let all: Vec<(&str, &str)> = std::iter::once((context, server))
        .chain(others.iter().copied())
        .collect();
    let mut text = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for (name, server) in &all {
        text.push_str(&format!(
            "- cluster: {{server: '{server}'}}\n  name: {name}\n"
        ));
    }
    text.push_str("contexts:\n");
    for (name, _) in &all {
        text.push_str(&format!(
            "- context: {{cluster: {name}, user: {name}}}\n  name: {name}\n"
        ));
    }
    text.push_str(&format!("current-context: {context}\nusers:\n"));
    for (name, _) in &all {
        text.push_str(&format!(
            "- name: {name}\n  user: {{token: token-of-{name}}}\n"
        ));
    }
    text
}

/// The database password of the example's staging stage.
pub const STAGE_DB_PASSWORD: &str = "stage-db-secret-1c2d";
/// ... and of prod, from its password store.
pub const PROD_DB_PASSWORD: &str = "prod-db-secret-7f3a";

pub struct TestRepo {
    _dir: TempDir,
    /// The monorepo root.
    pub root: PathBuf,
    /// The sandboxed HOME.
    pub home: PathBuf,
    /// TMPDIR of the commands, to check that nothing is left behind.
    pub tmp: PathBuf,
    /// Folders put in front of the base PATH (tests add fakes or real tools).
    pub extra_path: Vec<PathBuf>,
    pub env: BTreeMap<String, String>,
}

impl TestRepo {
    /// A copy of this repository's example monorepo.
    pub fn example() -> TestRepo {
        let repo = TestRepo::blank();
        let src = workspace();
        for entry in [
            "shell.toml",
            "envs",
            "clusters",
            "comm",
            "deps",
            ".gitignore",
        ] {
            copy_tree(&src.join(entry), &repo.root.join(entry));
        }
        repo
    }

    /// The example's secrets: staging's database password from the
    /// environment, prod's from a password store (a fake `pass` on PATH).
    /// Distinct values, so that a test can tell where one leaked.
    pub fn provide_example_secrets(&mut self) {
        self.env
            .insert("PHOTOS_DB_PASSWORD".into(), STAGE_DB_PASSWORD.into());
        let bin = self.home.parent().unwrap().join("secret-bin");
        fs::create_dir_all(&bin).unwrap();
        let pass = bin.join("pass");
        fs::write(
            &pass,
            format!("#!/bin/sh\n[ \"$1 $2\" = \"show hmlet/prod/photos-db\" ] && echo {PROD_DB_PASSWORD}\n"),
        )
        .unwrap();
        fs::set_permissions(&pass, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        self.extra_path.push(bin);
    }

    /// A repository with only the files given.
    pub fn with_files(files: &[(&str, &str)]) -> TestRepo {
        let repo = TestRepo::blank();
        for (rel, text) in files {
            repo.write(rel, text);
        }
        repo
    }

    /// A copy of tests/it/fixtures/NAME: a repository that is not ours.
    pub fn of_fixture(name: &str) -> TestRepo {
        let repo = TestRepo::blank();
        copy_tree(
            &workspace()
                .join("crates/stagecraft/tests/it/fixtures")
                .join(name),
            &repo.root,
        );
        repo
    }

    fn blank() -> TestRepo {
        let dir = tempfile::Builder::new()
            .prefix("stagecraft-it-")
            .tempdir()
            .unwrap();
        let base = dir.path().canonicalize().unwrap();
        let root = base.join("repo");
        let home = base.join("home");
        let tmp = base.join("tmp");
        for d in [&root, &home, &tmp] {
            fs::create_dir_all(d).unwrap();
        }
        TestRepo {
            _dir: dir,
            root,
            home,
            tmp,
            extra_path: Vec::new(),
            env: BTreeMap::new(),
        }
    }

    pub fn write(&self, rel: &str, text: &str) {
        let path = self.root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.root.join(rel)).unwrap()
    }

    /// PATH for the commands: the extra folders, then the system's.
    pub fn path(&self) -> String {
        let mut dirs: Vec<String> = self
            .extra_path
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        dirs.extend(["/usr/local/bin", "/usr/bin", "/bin"].map(str::to_owned));
        dirs.join(":")
    }

    /// The environment every command starts from: nothing of the developer's.
    pub fn base_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("HOME".to_owned(), self.home.display().to_string()),
            ("PATH".to_owned(), self.path()),
            ("TMPDIR".to_owned(), self.tmp.display().to_string()),
            ("LANG".to_owned(), "C.UTF-8".to_owned()),
            ("NO_COLOR".to_owned(), "1".to_owned()),
        ];
        env.extend(self.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        env
    }

    pub fn xtask(&self, dir: &str) -> Command {
        let mut cmd = Command::new(XTASK);
        cmd.env_clear()
            .envs(self.base_env())
            .current_dir(self.root.join(dir))
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `xtask ARGS` at the root.
    pub fn run<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I) -> Run {
        self.run_in("", args)
    }

    pub fn run_in<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, dir: &str, args: I) -> Run {
        let mut cmd = self.xtask(dir);
        cmd.args(args);
        Run::from(cmd.output().unwrap())
    }

    /// The `completions` scripts of `shells`, written to files: their paths.
    pub fn completion_scripts(&self, shells: &[&str]) -> Vec<PathBuf> {
        let dir = self.tmp.join("completions");
        fs::create_dir_all(&dir).unwrap();
        shells
            .iter()
            .map(|shell| {
                let path = dir.join(shell);
                fs::write(&path, &self.run(["completions", shell]).ok().stdout).unwrap();
                path
            })
            .collect()
    }

    /// `program ARGS CODE` in `dir` (a shell running completion code, with
    /// STAGECRAFT_XTASK set as a user's would be): its stdout. It must
    /// succeed and print nothing on stderr.
    pub fn shell_code(&self, dir: &str, program: &str, args: &[&str], code: &str) -> String {
        let out = Command::new(program)
            .args(args)
            .arg(code)
            .current_dir(self.root.join(dir))
            .env("HOME", &self.home)
            .env("STAGECRAFT_XTASK", XTASK)
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{program}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every file under the root with its contents, to show that a command
    /// wrote nothing.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        snapshot_into(&self.root, &mut out);
        out
    }
}

fn snapshot_into(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.insert(path.clone(), Vec::new());
            snapshot_into(&path, out);
        } else {
            out.insert(path.clone(), fs::read(&path).unwrap());
        }
    }
}

pub fn copy_tree(src: &Path, dst: &Path) {
    if src.is_dir() {
        let name = src.file_name().and_then(|n| n.to_str()).unwrap_or("");
        // Downloads, kubeconfigs and builds of the developer's checkout
        // stay there.
        if name == "target"
            || (src.parent().is_some_and(|p| p.ends_with("deps"))
                && ["bin", "kube", ".cache"].contains(&name))
        {
            return;
        }
        fs::create_dir_all(dst).unwrap();
        for entry in fs::read_dir(src).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &dst.join(entry.file_name()));
        }
    } else {
        fs::copy(src, dst).unwrap();
    }
}

/// What a command did.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    #[track_caller]
    pub fn ok(&self) -> &Run {
        assert_eq!(self.code, Some(0), "expected success:\n{self:#?}");
        self
    }

    #[track_caller]
    pub fn fails(&self) -> &Run {
        assert!(
            self.code.is_some_and(|c| c != 0),
            "expected failure:\n{self:#?}"
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Run {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}:\n{self:#?}"
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Run {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{self:#?}"
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{self:#?}"))
    }
}
