//! Whether a registry has an image's tag already (Registry HTTP API v2:
//! `HEAD /v2/<name>/manifests/<tag>`), with the auth it asks for: a
//! bearer token from the realm its `WWW-Authenticate` challenge names
//! (anonymous, or with the credentials `docker login` stored in
//! `~/.docker/config.json`), or basic auth with those credentials. A tag
//! that is there is neither built nor pushed again. A stage's images are
//! asked about side by side ([`ask_all`]) before the first build.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Result, anyhow};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// What the registry said about a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    Present,
    Absent,
    /// It could not tell (unreachable, credentials refused): build.
    Unknown(String),
}

/// The manifest kinds a tag may point at (an image or a multi-platform index).
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// Whether `<registry>/<name>:<tag>` exists; `registry` is the stage's
/// (`localhost:5001`, `registry.example.com/team/stage`).
pub fn has_tag(registry: &str, name: &str, tag: &str) -> Presence {
    let (host, path) = match registry.split_once('/') {
        Some((host, path)) => (host, format!("{path}/{name}")),
        None => (registry, name.to_owned()),
    };
    let url = format!("{}://{host}/v2/{path}/manifests/{tag}", scheme(host));
    match ask(&url, host) {
        Ok(presence) => presence,
        Err(e) => Presence::Unknown(format!("{e:#}")),
    }
}

/// An image's tag in a registry: (registry, image name, tag).
pub type Query = (String, String, String);

/// What the registries said, by [`Query`].
#[derive(Debug, Default)]
pub struct Answers(HashMap<Query, Presence>);

impl Answers {
    pub fn get(&self, registry: &str, name: &str, tag: &str) -> Option<&Presence> {
        self.0
            .get(&(registry.to_owned(), name.to_owned(), tag.to_owned()))
    }
}

/// How many questions are in flight at once.
const AT_ONCE: usize = 8;

/// Asks about every tag in `queries`, each once, [`AT_ONCE`] at a time:
/// with a remote registry a stage of many images waits about as long as
/// its slowest answer, not as long as all of them one after the other.
pub fn ask_all(mut queries: Vec<Query>) -> Answers {
    queries.sort();
    queries.dedup();
    let next = AtomicUsize::new(0);
    let answers = Mutex::new(HashMap::new());
    std::thread::scope(|scope| {
        for _ in 0..queries.len().min(AT_ONCE) {
            scope.spawn(|| {
                while let Some(query) = queries.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let (registry, name, tag) = query;
                    let presence = has_tag(registry, name, tag);
                    answers
                        .lock()
                        .expect("no asker panics")
                        .insert(query.clone(), presence);
                }
            });
        }
    });
    Answers(answers.into_inner().expect("no asker panics"))
}

/// Registries on this machine speak plain HTTP (as docker allows for them).
fn scheme(host: &str) -> &'static str {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    let local = name == "localhost" || name.starts_with("127.") || name == "[::1]";
    if local { "http" } else { "https" }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(15)))
        .build()
        .into()
}

fn ask(url: &str, host: &str) -> Result<Presence> {
    let agent = agent();
    let head = |authorization: Option<&str>| {
        let mut request = agent.head(url).header("Accept", ACCEPT);
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        request.call().map_err(|e| anyhow!("HEAD {url}: {e}"))
    };
    let response = head(None)?;
    let status = response.status().as_u16();
    if status != 401 {
        return Ok(verdict(status, url));
    }
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let credentials = docker_credentials(host);
    let authorization = match challenge.split_once(' ') {
        Some((kind, params)) if kind.eq_ignore_ascii_case("bearer") => {
            format!("Bearer {}", token(&agent, params, credentials.as_deref())?)
        }
        Some((kind, _)) if kind.eq_ignore_ascii_case("basic") => match &credentials {
            Some(basic) => format!("Basic {basic}"),
            None => {
                return Ok(Presence::Unknown(format!(
                    "{host} asks for credentials: docker login {host}"
                )));
            }
        },
        _ => {
            return Ok(Presence::Unknown(format!(
                "{host} answered 401 with no challenge"
            )));
        }
    };
    let status = head(Some(&authorization))?.status().as_u16();
    Ok(verdict(status, url))
}

fn verdict(status: u16, url: &str) -> Presence {
    match status {
        200..=299 => Presence::Present,
        404 => Presence::Absent,
        other => Presence::Unknown(format!("HEAD {url}: HTTP {other}")),
    }
}

/// A token from the realm of a `Bearer realm="...",service="...",scope="..."`
/// challenge.
fn token(agent: &ureq::Agent, params: &str, basic: Option<&str>) -> Result<String> {
    let field = |name: &str| {
        params.split(',').find_map(|part| {
            let (key, value) = part.trim().split_once('=')?;
            (key.trim() == name).then(|| value.trim().trim_matches('"').to_owned())
        })
    };
    let realm = field("realm").ok_or_else(|| anyhow!("a bearer challenge without a realm"))?;
    let mut query = Vec::new();
    for key in ["service", "scope"] {
        if let Some(value) = field(key) {
            query.push(format!("{key}={}", encode(&value)));
        }
    }
    let separator = if realm.contains('?') { '&' } else { '?' };
    let url = format!("{realm}{separator}{}", query.join("&"));
    let mut request = agent.get(&url);
    if let Some(basic) = basic {
        request = request.header("Authorization", &format!("Basic {basic}"));
    }
    let mut response = request.call().map_err(|e| anyhow!("GET {realm}: {e}"))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(anyhow!("the token service {realm} answered HTTP {status}"));
    }
    let body: serde_json::Value = serde_json::from_str(
        &response
            .body_mut()
            .read_to_string()
            .map_err(|e| anyhow!("GET {realm}: {e}"))?,
    )
    .map_err(|e| anyhow!("the token service {realm} answered no JSON: {e}"))?;
    body["token"]
        .as_str()
        .or_else(|| body["access_token"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("the token service {realm} gave no token"))
}

/// Percent-encodes a query value (scopes hold `:` and `,`).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The base64 `user:password` `docker login` stored for `host` in
/// `$DOCKER_CONFIG/config.json` (default `~/.docker`), if any. Credential
/// helpers are docker's business: without stored credentials the registry
/// is asked anonymously.
fn docker_credentials(host: &str) -> Option<String> {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".docker")))?;
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).ok()?).ok()?;
    let auths = config["auths"].as_object()?;
    let entry = auths.iter().find(|(key, _)| {
        let key = key
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        key.split('/').next() == Some(host)
    })?;
    let auth = entry.1["auth"].as_str()?;
    // Only a well-formed `user:password`.
    let decoded = STANDARD.decode(auth).ok()?;
    String::from_utf8(decoded)
        .ok()?
        .contains(':')
        .then(|| auth.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_registries_speak_http() {
        assert_eq!(scheme("localhost:5001"), "http");
        assert_eq!(scheme("127.0.0.1:40123"), "http");
        assert_eq!(scheme("registry.example.com"), "https");
        assert_eq!(scheme("registry.example.com:5000"), "https");
        assert_eq!(encode("repository:a/b:pull"), "repository%3Aa%2Fb%3Apull");
    }
}
