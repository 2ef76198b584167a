//! `xtask env`: layering, interpolation, required and secret variables,
//! provenance, output formats safe to eval, and bad input.

use std::fs;
use std::process::Command;

use crate::support::TestRepo;

/// The variables of each layer, in the order they apply.
#[derive(Default, Clone, Copy)]
pub struct Layers {
    comm: &'static str,
    stage: &'static str,
    cluster: &'static str,
    cluster_stage: &'static str,
    app: &'static str,
    app_stage: &'static str,
}

/// A repository with stages local and test, clusters c1 (with its app a1)
/// and c2, and the given variables. Each file puts its first variable on
/// line 2 (envs/local.toml: line 5) and its stage table's first on line 4.
/// With two clusters, the root is unscoped.
pub fn layered(layers: Layers) -> TestRepo {
    let stage_file = |emoji: &str, vars: &str| {
        format!("emoji = \"{emoji}\"\ndescription = \"d\"\ntarget = \"kind\"\n[vars]\n{vars}")
    };
    let scoped =
        |vars: &str, stage_vars: &str| format!("[vars]\n{vars}\n[stages.local.vars]\n{stage_vars}");
    TestRepo::with_files(&[
        (
            "shell.toml",
            "[project]\nname = \"t\"\ndefault_stage = \"local\"\n",
        ),
        ("envs/comm.toml", &format!("[vars]\n{}", layers.comm)),
        ("envs/local.toml", &stage_file("🐣", layers.stage)),
        ("envs/test.toml", &stage_file("🛠️", "")),
        (
            "clusters/c1/cluster.toml",
            &scoped(layers.cluster, layers.cluster_stage),
        ),
        (
            "clusters/c1/apps/a1/app.toml",
            &scoped(layers.app, layers.app_stage),
        ),
        ("clusters/c2/cluster.toml", ""),
    ])
}

enum Expect {
    /// `env --json` holds these values.
    Values(&'static [(&'static str, &'static str)]),
    /// stdout holds each line.
    Stdout(&'static [&'static str]),
    /// fails; stderr holds each part.
    Error(&'static [&'static str]),
}

pub struct Case {
    name: &'static str,
    layers: Layers,
    args: &'static [&'static str],
    expect: Expect,
}

pub const X_EVERYWHERE: Layers = Layers {
    comm: "X = \"comm\"",
    stage: "X = \"stage\"",
    cluster: "X = \"cluster\"",
    cluster_stage: "X = \"cluster-stage\"",
    app: "X = \"app\"",
    app_stage: "X = \"app-stage\"",
};

pub const CASES: &[Case] = &[
    Case {
        name: "the app's stage table wins over every other layer",
        layers: X_EVERYWHERE,
        args: &["--app", "a1"],
        expect: Expect::Values(&[("X", "app-stage")]),
    },
    Case {
        name: "without app scope the cluster's stage table wins",
        layers: X_EVERYWHERE,
        args: &["--cluster", "c1"],
        expect: Expect::Values(&[("X", "cluster-stage")]),
    },
    Case {
        name: "unscoped, the stage wins over comm",
        layers: X_EVERYWHERE,
        args: &[],
        expect: Expect::Values(&[("X", "stage")]),
    },
    Case {
        name: "a later layer overrides only what it names",
        layers: Layers {
            comm: "A = \"comm-a\"\nB = \"comm-b\"",
            app: "B = \"app-b\"",
            ..EMPTY
        },
        args: &["--app", "a1"],
        expect: Expect::Values(&[("A", "comm-a"), ("B", "app-b")]),
    },
    Case {
        name: "--explain shows the whole chain with file:line",
        layers: X_EVERYWHERE,
        args: &["--app", "a1", "--explain", "X"],
        expect: Expect::Stdout(&[
            "X=app-stage\n",
            "envs/comm.toml:2 set \"comm\"",
            "envs/local.toml:5 overridden \"stage\"",
            "clusters/c1/cluster.toml:2 overridden \"cluster\"",
            "clusters/c1/cluster.toml:4 overridden \"cluster-stage\"",
            "clusters/c1/apps/a1/app.toml:2 overridden \"app\"",
            "clusters/c1/apps/a1/app.toml:4 overridden \"app-stage\"",
        ]),
    },
    Case {
        name: "interpolation of variables and built-ins",
        layers: Layers {
            comm: "A = \"a\"\nB = \"${A}-b\"",
            app: "C = \"${B}-${XTASK_STAGE}-${XTASK_CLUSTER}-${XTASK_APP}\"\nD = \"$${A} costs $$5 and $HOME stays\"",
            ..EMPTY
        },
        args: &["--app", "a1"],
        expect: Expect::Values(&[
            ("C", "a-b-local-c1-a1"),
            ("D", "${A} costs $5 and $HOME stays"),
        ]),
    },
    Case {
        name: "a reference uses the final value, whatever the layer",
        layers: Layers {
            comm: "URL = \"https://${HOST}/\"\nHOST = \"comm.example\"",
            app: "HOST = \"app.example\"",
            ..EMPTY
        },
        args: &["--app", "a1"],
        expect: Expect::Values(&[("URL", "https://app.example/")]),
    },
    Case {
        name: "a variable extends its own value from the layers below",
        layers: Layers {
            comm: "FLAGS = \"--base\"",
            stage: "FLAGS = \"${FLAGS} --stage\"",
            app: "FLAGS = \"${FLAGS} --app\"",
            ..EMPTY
        },
        args: &["--app", "a1"],
        expect: Expect::Values(&[("FLAGS", "--base --stage --app")]),
    },
    Case {
        name: "an undefined reference names file, line and key",
        layers: Layers {
            comm: "HOST = \"h\"",
            cluster: "OK = \"1\"\nURL = \"https://${HSOT}/\"",
            ..EMPTY
        },
        args: &["--cluster", "c1"],
        expect: Expect::Error(&[
            "clusters/c1/cluster.toml:3: `URL` refers to undefined variable `${HSOT}`",
            "did you mean `${HOST}`?",
        ]),
    },
    Case {
        name: "XTASK_APP outside an app scope is explained",
        layers: Layers {
            comm: "NAME = \"${XTASK_APP}\"",
            ..EMPTY
        },
        args: &[],
        expect: Expect::Error(&["envs/comm.toml:2", "only set inside a cluster or app scope"]),
    },
    Case {
        name: "a cycle names its members and their files",
        layers: Layers {
            stage: "A = \"${B}\"\nB = \"x${C}\"\nC = \"${A}\"",
            ..EMPTY
        },
        args: &[],
        expect: Expect::Error(&[
            "reference cycle: A (envs/local.toml:5) -> B (envs/local.toml:6) -> C (envs/local.toml:7) -> A (envs/local.toml:5)",
        ]),
    },
    Case {
        name: "a self reference with nothing below is an error",
        layers: Layers {
            comm: "A = \"${A}:more\"",
            ..EMPTY
        },
        args: &[],
        expect: Expect::Error(&[
            "envs/comm.toml:2: `A` refers to itself, but no earlier layer defines it",
        ]),
    },
    Case {
        name: "every missing required variable is listed with its description",
        layers: Layers {
            comm: "TOKEN = { required = true, description = \"the API token\" }",
            app: "DB_PASSWORD = { from_env = \"STAGECRAFT_TEST_UNSET_PW\", required = true, secret = true, description = \"the database password\" }\nKEY = { from_file = \"no/such/file\", required = true, description = \"the signing key\" }",
            ..EMPTY
        },
        args: &["--app", "a1"],
        expect: Expect::Error(&[
            "3 required variables are missing for stage local (c1/a1)",
            "TOKEN        the API token",
            "declared at envs/comm.toml:2: from_env: $TOKEN is not set",
            "DB_PASSWORD  the database password",
            "declared at clusters/c1/apps/a1/app.toml:2: from_env: $STAGECRAFT_TEST_UNSET_PW is not set",
            "KEY          the signing key",
            "from_file: cannot read no/such/file",
        ]),
    },
    Case {
        name: "a failing from_cmd of a required variable is reported with its stderr",
        layers: Layers {
            comm: "PW = { from_cmd = \"echo vault is sealed >&2; exit 3\", required = true, secret = true, description = \"pw\" }",
            ..EMPTY
        },
        args: &[],
        expect: Expect::Error(&["PW  pw", "failed with exit code 3", "vault is sealed"]),
    },
    Case {
        name: "from_file, from_cmd and from_env sources",
        layers: Layers {
            comm: "F = { from_file = \"secrets/${XTASK_STAGE}.txt\" }\nC = { from_cmd = \"printf '%s' \\\"$XTASK_STAGE\\\"-cmd\" }\nE = { from_env = \"LANG\" }\nOPTIONAL = { from_env = \"STAGECRAFT_TEST_UNSET\" }",
            ..EMPTY
        },
        args: &[],
        expect: Expect::Values(&[("F", "from the file"), ("C", "local-cmd"), ("E", "C.UTF-8")]),
    },
    Case {
        name: "secrets and values computed from them are masked",
        layers: Layers {
            comm: "PW = { value = \"hunter2\", secret = true }\nURL = \"postgres://u:${PW}@db\"\nPLAIN = \"visible\"",
            ..EMPTY
        },
        args: &[],
        expect: Expect::Values(&[("PW", "***"), ("URL", "***"), ("PLAIN", "visible")]),
    },
    Case {
        name: "--reveal prints secrets",
        layers: Layers {
            comm: "PW = { value = \"hunter2\", secret = true }\nURL = \"postgres://u:${PW}@db\"",
            ..EMPTY
        },
        args: &["--reveal"],
        expect: Expect::Values(&[("PW", "hunter2"), ("URL", "postgres://u:hunter2@db")]),
    },
    Case {
        name: "--explain masks a secret and its literal",
        layers: Layers {
            comm: "PW = { value = \"hunter2\", secret = true }",
            stage: "PW = { value = \"swordfish\", secret = true }",
            ..EMPTY
        },
        args: &["--explain", "PW"],
        expect: Expect::Stdout(&[
            "PW=*** (secret)",
            "envs/comm.toml:2 set *** (secret)",
            "envs/local.toml:5 overridden *** (secret)",
        ]),
    },
    Case {
        name: "--explain of a built-in",
        layers: EMPTY,
        args: &["--cluster", "c1", "--explain", "KUBECONFIG"],
        expect: Expect::Stdout(&["/deps/kube/views/c1-local.yaml\n", "stagecraft built-in"]),
    },
    Case {
        name: "--explain of an unknown variable suggests one",
        layers: Layers {
            comm: "DATABASE_URL = \"x\"",
            ..EMPTY
        },
        args: &["--explain", "DATABSE_URL"],
        expect: Expect::Error(&[
            "unknown variable `DATABSE_URL`",
            "did you mean `DATABASE_URL`?",
        ]),
    },
    Case {
        name: "KUBECONFIG cannot be overridden by a config file",
        layers: Layers {
            cluster: "KUBECONFIG = \"/home/me/.kube/config\"",
            ..EMPTY
        },
        args: &["--cluster", "c1"],
        expect: Expect::Error(&["clusters/c1/cluster.toml:2:1: `KUBECONFIG` is set by Stagecraft"]),
    },
];

pub fn squash(text: &str) -> String {
    text.split('\n')
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

pub const EMPTY: Layers = Layers {
    comm: "",
    stage: "",
    cluster: "",
    cluster_stage: "",
    app: "",
    app_stage: "",
};

#[test]
fn layering_table() {
    for case in CASES {
        let repo = layered(case.layers);
        repo.write("secrets/local.txt", "from the file\n");
        let mut args = vec!["env", "local"];
        args.extend(case.args);
        if matches!(case.expect, Expect::Values(_)) {
            args.push("--json");
        }
        let run = repo.run(&args);
        let context = format!("case {:?}: {run:#?}", case.name);
        match &case.expect {
            Expect::Values(values) => {
                assert_eq!(run.code, Some(0), "{context}");
                let json = run.json();
                for (k, v) in *values {
                    assert_eq!(json[k], *v, "{k} in {context}");
                }
            }
            Expect::Stdout(lines) => {
                assert_eq!(run.code, Some(0), "{context}");
                // Column widths aside, the words must match, in this order.
                let squashed = squash(&run.stdout);
                let mut from = 0;
                for line in *lines {
                    let at = squashed[from..].find(&squash(line));
                    assert!(
                        at.is_some(),
                        "stdout lacks {line:?} (in order) in {context}"
                    );
                    from += at.unwrap() + line.len().min(1);
                }
            }
            Expect::Error(parts) => {
                assert!(run.code.is_some_and(|c| c != 0), "{context}");
                assert!(run.stdout.is_empty(), "{context}");
                for part in *parts {
                    assert!(
                        run.stderr.contains(part),
                        "stderr lacks {part:?} in {context}"
                    );
                }
            }
        }
        assert!(
            !run.stdout.contains("hunter2") || case.args.contains(&"--reveal"),
            "{context}"
        );
    }
}

/// Values no quoting mistake survives.
pub const HOSTILE: &[&str] = &[
    "$(touch pwned)",
    "`touch pwned-too`",
    "it's \"double\" and 'single'",
    r"back\slash \\ \n \' end\",
    "line one\nline two\n",
    "tab\tcarriage\rreturn",
    "emoji 🐣🔥🛠️ ünïcödé",
    "$HOME ${HOME} $$ ; & | > < * ? [a] ~ # !",
    "",
    "'",
    "\\",
];

/// A TOML basic string for `value`, with `$` doubled for interpolation.
pub fn toml_string(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn hostile_repo() -> TestRepo {
    let vars: String = HOSTILE
        .iter()
        .enumerate()
        .map(|(i, v)| format!("V{i} = {}\n", toml_string(v)))
        .collect();
    TestRepo::with_files(&[
        (
            "shell.toml",
            "[project]\nname = \"t\"\ndefault_stage = \"local\"\n",
        ),
        (
            "envs/local.toml",
            &format!("emoji = \"🐣\"\ndescription = \"d\"\ntarget = \"kind\"\n[vars]\n{vars}"),
        ),
    ])
}

/// Evaluates the output of `env --format FORMAT` in a real shell, which
/// writes each variable's bytes to a file; compares them to the originals.
pub fn round_trip(format: &str, shell: &[&str], script: impl Fn(usize) -> String) {
    let repo = hostile_repo();
    let run = repo.run(["env", "local", "--format", format]);
    run.ok();
    let work = repo.tmp.join(format!("eval-{format}"));
    fs::create_dir_all(&work).unwrap();
    fs::write(work.join("env.out"), &run.stdout).unwrap();
    let mut body = String::new();
    for i in 0..HOSTILE.len() {
        body.push_str(&script(i));
        body.push('\n');
    }
    let status = Command::new(shell[0])
        .args(&shell[1..])
        .arg(&body)
        .current_dir(&work)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &repo.home)
        .env("LANG", "C.UTF-8")
        .status()
        .unwrap();
    assert!(
        status.success(),
        "{format}: the shell failed on:\n{}",
        run.stdout
    );
    for (i, expected) in HOSTILE.iter().enumerate() {
        let got = fs::read(work.join(format!("out{i}"))).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            *expected,
            "{format}: V{i} did not survive; the output was:\n{}",
            run.stdout
        );
    }
    let stray: Vec<_> = fs::read_dir(&work)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("pwned"))
        .collect();
    assert!(
        stray.is_empty(),
        "{format}: eval ran a command substitution: {stray:?}"
    );
}

/// bash and zsh: eval the output, then write V<i> as it is.
pub fn posix_eval(i: usize) -> String {
    let load = if i == 0 {
        "eval \"$(cat env.out)\"\n"
    } else {
        ""
    };
    format!("{load}printf '%s' \"$V{i}\" > out{i}")
}

#[test]
fn bash_format_round_trips() {
    round_trip("bash", &["bash", "--norc", "-c"], posix_eval);
}

#[test]
fn zsh_format_round_trips() {
    round_trip("zsh", &["zsh", "-f", "-c"], posix_eval);
}

#[test]
fn fish_format_round_trips() {
    round_trip("fish", &["fish", "--no-config", "-c"], |i| {
        let load = if i == 0 { "source env.out\n" } else { "" };
        format!("{load}printf '%s' \"$V{i}\" > out{i}")
    });
}

#[test]
fn dotenv_format_round_trips_through_posix_sh() {
    round_trip("dotenv", &["sh", "-c"], |i| {
        let load = if i == 0 {
            "set -a; . ./env.out; set +a\n"
        } else {
            ""
        };
        format!("{load}printf '%s' \"$V{i}\" > out{i}")
    });
}

#[test]
fn json_format_round_trips() {
    let repo = hostile_repo();
    let json = repo.run(["env", "local", "--json"]).ok().json();
    for (i, expected) in HOSTILE.iter().enumerate() {
        assert_eq!(json[format!("V{i}")], *expected);
    }
}
