//! Pins: `deps lock`, mirrors and proxies, dry runs, bad and unpinned pins.

use crate::deps::{PLATFORM, Tool, deps_toml, four_tools, setup, sha256};
use std::fs;

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
