//! The on-disk schema of every config file, and loading with errors that name
//! file, line, key and fix.
//!
//! Every struct denies unknown keys: a typo in a config file must never be
//! silently ignored.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use toml::Spanned;

use crate::suggest;

/// `shell.toml` at the repository root.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShellToml {
    pub project: ProjectSection,
    #[serde(default)]
    pub prompt: PromptSection,
    #[serde(default)]
    pub deps: DepsSection,
    #[serde(default)]
    pub tasks: TaskTable,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepsSection {
    /// Download from here instead: `https://HOST/PATH` becomes
    /// `<mirror>/HOST/PATH`. `XTASK_DEPS_MIRROR` wins over it.
    pub mirror: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSection {
    pub name: String,
    pub default_stage: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptSection {
    /// Prefix the user's prompt: the team's default; each user's
    /// `STAGECRAFT_PROMPT_PREFIX` wins (`shells::prefix_enabled`).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Placeholders: `{emoji}`, `{stage}`, `{scope}`.
    #[serde(default = "default_prompt_format")]
    pub format: Spanned<String>,
}

impl Default for PromptSection {
    fn default() -> Self {
        PromptSection {
            enabled: true,
            format: default_prompt_format(),
        }
    }
}

fn yes() -> bool {
    true
}

fn default_prompt_format() -> Spanned<String> {
    Spanned::new(0..0, "{emoji} {stage} {scope}".to_owned())
}

/// `envs/comm.toml`: variables shared by every stage.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommToml {
    #[serde(default)]
    pub vars: VarTable,
}

/// `envs/<stage>.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageToml {
    pub emoji: String,
    pub description: String,
    pub target: Spanned<Target>,
    /// Context inside the stage's kubeconfig file (remote targets only).
    pub context: Option<Spanned<String>>,
    #[serde(default)]
    pub protected: bool,
    /// `STAGE@NAME` instances of this stage: its cluster, their own
    /// namespaces and hosts (previews, one per branch or developer).
    pub instances: Option<Spanned<bool>>,
    #[serde(default)]
    pub notify: Option<NotifySection>,
    #[serde(default)]
    pub vars: VarTable,
}

/// `[notify]`: where deploys are announced.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySection {
    /// Gets a JSON POST after each app deploy.
    pub webhook: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// A local kind cluster that Stagecraft creates.
    Kind,
    /// An existing cluster reached through a kubeconfig file and context.
    Remote,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Target::Kind => "kind",
            Target::Remote => "remote",
        })
    }
}

/// `clusters/<cluster>/cluster.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterToml {
    #[serde(default)]
    pub description: String,
    /// Where the cluster's apps live: folders that hold an app.toml, as
    /// paths from the repository root with `*` and `?` in any segment
    /// (default: `clusters/<cluster>/apps/*`). The folder's name is the
    /// app's.
    pub apps: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub vars: VarTable,
    #[serde(default)]
    pub stages: BTreeMap<Spanned<String>, ClusterStage>,
    #[serde(default)]
    pub tasks: TaskTable,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterStage {
    /// Overrides the stage's context for this cluster (remote targets only).
    pub context: Option<Spanned<String>>,
    /// Host ports of the kind cluster's gateway (kind targets only): each
    /// kind stage needs its own, so local and test run side by side.
    pub http_port: Option<Spanned<u16>>,
    pub https_port: Option<Spanned<u16>>,
    /// The cluster this stage must reach (remote targets; written by
    /// `cluster pin`): checked before every change.
    pub identity: Option<Spanned<ClusterIdentity>>,
    /// How the apps' hosts are routed: `gateway` (HTTPRoutes on a Gateway
    /// API Gateway, the default) or `ingress` (Ingress objects, for a remote
    /// cluster that still runs an Ingress controller).
    pub routing: Option<Spanned<RoutingKind>>,
    /// The Gateway the HTTPRoutes attach to, `namespace/name` (default:
    /// `stagecraft-gateway/<cluster>-<stage>`, what bootstrap makes on kind).
    pub gateway: Option<Spanned<String>>,
    /// Remote stages: the GatewayClass bootstrap checks for.
    pub gateway_class: Option<Spanned<String>>,
    #[serde(default)]
    pub vars: VarTable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoutingKind {
    Gateway,
    Ingress,
}

/// Which cluster a kubeconfig reaches: the `kube-system` namespace's UID
/// (new with every cluster) and the API server's URL.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterIdentity {
    pub uid: String,
    pub server: String,
}

/// A path of app.toml: `.`, `./x` and `../x` from the app folder, anything
/// else from the repository root.
pub fn resolve_app_path(
    root: &std::path::Path,
    app_dir: &std::path::Path,
    path: &str,
) -> std::path::PathBuf {
    if path == "." || path.starts_with("./") || path.starts_with("../") {
        app_dir.join(path)
    } else {
        root.join(path)
    }
}

/// `clusters/<cluster>/apps/<app>/app.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppToml {
    #[serde(default)]
    pub description: String,
    /// The app's Kubernetes namespace (default: the app's name), with
    /// `${VAR}` from the app's stage environment.
    pub namespace: Option<Spanned<String>>,
    /// Whether the app is deployed at all (default: yes); a stage's
    /// `[stages.<stage>] enabled` overrides it.
    pub enabled: Option<bool>,
    /// Moved into `[[releases]]`: the release that serves them (an error
    /// that says so).
    #[serde(default)]
    pub hosts: Vec<Spanned<String>>,
    /// Apps whose releases are all deployed before this app's.
    #[serde(default)]
    pub depends_on: Vec<Spanned<String>>,
    #[serde(default)]
    pub releases: Vec<ReleaseToml>,
    #[serde(default)]
    pub images: Vec<ImageToml>,
    #[serde(default)]
    pub vars: VarTable,
    #[serde(default)]
    pub stages: BTreeMap<Spanned<String>, AppStage>,
    #[serde(default)]
    pub tasks: TaskTable,
}

impl AppToml {
    /// Whether the app is deployed in `stage`: its `[stages.<stage>]
    /// enabled`, else its `enabled`, else yes.
    pub fn enabled_in(&self, stage: &str) -> bool {
        self.stages
            .iter()
            .find(|(name, _)| name.get_ref() == stage)
            .and_then(|(_, table)| table.enabled.as_ref().map(|e| *e.get_ref()))
            .or(self.enabled)
            .unwrap_or(true)
    }
}

/// One release of an app: a Helm chart, a kustomization or a folder of
/// manifests.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseToml {
    pub name: Spanned<String>,
    /// A Helm chart: a folder with a Chart.yaml (from the repository root,
    /// or `./`, `../` from the app folder); a chart's name in `repo`; or
    /// `oci://registry/path/chart`. The last two need `version`.
    pub chart: Option<Spanned<String>>,
    /// The chart repository (`https://charts.example.com`) `chart` names a
    /// chart of; no `helm repo add` needed.
    pub repo: Option<Spanned<String>>,
    pub version: Option<String>,
    /// A folder with a kustomization.yaml, rendered by the pinned kubectl.
    pub kustomize: Option<Spanned<String>>,
    /// A folder of manifests, or a glob (`deploy/k8s/*.yaml`).
    pub manifests: Option<Spanned<String>>,
    /// Chart values set from the stage environment, by key path:
    /// `{ "images.tag" = "${XTASK_IMAGE_TAG}" }`.
    #[serde(default)]
    pub set: BTreeMap<String, Spanned<String>>,
    /// Default: the app's namespace.
    pub namespace: Option<String>,
    /// Releases of the same app deployed before this one.
    #[serde(default)]
    pub needs: Vec<Spanned<String>>,
    /// The `[[images]]` entry whose built tag this release gets.
    pub image: Option<Spanned<String>>,
    /// helm's --timeout (default: $HELM_TIMEOUT, else 5m).
    pub timeout: Option<String>,
    /// Variables of the app's stage environment its containers get, by
    /// name: non-secret ones as plain env, secret ones from a Secret.
    #[serde(default)]
    pub env: Vec<Spanned<String>>,
    /// Hostnames routed to this release, with `${VAR}` from the app's
    /// environment (`api.photos.${DOMAIN}`); `cluster add-hosts` writes them
    /// for local stages.
    #[serde(default)]
    pub hosts: Vec<Spanned<String>>,
}

/// An image built from a Dockerfile context.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageToml {
    pub name: String,
    /// The build context: `.`, `./<path>` or `../<path>` from the app
    /// folder, else from the repository root (default: the app folder).
    #[serde(default = "dot")]
    pub context: String,
    /// From the context (default: Dockerfile).
    pub dockerfile: Option<String>,
    /// `--build-arg`s, `${VAR}` from the app's stage environment (no
    /// secrets: build args stay readable in the image's history).
    #[serde(default)]
    pub args: BTreeMap<String, Spanned<String>>,
    /// The Dockerfile stage to build (`--target`).
    pub target: Option<String>,
    /// `--platform`s, e.g. `["linux/amd64", "linux/arm64"]`.
    #[serde(default)]
    pub platforms: Vec<String>,
}

fn dot() -> String {
    ".".to_owned()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppStage {
    /// Whether the app is deployed in this stage (default: the app's).
    pub enabled: Option<Spanned<bool>>,
    #[serde(default)]
    pub vars: VarTable,
}

pub type VarTable = BTreeMap<Spanned<String>, Spanned<VarDef>>;

/// `[tasks.<name>]` of shell.toml, cluster.toml or app.toml.
pub type TaskTable = BTreeMap<Spanned<String>, TaskToml>;

/// One everyday command of the repository, a cluster or an app, run in a
/// stage's environment (`cargo xtask task NAME`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskToml {
    /// A command line, or a list of them, each run by `sh -c` in order.
    #[serde(default = "no_lines")]
    pub run: Spanned<RunLines>,
    #[serde(default)]
    pub description: String,
    /// Tasks run first, each once: `name` (this scope or a parent's),
    /// `app:name`, `cluster:name`.
    #[serde(default)]
    pub depends: Vec<Spanned<String>>,
    /// Where the lines run, from the file's folder (default: that folder).
    pub dir: Option<Spanned<String>>,
    /// The stages it may run on (default: all).
    pub stages: Option<Vec<Spanned<String>>>,
    /// Ask before it runs on any stage; protected stages always ask
    /// (`--yes` confirms).
    #[serde(default)]
    pub confirm: bool,
    /// Extra variables, as `[vars]` (`${VAR}` from the stage environment).
    #[serde(default)]
    pub env: VarTable,
}

fn no_lines() -> Spanned<RunLines> {
    Spanned::new(0..0, RunLines::default())
}

/// `run = "line"` or `run = ["line", "line"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunLines(pub Vec<String>);

impl<'de> Deserialize<'de> for RunLines {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LinesVisitor;
        impl<'de> Visitor<'de> for LinesVisitor {
            type Value = RunLines;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a command line, or a list of command lines")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RunLines, E> {
                Ok(RunLines(vec![v.to_owned()]))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<RunLines, A::Error> {
                let mut lines = Vec::new();
                while let Some(line) = seq.next_element::<String>()? {
                    lines.push(line);
                }
                Ok(RunLines(lines))
            }
        }
        deserializer.deserialize_any(LinesVisitor)
    }
}

/// One variable definition: `KEY = "value"` or
/// `KEY = { from_env = "...", required = true, secret = true, description = "..." }`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VarDef {
    pub source: VarSource,
    pub required: bool,
    pub secret: bool,
    pub description: Option<String>,
    /// `from_cmd`: seconds it may take (default 10).
    pub timeout: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarSource {
    /// A literal, with `${VAR}` interpolation.
    Value(String),
    /// The process environment variable of that name.
    Env(String),
    /// The contents of a file (path relative to the repository root), one
    /// trailing newline trimmed.
    File(String),
    /// The stdout of `sh -c CMD` run at the repository root, one trailing
    /// newline trimmed.
    Cmd(String),
}

impl Default for VarSource {
    fn default() -> Self {
        VarSource::Value(String::new())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VarSpec {
    value: Option<String>,
    from_env: Option<String>,
    from_file: Option<String>,
    from_cmd: Option<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    secret: bool,
    description: Option<String>,
    timeout: Option<u64>,
}

impl<'de> Deserialize<'de> for VarDef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DefVisitor;
        impl<'de> Visitor<'de> for DefVisitor {
            type Value = VarDef;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a string, or a table like { from_env = \"NAME\", required = true, secret = true }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<VarDef, E> {
                Ok(VarDef {
                    source: VarSource::Value(v.to_owned()),
                    ..VarDef::default()
                })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<VarDef, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<VarDef, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<VarDef, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<VarDef, E> {
                self.visit_str(if v { "true" } else { "false" })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<VarDef, A::Error> {
                let spec = VarSpec::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let sources = [
                    spec.value.map(VarSource::Value),
                    spec.from_env.map(VarSource::Env),
                    spec.from_file.map(VarSource::File),
                    spec.from_cmd.map(VarSource::Cmd),
                ];
                let mut given = sources.into_iter().flatten();
                let source = given.next();
                if given.next().is_some() {
                    return Err(de::Error::custom(
                        "a variable takes one source: `value`, `from_env`, `from_file` or `from_cmd`",
                    ));
                }
                Ok(VarDef {
                    // No source: the process environment variable of the same
                    // name, filled in by the loader that knows the key.
                    source: source.unwrap_or(VarSource::Env(String::new())),
                    required: spec.required,
                    secret: spec.secret,
                    description: spec.description,
                    timeout: spec.timeout,
                })
            }
        }
        deserializer.deserialize_any(DefVisitor)
    }
}

/// A config file read from disk: its text is kept to turn spans into lines.
pub struct Loaded<T> {
    /// The path as shown to the user (relative to the repository root).
    pub display: String,
    pub text: String,
    pub value: T,
    /// Where each line starts, found once: every variable asks for its
    /// line, and counting from the top each time made 20k variables take
    /// seconds.
    line_starts: std::sync::OnceLock<Vec<usize>>,
}

impl<T> Loaded<T> {
    pub fn line_of(&self, span: &std::ops::Range<usize>) -> usize {
        self.line_col(span.start).0
    }

    /// 1-based line and column of a byte offset.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let starts = self.line_starts.get_or_init(|| {
            std::iter::once(0)
                .chain(self.text.match_indices('\n').map(|(i, _)| i + 1))
                .collect()
        });
        let offset = offset.min(self.text.len());
        let line = starts.partition_point(|&start| start <= offset);
        (line, offset - starts[line - 1] + 1)
    }

    /// `file:line: message` for an error found after parsing.
    pub fn error_at(
        &self,
        span: &std::ops::Range<usize>,
        message: impl fmt::Display,
    ) -> anyhow::Error {
        let (line, col) = self.line_col(span.start);
        anyhow!("{}:{line}:{col}: {message}", self.display)
    }
}

/// Reads and parses a TOML file; errors name the file, line, column and key.
pub fn load<T: DeserializeOwned>(path: &Path, display: String) -> Result<Loaded<T>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {display}"))?;
    parse(&text, display)
}

/// Parses the text of a config file (an edit, before it is written).
pub fn parse<T: DeserializeOwned>(text: &str, display: String) -> Result<Loaded<T>> {
    let value = toml::from_str::<T>(text).map_err(|e| describe_toml_error(&display, text, &e))?;
    Ok(Loaded {
        display,
        text: text.to_owned(),
        value,
        line_starts: std::sync::OnceLock::new(),
    })
}

fn describe_toml_error(display: &str, text: &str, err: &toml::de::Error) -> anyhow::Error {
    let message = err.message().trim_end();
    let location = match err.span() {
        Some(span) => {
            let (line, col) = line_col(text, span.start);
            format!("{display}:{line}:{col}")
        }
        None => display.to_owned(),
    };
    let mut out = format!("{location}: {message}");
    if let Some(hint) = unknown_key_hint(message) {
        out.push_str("\n  hint: ");
        out.push_str(&hint);
    } else if message.contains("invalid") || message.contains("expected") {
        out.push_str("\n  hint: see the config reference in README.md");
    }
    anyhow!(out)
}

/// serde says "unknown field `emojii`, expected one of `emoji`, ...": turn it
/// into a did-you-mean.
fn unknown_key_hint(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, rest) = rest.split_once('`')?;
    let expected: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    match suggest::closest(unknown, expected.iter().copied()) {
        Some(best) => Some(format!("did you mean `{best}`? (or remove `{unknown}`)")),
        None => Some(format!(
            "remove `{unknown}`; the keys allowed here are: {}",
            expected.join(", ")
        )),
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<T: DeserializeOwned>(text: &str) -> Result<T> {
        toml::from_str::<T>(text).map_err(|e| describe_toml_error("f.toml", text, &e))
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        let loaded: Loaded<CommToml> = super::parse("[vars]\nA = \"x\"\n", "f".into()).unwrap();
        for offset in 0..loaded.text.len() {
            assert_eq!(
                loaded.line_col(offset),
                line_col(&loaded.text, offset),
                "{offset}"
            );
        }
    }

    #[test]
    fn unknown_key_names_line_and_suggests() {
        let text = "description = \"x\"\nemojii = \"🐣\"\ntarget = \"kind\"\n";
        let err = parse::<StageToml>(text).unwrap_err().to_string();
        assert!(
            err.starts_with("f.toml:2:1: unknown field `emojii`"),
            "{err}"
        );
        assert!(err.contains("did you mean `emoji`?"), "{err}");
    }

    #[test]
    fn var_forms() {
        let text = r#"
            [vars]
            A = "x"
            B = 8080
            C = { from_env = "HOME_DIR", secret = true }
            D = { required = true, description = "the db password" }
        "#;
        let comm = parse::<CommToml>(text).unwrap();
        let get = |k: &str| {
            comm.vars
                .iter()
                .find(|(n, _)| n.get_ref() == k)
                .unwrap()
                .1
                .get_ref()
                .clone()
        };
        assert_eq!(get("A").source, VarSource::Value("x".into()));
        assert_eq!(get("B").source, VarSource::Value("8080".into()));
        assert_eq!(get("C").source, VarSource::Env("HOME_DIR".into()));
        assert!(get("C").secret);
        assert_eq!(get("D").source, VarSource::Env(String::new()));
        assert!(get("D").required);
    }

    #[test]
    fn two_sources_are_refused() {
        let err = parse::<CommToml>("[vars]\nA = { value = \"x\", from_env = \"Y\" }\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("f.toml:2:"), "{err}");
        assert!(err.contains("one source"), "{err}");
    }

    #[test]
    fn unknown_var_option_is_refused() {
        let err = parse::<CommToml>("[vars]\nA = { valeu = \"x\" }\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("did you mean `value`?"), "{err}");
    }

    #[test]
    fn malformed_toml_names_line_and_column() {
        let err = parse::<CommToml>("[vars]\nA = \"unterminated\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("f.toml:2:"), "{err}");
    }
}
