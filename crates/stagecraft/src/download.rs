//! Downloading: mirrors (`https://HOST/PATH` becomes `<mirror>/HOST/PATH`,
//! `file://` mirrors read from disk), proxies from the environment
//! (HTTPS_PROXY, NO_PROXY), retries with backoff for transient failures, and
//! a sha256 computed while the bytes stream to disk.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use crate::sha::{Sha256, hex};
use stagecraft_core::repo::Repo;
use stagecraft_core::ui;

/// Attempts for a transient failure (reset connection, 5xx, timeout).
const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The most one download may take, all attempts together, unless
/// `XTASK_DOWNLOAD_TIMEOUT` (seconds) says otherwise: a server that
/// trickles a byte now and then never trips the idle timeout.
const DEADLINE: Duration = Duration::from_secs(30 * 60);

fn deadline() -> Duration {
    std::env::var("XTASK_DOWNLOAD_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(DEADLINE, Duration::from_secs)
}

pub struct Client {
    agent: ureq::Agent,
    mirror: Option<String>,
}

/// Why a download failed: some failures are worth another try.
#[derive(Debug)]
enum Failure {
    Transient(anyhow::Error),
    Final(anyhow::Error),
}

/// What a finished download wrote.
pub struct Fetched {
    pub sha256: String,
    pub bytes: u64,
}

impl Client {
    pub fn new(mirror: Option<String>) -> Client {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            // A stalled body (no byte for this long) counts as a timeout.
            .timeout_per_read(Some(Duration::from_secs(30)))
            .user_agent(concat!("stagecraft/", env!("CARGO_PKG_VERSION")))
            .build();
        Client {
            agent: config.into(),
            mirror: mirror.map(|m| m.trim_end_matches('/').to_owned()),
        }
    }

    /// The client of a repository: `XTASK_DEPS_MIRROR`, else `[deps]
    /// mirror` of shell.toml.
    pub fn for_repo(repo: &Repo) -> Client {
        let mirror = std::env::var("XTASK_DEPS_MIRROR")
            .ok()
            .filter(|m| !m.is_empty())
            .or_else(|| repo.shell.value.deps.mirror.clone());
        Client::new(mirror)
    }

    /// The URL actually fetched: the mirror's copy when a mirror is set.
    pub fn locate(&self, url: &str) -> String {
        match (&self.mirror, url.split_once("://")) {
            (Some(mirror), Some((_, rest))) => format!("{mirror}/{rest}"),
            _ => url.to_owned(),
        }
    }

    /// Streams `url` into `dest`, hashing as it goes; `progress` gets the
    /// total size (when known) and each chunk's length. Retries transient
    /// failures from the start.
    pub fn fetch_to(&self, url: &str, dest: &Path, progress: &dyn Fn(Progress)) -> Result<Fetched> {
        let mut file =
            File::create(dest).with_context(|| format!("cannot create {}", dest.display()))?;
        let fetched = self.fetch_into(url, &mut file, progress)?;
        file.sync_all()
            .with_context(|| format!("cannot write {}", dest.display()))?;
        Ok(fetched)
    }

    /// Reads a small text file (a checksum file) into memory.
    pub fn fetch_text(&self, url: &str) -> Result<String> {
        let mut body = Vec::new();
        self.fetch_into(url, &mut body, &|_| {})?;
        String::from_utf8(body).with_context(|| format!("{} is not text", self.locate(url)))
    }

    fn fetch_into(
        &self,
        url: &str,
        sink: &mut dyn Sink,
        progress: &dyn Fn(Progress),
    ) -> Result<Fetched> {
        let located = self.locate(url);
        let limit = deadline();
        let started = std::time::Instant::now();
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=ATTEMPTS {
            let Some(left) = limit.checked_sub(started.elapsed()) else {
                bail!(
                    "GET {located}: not done within {} s (XTASK_DOWNLOAD_TIMEOUT)",
                    limit.as_secs()
                );
            };
            match self.try_fetch(&located, sink, progress, left) {
                Ok(fetched) => return Ok(fetched),
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::Transient(e)) if attempt == ATTEMPTS => {
                    return Err(
                        e.context(format!("gave up on {located} after {ATTEMPTS} attempts"))
                    );
                }
                Err(Failure::Transient(e)) => {
                    progress(Progress::Retry(format!(
                        "{e:#}; retrying in {} ms",
                        backoff.as_millis()
                    )));
                    std::thread::sleep(backoff);
                    backoff *= 2;
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    fn try_fetch(
        &self,
        url: &str,
        sink: &mut dyn Sink,
        progress: &dyn Fn(Progress),
        left: Duration,
    ) -> Result<Fetched, Failure> {
        sink.reset().map_err(|e| Failure::Final(e.into()))?;
        ui::trace(&format!("GET {url}"));
        if let Some(path) = url.strip_prefix("file://") {
            let file = File::open(path)
                .map_err(|e| Failure::Final(anyhow!("cannot read {path} (from {url}): {e}")))?;
            let len = file.metadata().ok().map(|m| m.len());
            return stream(file, len, sink, progress)
                .map_err(|e| Failure::Final(e.context(format!("cannot copy {path}"))));
        }
        let response = self
            .agent
            .get(url)
            .config()
            .timeout_global(Some(left))
            .build()
            .call()
            .map_err(|e| classify(url, e))?;
        let status = response.status().as_u16();
        match status {
            200..=299 => {}
            500..=599 | 408 | 429 => {
                return Err(Failure::Transient(anyhow!("GET {url}: HTTP {status}")));
            }
            404 => {
                return Err(Failure::Final(anyhow!(
                    "GET {url}: HTTP 404 Not Found (is the version right? is the mirror complete?)"
                )));
            }
            _ => return Err(Failure::Final(anyhow!("GET {url}: HTTP {status}"))),
        }
        let body = response.into_body();
        let len = body.content_length();
        let reader = body.into_reader();
        stream(reader, len, sink, progress).map_err(|e| match len {
            // A body cut short is a network fault: try again.
            Some(_) => Failure::Transient(e.context(format!("GET {url}: the download broke off"))),
            None => Failure::Transient(e.context(format!("GET {url}"))),
        })
    }
}

/// POSTs a JSON body (a deploy notification); any answer but 2xx is an error.
pub fn post_json(url: &str, body: &serde_json::Value) -> Result<()> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let response = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body.to_string().as_bytes())
        .map_err(|e| anyhow!("POST {url}: {e}"))?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        bail!("POST {url}: HTTP {status}");
    }
    Ok(())
}

#[derive(Debug)]
pub enum Progress {
    Start(Option<u64>),
    Bytes(u64),
    Retry(String),
}

/// A host that cannot be reached at all (its name does not resolve,
/// nothing answers there): retrying will not help; a mirror or a proxy
/// will. One of these in a failure's chain makes the message say so once.
#[derive(Debug)]
pub struct Unreachable {
    pub url: String,
    pub why: &'static str,
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot reach {}: {}", host_of(&self.url), self.why)
    }
}

impl std::error::Error for Unreachable {}

/// What to do when the download hosts cannot be reached.
pub const OFFLINE_HINT: &str = "hint: no network here? Point XTASK_DEPS_MIRROR at a mirror laid out as HOST/PATH (https://mirror.example, or a folder: file:///srv/mirror; docs/deps.md), or set HTTPS_PROXY for a proxy";

/// The `Unreachable` in an error's chain, if any.
pub fn unreachable_in(err: &anyhow::Error) -> Option<&Unreachable> {
    err.chain().find_map(|e| e.downcast_ref::<Unreachable>())
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    host.rsplit_once('@').map_or(host, |(_, h)| h)
}

fn classify(url: &str, err: ureq::Error) -> Failure {
    let unreachable = match &err {
        ureq::Error::HostNotFound => Some("its name does not resolve"),
        ureq::Error::ConnectionFailed => Some("the connection failed"),
        ureq::Error::Io(io) => match io.kind() {
            io::ErrorKind::ConnectionRefused => Some("the connection was refused"),
            io::ErrorKind::NetworkUnreachable | io::ErrorKind::HostUnreachable => {
                Some("no route to it")
            }
            _ => None,
        },
        _ => None,
    };
    if let Some(why) = unreachable {
        return Failure::Final(anyhow::Error::new(Unreachable {
            url: url.to_owned(),
            why,
        }));
    }
    let transient = matches!(err, ureq::Error::Io(_) | ureq::Error::Timeout(_));
    let err = anyhow!("GET {url}: {err}");
    if transient {
        Failure::Transient(err)
    } else {
        Failure::Final(err)
    }
}

/// Where a download goes; emptied before each attempt.
trait Sink: Write {
    fn reset(&mut self) -> io::Result<()>;
}

impl Sink for File {
    fn reset(&mut self) -> io::Result<()> {
        self.set_len(0)?;
        io::Seek::seek(self, io::SeekFrom::Start(0)).map(drop)
    }
}

impl Sink for Vec<u8> {
    fn reset(&mut self) -> io::Result<()> {
        self.clear();
        Ok(())
    }
}

/// Copies `reader` into `sink` while hashing; checks the length when the
/// server announced one.
fn stream(
    mut reader: impl Read,
    len: Option<u64>,
    sink: &mut dyn Sink,
    progress: &dyn Fn(Progress),
) -> Result<Fetched> {
    progress(Progress::Start(len));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        hasher.update(&buf[..n]);
        sink.write_all(&buf[..n])
            .context("cannot write the download")?;
        total += n as u64;
        progress(Progress::Bytes(n as u64));
    }
    if let Some(len) = len
        && total != len
    {
        bail!("got {total} of {len} bytes");
    }
    Ok(Fetched {
        sha256: hex(&hasher.finalize()),
        bytes: total,
    })
}

/// The first sha256 in a checksum file (`<hex>` or `<hex>  <name>`).
pub fn parse_checksum(text: &str) -> Option<String> {
    text.split_whitespace()
        .find(|word| word.len() == 64 && word.chars().all(|c| c.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_rewrites_host_and_path() {
        let client = Client::new(Some("http://127.0.0.1:8080/mirror/".into()));
        assert_eq!(
            client.locate("https://dl.k8s.io/release/v1/bin/linux/amd64/kubectl"),
            "http://127.0.0.1:8080/mirror/dl.k8s.io/release/v1/bin/linux/amd64/kubectl"
        );
        let direct = Client::new(None);
        assert_eq!(
            direct.locate("https://get.helm.sh/x"),
            "https://get.helm.sh/x"
        );
    }

    #[test]
    fn checksum_files() {
        let sum = "70b2c30a19da4db264dfd68c8a3664e05093a361cefd89572ffb36f8abfa3d09";
        assert_eq!(
            parse_checksum(&format!("{sum}  helm-v4.1.4-linux-amd64.tar.gz\n")).as_deref(),
            Some(sum)
        );
        assert_eq!(
            parse_checksum(&format!("{}\n", sum.to_uppercase())).as_deref(),
            Some(sum)
        );
        assert_eq!(parse_checksum("<html>not found</html>"), None);
    }
}
