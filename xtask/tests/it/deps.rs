//! `xtask deps`: verified, atomic, parallel downloads from a real HTTP
//! server on 127.0.0.1.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::http::{Fault, Server};
use crate::support::TestRepo;

const PLATFORM: &str = "linux-amd64";

pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
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
fn set_raw_name(header: &mut tar::Header, name: &str) {
    let field = &mut header.as_old_mut().name;
    field.fill(0);
    field[..name.len()].copy_from_slice(name.as_bytes());
}

fn tar_gz_with_symlink(name: &str, target: &str) -> Vec<u8> {
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

fn bin_entries(repo: &TestRepo) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(repo.root.join("deps/bin"))
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
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

#[test]
fn lock_rewrites_checksums_from_the_official_files_and_keeps_comments() {
    let tools = four_tools(10);
    let (repo, server) = setup(&tools);
    let mut sums = Vec::new();
    for tool in &tools {
        for (i, platform) in ["linux-amd64", "linux-arm64", "darwin-amd64", "darwin-arm64"]
            .iter()
            .enumerate()
        {
            let (os, arch) = platform.split_once('-').unwrap();
            let url = tool
                .url
                .replace("{version}", "9.9.9")
                .replace("{os}", os)
                .replace("{arch}", arch);
            let sum = sha256(format!("{}-{platform}-{i}", tool.name).as_bytes());
            let path = format!("/{}.sha256", url.trim_start_matches("https://"));
            server.put(
                &path,
                format!("{sum}  {}\n", url.rsplit('/').next().unwrap()),
            );
            sums.push((tool.name, *platform, sum));
        }
    }
    let before = repo.read("deps/deps.toml");
    let all_versions = before
        .replace("1.35.2", "9.9.9")
        .replace("4.1.4", "9.9.9")
        .replace("2.17.2", "9.9.9")
        .replace("0.30.0", "9.9.9");
    repo.write("deps/deps.toml", &all_versions);
    repo.run(["deps", "lock", "--dry-run"]).ok();
    assert_eq!(repo.read("deps/deps.toml"), all_versions, "--dry-run wrote");
    repo.run(["deps", "lock"]).ok();
    let after = repo.read("deps/deps.toml");
    for (name, platform, sum) in &sums {
        assert!(
            after.contains(&format!("{platform} = \"{sum}\"")),
            "{name} {platform} not pinned:\n{after}"
        );
    }
    // Everything but the sums is byte-for-byte what it was.
    let mut expected = all_versions.clone();
    for tool in &tools {
        expected = expected.replace(&tool.sha(), "SUM");
    }
    expected = expected.replace(&"0".repeat(64), "SUM");
    let mut got = after.clone();
    for (_, _, sum) in &sums {
        got = got.replace(sum, "SUM");
    }
    assert_eq!(got, expected);
    assert!(after.starts_with("# Pinned tools (test)\n# keep this comment\n"));
    assert!(after.contains("version = \"9.9.9\" # pinned"));

    // --version moves one tool.
    let url = "storage.googleapis.com/skaffold/releases/v3.0.0/skaffold-";
    for platform in ["linux-amd64", "linux-arm64", "darwin-amd64", "darwin-arm64"] {
        server.put(
            &format!("/{url}{platform}.sha256"),
            format!("{}\n", sha256(platform.as_bytes())),
        );
    }
    repo.run(["deps", "lock", "skaffold", "--version", "3.0.0"])
        .ok();
    let moved = repo.read("deps/deps.toml");
    assert!(moved.contains("version = \"3.0.0\" # pinned"), "{moved}");
    assert!(moved.contains(&sha256(b"darwin-arm64")));
}

#[test]
fn a_file_mirror_works_without_network() {
    let tools = four_tools(10);
    let (mut repo, server) = setup(&tools);
    let mirror = repo.tmp.join("mirror");
    for tool in &tools {
        let path = mirror.join(tool.path.trim_start_matches('/'));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, &tool.body).unwrap();
    }
    repo.env.insert(
        "XTASK_DEPS_MIRROR".into(),
        format!("file://{}", mirror.display()),
    );
    repo.run(["deps", "install"]).ok();
    assert_eq!(server.total_hits(), 0);
    repo.run(["run", "local", "--", "kind"])
        .ok()
        .stdout_has("kind fake v0.30.0");
}

#[test]
fn https_proxy_is_used_and_no_proxy_is_honoured() {
    let tools = four_tools(10);
    let (mut repo, server) = setup(&tools[..1]);
    // The mirror's host does not resolve: only the proxy can reach it.
    repo.env
        .insert("XTASK_DEPS_MIRROR".into(), "http://mirror.invalid".into());
    repo.env.insert("HTTPS_PROXY".into(), server.base());
    repo.run(["deps", "install"]).ok();
    assert_eq!(server.proxied(), ["mirror.invalid:80"]);
    assert_eq!(server.hits(&tools[0].path), 1);

    let (mut repo, server) = setup(&tools[..1]);
    repo.env
        .insert("HTTPS_PROXY".into(), "http://127.0.0.1:9".into());
    repo.env.insert("NO_PROXY".into(), "127.0.0.1".into());
    repo.run(["deps", "install"]).ok();
    assert_eq!(server.hits(&tools[0].path), 1);
}

#[test]
fn install_dry_run_prints_the_downloads_and_changes_nothing() {
    let tools = four_tools(10);
    let (repo, server) = setup(&tools);
    let run = repo.run(["deps", "install", "--dry-run"]);
    run.ok();
    for tool in &tools {
        run.stdout_has(&format!(
            "download {}{} -> deps/bin/{}",
            server.base(),
            tool.path,
            tool.name
        ));
    }
    assert_eq!(server.total_hits(), 0);
    assert!(!repo.root.join("deps/bin").exists());
}

#[test]
fn unknown_tool_suggests_the_closest() {
    let tools = four_tools(10);
    let (repo, _server) = setup(&tools);
    repo.run(["deps", "install", "kubctl"])
        .fails()
        .stderr_has("did you mean `kubectl`?");
}

#[test]
fn a_bad_pin_names_file_and_line() {
    let tools = four_tools(10);
    let (repo, _server) = setup(&tools);
    let toml = repo
        .read("deps/deps.toml")
        .replace("darwin-arm64 = ", "darwin-arm46 = ");
    repo.write("deps/deps.toml", &toml);
    repo.run(["deps", "list"])
        .fails()
        .stderr_has("deps/deps.toml:")
        .stderr_has("did you mean `darwin-arm64`?");
}

/// deps.toml for `tools` with no sha256 at all for the tools named in
/// `unpinned`.
fn with_unpinned(tools: &[Tool], unpinned: &[&str]) -> String {
    let mut text = deps_toml(tools);
    for name in unpinned {
        let start = text.find(&format!("\n[tools.{name}.sha256]\n")).unwrap();
        let end = text[start + 1..]
            .find("\n\n")
            .map_or(text.len(), |e| start + 1 + e);
        text.replace_range(start..end, "");
    }
    text
}

/// A tool without a pin is pinned on first use from its official checksum
/// file (bare hex, or `hex  name`), written into deps.toml with every
/// comment kept, then verified; `--locked` and CI refuse, naming every
/// unpinned tool at once.
#[test]
fn an_unpinned_tool_is_pinned_on_first_use_unless_locked() {
    let tools = four_tools(10);
    let (repo, server) = setup(&tools);
    let text = with_unpinned(&tools, &["skaffold", "kind"]);
    repo.write("deps/deps.toml", &text);
    // skaffold's checksum file is bare hex, for every platform; kind's is
    // `hex  name`, for this machine's platform only.
    for platform in ["linux-amd64", "linux-arm64", "darwin-amd64", "darwin-arm64"] {
        let (os, arch) = platform.split_once('-').unwrap();
        let sum = if platform == PLATFORM {
            tools[2].sha()
        } else {
            sha256(platform.as_bytes())
        };
        server.put(
            &format!(
                "/storage.googleapis.com/skaffold/releases/v2.17.2/skaffold-{os}-{arch}.sha256"
            ),
            format!("{sum}\n"),
        );
    }
    server.put(
        &format!("{}.sha256", tools[3].path),
        format!("{}  kind-linux-amd64.zip\n", tools[3].sha()),
    );

    for run in [repo.run(["deps", "install", "--locked"]), {
        let mut ci = repo.xtask("");
        ci.args(["deps", "install"]).env("CI", "true");
        crate::support::Run::from(ci.output().unwrap())
    }] {
        run.fails()
            .stderr_has("pins no sha256 for linux-amd64 of: kind, skaffold")
            .stderr_has("cargo xtask deps lock kind skaffold");
    }
    assert_eq!(
        repo.read("deps/deps.toml"),
        text,
        "a locked run wrote deps.toml"
    );
    assert_eq!(server.total_hits(), 0, "a locked run fetched something");

    let plan = repo.run(["deps", "install", "--dry-run"]);
    plan.ok()
        .stdout_has("# pin kind on first use: its sha256 from")
        .stdout_has("kind-linux-amd64.zip -> deps/bin/kind (sha256 pinned on first use)");
    assert_eq!(server.total_hits(), 0, "the dry run fetched something");

    let run = repo.run(["deps", "install"]);
    run.ok()
        .stdout_has(&format!(
            "pinned skaffold 2.17.2 linux-amd64 sha256 {}",
            tools[2].sha()
        ))
        .stdout_has("in deps/deps.toml: commit this change")
        .stderr_has("warning: kind 0.30.0 linux-arm64: cannot fetch the checksum file");
    let after = repo.read("deps/deps.toml");
    for line in text.lines() {
        assert!(after.contains(line), "lost {line:?}:\n{after}");
    }
    assert!(after.contains(&format!("linux-amd64 = \"{}\"", tools[3].sha())));
    assert!(after.contains(&format!("darwin-arm64 = \"{}\"", sha256(b"darwin-arm64"))));
    repo.run(["deps", "check"]).ok();
    repo.run(["deps", "install", "--locked"])
        .ok()
        .stderr_has("all 4 tools up to date");
}

/// A first-use pin whose download does not match it installs nothing.
#[test]
fn a_download_that_does_not_match_its_first_use_pin_is_refused() {
    let tools = four_tools(10);
    let (repo, server) = setup(&tools);
    repo.write("deps/deps.toml", &with_unpinned(&tools, &["kubectl"]));
    server.put(
        &format!("{}.sha256", tools[0].path),
        format!("{}\n", sha256(b"other")),
    );
    repo.run(["deps", "install", "kubectl"])
        .fails()
        .stderr_has("checksum mismatch");
    assert!(!repo.root.join("deps/bin/kubectl").exists());
}
