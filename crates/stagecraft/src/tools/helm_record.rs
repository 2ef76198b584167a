//! helm's record of a release in the cluster (its `owner=helm` Secrets),
//! read with kubectl: did the last revision deploy what we would deploy
//! now? The digest travels as a release label (`helm --labels`).

use anyhow::Result;

use stagecraft_core::process::{Cmd, Runner};

/// The label that holds what a revision deployed.
pub const DIGEST_LABEL: &str = "stagecraft.dev/digest";

/// `--labels=...` for `helm upgrade`.
pub fn label_arg(digest: &str) -> String {
    format!("--labels={DIGEST_LABEL}={digest}")
}

/// Whether the last revision of `release` is `deployed` with `digest` (a
/// failed or pending one never counts). No record: false.
pub fn deployed(
    runner: &Runner,
    kubectl: Cmd,
    namespace: &str,
    release: &str,
    digest: &str,
) -> Result<bool> {
    let records = runner.ask(
        &kubectl
            .args(["get", "secrets", "--namespace", namespace])
            .arg(format!("--selector=owner=helm,name={release}"))
            .arg(format!(
                "--output=jsonpath={{range .items[*]}}{{.metadata.labels.version}} {{.metadata.labels.status}} {{.metadata.labels.{}}}{{\"\\n\"}}{{end}}",
                DIGEST_LABEL.replace('.', "\\.")
            )),
    )?;
    Ok(matches!(last(&records), Some((status, Some(last)))
        if status == "deployed" && last == digest))
}

/// The status and digest of the highest revision in `version status
/// digest` lines.
fn last(records: &str) -> Option<(String, Option<String>)> {
    records
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let revision: u64 = fields.next()?.parse().ok()?;
            Some((
                revision,
                fields.next()?.to_owned(),
                fields.next().map(str::to_owned),
            ))
        })
        .max_by_key(|(revision, _, _)| *revision)
        .map(|(_, status, digest)| (status, digest))
}

#[cfg(test)]
mod tests {
    use super::last;

    #[test]
    fn the_highest_revision_decides() {
        let records = "2 superseded aaa\n10 failed bbb\n9 deployed ccc\n";
        assert_eq!(last(records), Some(("failed".into(), Some("bbb".into()))));
        assert_eq!(last("1 deployed\n"), Some(("deployed".into(), None)));
        assert_eq!(last(""), None);
    }
}
