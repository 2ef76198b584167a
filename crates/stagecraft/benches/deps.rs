//! `deps install` benchmark: a cold install of four 10 MB tools from a
//! loopback server that limits each connection to 10 MB/s (as real download
//! hosts do), against `curl` fetching the same four files one after another,
//! and a fully cached second run timed as a whole process.
//!
//! Budgets: cold install <= 0.35x the sequential curl total (checksums
//! included); cached run median <= 10 ms.
//!
//! Run: `cargo bench --bench deps` (see docs/benchmarks.md).

mod common;
use common::{median, ms, timed, write};

#[allow(dead_code)]
#[path = "../tests/it/http.rs"]
mod http;

use std::fmt::Write as _;
use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stagecraft::sha::Sha256;

const XTASK: &str = env!("CARGO_BIN_EXE_stagecraft");
const TOOLS: [&str; 4] = ["kubectl", "helm", "skaffold", "kind"];
const SIZE: usize = 10 * 1024 * 1024;
const RATE: u64 = 10 * 1024 * 1024;

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let (size, rounds, cached_runs) = if quick {
        (256 * 1024, 1, 5)
    } else {
        (SIZE, 3, 100)
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let server = http::Server::start();
    server.limit_rate(RATE);

    let mut toml = String::new();
    for (i, name) in TOOLS.iter().enumerate() {
        let body = payload(size, i as u8);
        let sha = stagecraft::sha::hex(&Sha256::digest(&body));
        server.put(&format!("/tools.example/{name}"), body);
        writeln!(
            toml,
            "[tools.{name}]\nversion = \"1.0.0\"\nurl = \"https://tools.example/{name}\"\nchecksum_url = \"https://tools.example/{name}.sha256\"\n[tools.{name}.sha256]\nlinux-amd64 = \"{sha}\"\nlinux-arm64 = \"{sha}\"\ndarwin-amd64 = \"{sha}\"\ndarwin-arm64 = \"{sha}\"\n"
        )
        .unwrap();
    }
    write(
        &root,
        "shell.toml",
        "[project]\nname = \"bench\"\ndefault_stage = \"local\"\n",
    );
    write(
        &root,
        "envs/local.toml",
        "emoji = \"🐣\"\ndescription = \"l\"\ntarget = \"kind\"\n",
    );
    write(&root, "deps/deps.toml", &toml);

    let install = || {
        timed(
            Command::new(XTASK)
                .args(["deps", "install"])
                .current_dir(&root)
                .env("XTASK_DEPS_MIRROR", server.base()),
        )
    };

    let mut cold = Vec::new();
    let mut curl = Vec::new();
    let has_curl = Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    for _ in 0..rounds {
        let _ = fs::remove_dir_all(root.join("deps/bin"));
        cold.push(install());
        if has_curl {
            let out = root.join("curl-out");
            fs::create_dir_all(&out).unwrap();
            let start = Instant::now();
            for name in TOOLS {
                let ok = Command::new("curl")
                    .args(["-sSf", "-o"])
                    .arg(out.join(name))
                    .arg(format!("{}/tools.example/{name}", server.base()))
                    .status()
                    .unwrap()
                    .success();
                assert!(ok, "curl failed");
            }
            curl.push(start.elapsed());
        }
    }
    let requests_before = server.total_hits();
    let mut cached: Vec<Duration> = (0..cached_runs).map(|_| install()).collect();
    assert_eq!(
        server.total_hits(),
        requests_before,
        "a cached run made a request"
    );

    let cold = median(&mut cold);
    let cached = median(&mut cached);
    let mut report = String::new();
    writeln!(report, "| measure | median | budget |\n| --- | --- | --- |").unwrap();
    writeln!(
        report,
        "| cold install, 4 x {} MB at 10 MB/s each | {} | - |",
        size / (1024 * 1024),
        ms(cold)
    )
    .unwrap();
    let mut over = Vec::new();
    if has_curl {
        let curl = median(&mut curl);
        let ratio = cold.as_secs_f64() / curl.as_secs_f64();
        writeln!(
            report,
            "| curl, the same 4 files one after another | {} | - |",
            ms(curl)
        )
        .unwrap();
        writeln!(
            report,
            "| cold install / sequential curl | {ratio:.2}x | <= 0.35x |"
        )
        .unwrap();
        if ratio > 0.35 {
            over.push(format!(
                "cold install is {ratio:.2}x sequential curl (> 0.35x)"
            ));
        }
    } else {
        println!("curl not installed: no ratio (apt-get install curl)");
    }
    writeln!(
        report,
        "| cached second run (no request) | {} | <= 10.00 ms |",
        ms(cached)
    )
    .unwrap();
    if cached > Duration::from_millis(10) {
        over.push(format!("cached run median {} > 10 ms", ms(cached)));
    }
    println!(
        "\ndeps install benchmark ({rounds} cold rounds, {cached_runs} cached runs)\n\n{report}"
    );
    if !quick && !over.is_empty() {
        eprintln!("over budget:\n  {}", over.join("\n  "));
        std::process::exit(1);
    }
}

/// Incompressible-looking bytes, different per tool.
fn payload(size: usize, seed: u8) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(seed);
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}
