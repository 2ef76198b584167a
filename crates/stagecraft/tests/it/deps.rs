//! `xtask deps`: verified, atomic, parallel downloads from a real HTTP
//! server on 127.0.0.1.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::http::{Fault, Server};
use crate::support::TestRepo;

pub const PLATFORM: &str = "linux-amd64";

/// SHA-256 in hex, straight from ring (not through the program's helpers).
pub fn sha256(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A small executable that says who it is.
pub fn script(name: &str, version: &str, padding: usize) -> Vec<u8> {
    let mut text = format!("#!/bin/sh\necho \"{name} fake v{version} $*\"\n");
    text.push('#');
    text.push_str(&"x".repeat(padding));
    text.push('\n');
    text.into_bytes()
}

pub fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (path, body) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o755);
        header.set_entry_type(tar::EntryType::Regular);
        set_raw_name(&mut header, path);
        header.set_cksum();
        builder.append(&header, *body).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// Writes the name as given, `..` and all: the tar crate's own setter
/// refuses what a malicious archive holds.
pub fn set_raw_name(header: &mut tar::Header, name: &str) {
    let field = &mut header.as_old_mut().name;
    field.fill(0);
    field[..name.len()].copy_from_slice(name.as_bytes());
}

pub fn tar_gz_with_symlink(name: &str, target: &str) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut header = tar::Header::new_gnu();
    header.set_size(0);
    header.set_entry_type(tar::EntryType::Symlink);
    set_raw_name(&mut header, name);
    let link = &mut header.as_old_mut().linkname;
    link[..target.len()].copy_from_slice(target.as_bytes());
    header.set_cksum();
    builder.append(&header, &[][..]).unwrap();
    let body = script("helm", "4.1.4", 10);
    let mut header = tar::Header::new_gnu();
    header.set_size(body.len() as u64);
    header.set_mode(0o755);
    set_raw_name(&mut header, "linux-amd64/helm");
    header.set_cksum();
    builder.append(&header, &body[..]).unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

pub fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .unix_permissions(0o755);
    for (path, body) in entries {
        writer.start_file(*path, options).unwrap();
        writer.write_all(body).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// One pinned tool: how deps.toml names it and what the server holds.
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
    pub url: &'static str,
    pub archive: &'static str,
    pub binary: Option<&'static str>,
    /// The server path of the host platform's download.
    pub path: String,
    pub body: Vec<u8>,
}

impl Tool {
    pub fn sha(&self) -> String {
        sha256(&self.body)
    }
}

/// kubectl and skaffold raw, helm a tar.gz, kind a zip; `padding` sets
/// their size.
pub fn four_tools(padding: usize) -> Vec<Tool> {
    let raw = |name: &'static str, version: &'static str, url: &'static str, path: String| Tool {
        name,
        version,
        url,
        archive: "raw",
        binary: None,
        path,
        body: script(name, version, padding),
    };
    vec![
        raw(
            "kubectl",
            "1.35.2",
            "https://dl.k8s.io/release/v{version}/bin/{os}/{arch}/kubectl",
            "/dl.k8s.io/release/v1.35.2/bin/linux/amd64/kubectl".into(),
        ),
        Tool {
            name: "helm",
            version: "4.1.4",
            url: "https://get.helm.sh/helm-v{version}-{os}-{arch}.tar.gz",
            archive: "tar.gz",
            binary: Some("{os}-{arch}/helm"),
            path: "/get.helm.sh/helm-v4.1.4-linux-amd64.tar.gz".into(),
            body: tar_gz(&[
                ("linux-amd64/README.md", b"helm\n"),
                ("linux-amd64/helm", &script("helm", "4.1.4", padding)),
            ]),
        },
        raw(
            "skaffold",
            "2.17.2",
            "https://storage.googleapis.com/skaffold/releases/v{version}/skaffold-{os}-{arch}",
            "/storage.googleapis.com/skaffold/releases/v2.17.2/skaffold-linux-amd64".into(),
        ),
        Tool {
            name: "kind",
            version: "0.30.0",
            url: "https://github.com/kubernetes-sigs/kind/releases/download/v{version}/kind-{os}-{arch}.zip",
            archive: "zip",
            binary: Some("kind"),
            path: "/github.com/kubernetes-sigs/kind/releases/download/v0.30.0/kind-linux-amd64.zip"
                .into(),
            body: zip(&[("kind", &script("kind", "0.30.0", padding))]),
        },
    ]
}

/// deps.toml for these tools, pinned for the host platform (the other
/// platforms get placeholder pins that `deps lock` replaces).
pub fn deps_toml(tools: &[Tool]) -> String {
    let mut text = String::from("# Pinned tools (test)\n# keep this comment\n");
    for tool in tools {
        text.push_str(&format!(
            "\n# {} comment\n[tools.{}]\nversion = \"{}\" # pinned\nurl = \"{}\"\narchive = \"{}\"\nchecksum_url = \"{}.sha256\"\n",
            tool.name, tool.name, tool.version, tool.url, tool.archive, tool.url
        ));
        if let Some(binary) = tool.binary {
            text.push_str(&format!("binary = \"{binary}\"\n"));
        }
        text.push_str(&format!(
            "\n[tools.{}.sha256]\n{PLATFORM} = \"{}\" # host\n",
            tool.name,
            tool.sha()
        ));
        for other in ["linux-arm64", "darwin-amd64", "darwin-arm64"] {
            text.push_str(&format!("{other} = \"{}\"\n", "0".repeat(64)));
        }
    }
    text
}

/// The example repository with these tools pinned and served.
pub fn setup(tools: &[Tool]) -> (TestRepo, Server) {
    let mut repo = TestRepo::example();
    let server = Server::start();
    repo.write("deps/deps.toml", &deps_toml(tools));
    for tool in tools {
        server.put(&tool.path, tool.body.clone());
    }
    repo.env.insert("XTASK_DEPS_MIRROR".into(), server.base());
    (repo, server)
}

pub fn bin_entries(repo: &TestRepo) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(repo.root.join("deps/bin"))
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

pub fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            out.push((
                path.display().to_string(),
                fs::read(&path).unwrap_or_default(),
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn installs_four_tools_then_a_second_run_makes_no_request() {
    let tools = four_tools(1000);
    let (repo, server) = setup(&tools);
    let run = repo.run(["deps", "install"]);
    run.ok();
    for tool in &tools {
        assert_eq!(server.hits(&tool.path), 1, "{}", tool.name);
        assert!(
            run.stdout
                .contains(&format!("{} {} installed", tool.name, tool.version)),
            "{run:#?}"
        );
        // It runs, from deps/bin, through the stage's PATH.
        repo.run(["run", "local", "--", tool.name, "--version"])
            .ok()
            .stdout_has(&format!("{} fake v{} --version", tool.name, tool.version));
    }
    assert_eq!(
        bin_entries(&repo),
        [
            ".stagecraft-installed.json",
            "helm",
            "kind",
            "kubectl",
            "skaffold"
        ],
        "nothing else lands in deps/bin"
    );

    let before = server.total_hits();
    repo.run(["deps", "install"])
        .ok()
        .stderr_has("all 4 tools up to date");
    assert_eq!(server.total_hits(), before, "the second run made a request");
    repo.run(["deps", "check"]).ok();

    let list = repo.run(["deps", "list", "--json"]).ok().json();
    let kubectl = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "kubectl")
        .unwrap();
    assert_eq!(kubectl["installed"], "1.35.2");
    assert_eq!(kubectl["status"], "up-to-date");
    assert_eq!(
        kubectl["resolved"],
        repo.root.join("deps/bin/kubectl").display().to_string()
    );
}

#[test]
fn check_fails_when_missing_stale_or_modified() {
    let tools = four_tools(10);
    let (repo, _server) = setup(&tools);
    repo.run(["deps", "check"])
        .fails()
        .stderr_has("kubectl: missing");
    repo.run(["deps", "install"]).ok();
    repo.run(["deps", "check"]).ok();
    // Another version pinned: stale.
    let toml = repo
        .read("deps/deps.toml")
        .replace("version = \"2.17.2\"", "version = \"2.18.0\"");
    repo.write("deps/deps.toml", &toml);
    repo.run(["deps", "check"])
        .fails()
        .stderr_has("skaffold: stale (installed 2.17.2)");
    // Replaced by hand: modified, and install puts the pinned one back.
    fs::write(repo.root.join("deps/bin/helm"), "#!/bin/sh\necho other\n").unwrap();
    repo.run(["deps", "check", "--json"])
        .fails()
        .stdout_has("\"modified\"");
}

#[test]
fn checksum_mismatch_names_tool_url_and_both_sums_and_changes_nothing() {
    let tools = four_tools(10);
    let (repo, server) = setup(&tools);
    repo.run(["deps", "install", "kubectl"]).ok();
    let before = tree(&repo.root.join("deps/bin"));
    let tampered = b"#!/bin/sh\necho evil\n".to_vec();
    server.put(&tools[1].path, tampered.clone());
    let run = repo.run(["deps", "install", "helm"]);
    run.fails()
        .stderr_has("helm 4.1.4: checksum mismatch for")
        .stderr_has(&format!("{}{}", server.base(), tools[1].path))
        .stderr_has(&format!("expected sha256 {}", tools[1].sha()))
        .stderr_has(&format!("actual   sha256 {}", sha256(&tampered)))
        .stderr_has("nothing was installed");
    assert_eq!(
        tree(&repo.root.join("deps/bin")),
        before,
        "deps/bin changed"
    );
    assert_eq!(
        server.hits(&tools[1].path),
        1,
        "a checksum mismatch is not retried"
    );
}

#[test]
fn transient_failures_are_retried_and_404_is_not() {
    let tools = four_tools(50_000);
    let (repo, server) = setup(&tools);
    server.fault(&tools[0].path, Fault::DropMidBody);
    server.fault(&tools[1].path, Fault::Status(500));
    server.fault(&tools[2].path, Fault::Status(503));
    repo.run(["deps", "install"]).ok();
    assert_eq!(server.hits(&tools[0].path), 2);
    assert_eq!(server.hits(&tools[1].path), 2);
    assert_eq!(server.hits(&tools[2].path), 2);
    assert_eq!(server.hits(&tools[3].path), 1);
    repo.run(["run", "local", "--", "kubectl"])
        .ok()
        .stdout_has("kubectl fake v1.35.2");

    let toml = repo
        .read("deps/deps.toml")
        .replace("version = \"0.30.0\"", "version = \"0.31.0\"");
    repo.write("deps/deps.toml", &toml);
    let missing = tools[3].path.replace("0.30.0", "0.31.0");
    let run = repo.run(["deps", "install", "kind"]);
    run.fails()
        .stderr_has(&format!("GET {}{missing}: HTTP 404", server.base()));
    assert_eq!(server.hits(&missing), 1, "a 404 is not retried");
}

#[test]
fn sigkill_mid_download_leaves_nothing_half_installed() {
    let tools = four_tools(200_000);
    let (repo, server) = setup(&tools);
    server.fault(&tools[0].path, Fault::StallMidBody);
    let mut child = repo
        .xtask("")
        .args(["deps", "install", "kubectl"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let part = repo
        .root
        .join("deps/.cache/kubectl-1.35.2-linux-amd64.part");
    let start = Instant::now();
    while fs::metadata(&part).map_or(0, |m| m.len()) < 100_000 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the download never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(
        bin_entries(&repo),
        Vec::<String>::new(),
        "something landed in deps/bin"
    );

    repo.run(["deps", "install", "kubectl"]).ok();
    assert_eq!(
        bin_entries(&repo),
        [".stagecraft-installed.json", "kubectl"]
    );
    assert!(!part.exists(), "the partial download was left behind");
    repo.run(["run", "local", "--", "kubectl"])
        .ok()
        .stdout_has("kubectl fake");
}

#[test]
fn two_concurrent_installs_download_each_file_once() {
    let tools = four_tools(300_000);
    let (repo, server) = setup(&tools);
    server.limit_rate(1_000_000);
    let spawn = || {
        repo.xtask("")
            .args(["deps", "install"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let first = spawn();
    let second = spawn();
    for child in [first, second] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for tool in &tools {
        assert_eq!(server.hits(&tool.path), 1, "{} downloaded twice", tool.name);
    }
    repo.run(["deps", "check"]).ok();
}

#[test]
fn unsafe_archive_entries_are_refused_and_nothing_is_written() {
    let body = script("helm", "4.1.4", 10);
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "tar.gz",
            tar_gz(&[("../evil", b"x"), ("linux-amd64/helm", &body)]),
            "{os}-{arch}/helm",
            "`../evil` climbs out",
        ),
        (
            "tar.gz",
            tar_gz(&[("/tmp/stagecraft-evil", b"x"), ("linux-amd64/helm", &body)]),
            "{os}-{arch}/helm",
            "absolute path",
        ),
        (
            "tar.gz",
            tar_gz_with_symlink("linux-amd64/link", "../../../etc/passwd"),
            "{os}-{arch}/helm",
            "outside the archive",
        ),
        (
            "tar.gz",
            tar_gz_with_symlink("linux-amd64/abs", "/etc/passwd"),
            "{os}-{arch}/helm",
            "links to the absolute path",
        ),
        (
            "zip",
            zip(&[("../evil", b"x"), ("kind", &body)]),
            "kind",
            "`../evil` climbs out",
        ),
    ];
    for (archive, bytes, binary, message) in cases {
        let mut tools = four_tools(10);
        tools.truncate(2);
        tools[1].archive = if archive == "zip" { "zip" } else { "tar.gz" };
        tools[1].binary = Some(binary);
        tools[1].body = bytes;
        let (repo, _server) = setup(&tools);
        let run = repo.run(["deps", "install", "helm"]);
        run.fails()
            .stderr_has(message)
            .stderr_has("refusing the archive");
        assert!(!repo.root.join("deps/bin/helm").exists(), "{message}");
        assert_eq!(
            bin_entries(&repo),
            Vec::<String>::new(),
            "{message}: something was written"
        );
        assert!(!repo.root.join("deps/evil").exists() && !repo.root.join("evil").exists());
        assert!(!Path::new("/tmp/stagecraft-evil").exists());
    }
}
