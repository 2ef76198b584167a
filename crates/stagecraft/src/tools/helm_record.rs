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
    let records = runner.look(
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

/// The manifest of the release's deployed revision, from helm's record
/// (what `helm get manifest` prints, with kubectl only): the Secret's
/// `release` is base64 (Kubernetes) of base64 of gzipped JSON (helm).
pub fn manifest(kubectl: Cmd, namespace: &str, release: &str) -> Result<String> {
    use base64::Engine;
    use std::io::Read;
    let encoded = kubectl
        .args(["get", "secrets", "--namespace", namespace])
        .arg(format!(
            "--selector=owner=helm,name={release},status=deployed"
        ))
        .arg("--output=jsonpath={.items[0].data.release}")
        .no_stdin()
        .read()?;
    let decode = |text: &[u8]| {
        base64::engine::general_purpose::STANDARD
            .decode(
                text.iter()
                    .filter(|b| !b.is_ascii_whitespace())
                    .copied()
                    .collect::<Vec<u8>>(),
            )
            .map_err(|e| anyhow::anyhow!("helm's record of {release} is not base64: {e}"))
    };
    if encoded.trim().is_empty() {
        anyhow::bail!("release {release} has no deployed revision in namespace {namespace}");
    }
    let bytes = decode(&decode(encoded.as_bytes())?)?;
    // helm gzips its records (magic 1f 8b); an old record may be plain JSON.
    let json = match bytes.starts_with(&[0x1f, 0x8b]) {
        true => {
            let mut text = String::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_string(&mut text)
                .map_err(|e| anyhow::anyhow!("helm's record of {release} is not gzip: {e}"))?;
            text
        }
        false => String::from_utf8_lossy(&bytes).into_owned(),
    };
    let record: serde_json::Value = serde_json::from_str(&json)
        .map_err(|e| anyhow::anyhow!("helm's record of {release} is not JSON: {e}"))?;
    Ok(record["manifest"].as_str().unwrap_or("").to_owned())
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
