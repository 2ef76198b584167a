//! Instances: `STAGE@NAME`, a copy of a stage for one branch or one
//! developer (`test@pr-42`). It shares its stage's cluster, kubeconfig,
//! context, registry and variables, and gets `XTASK_INSTANCE`, its own
//! namespaces (`<namespace>-<name>`) and hosts (`<name>.<host>`), unless
//! a namespace or host places `${XTASK_INSTANCE}` itself. A stage opts in
//! with `instances = true`; a protected one cannot.

use anyhow::{Result, anyhow, bail};

use crate::config::{Loaded, StageToml};

/// The longest instance name: room for it after any namespace.
pub const MAX_NAME: usize = 30;

/// Where a process's default instance comes from (`--stage test` is
/// `test@$XTASK_INSTANCE` when the stage has instances).
pub const DEFAULT_VAR: &str = "XTASK_INSTANCE";

/// A template that refers to any of these places the instance itself.
const PLACEHOLDERS: [&str; 3] = [
    "${XTASK_INSTANCE}",
    "${XTASK_INSTANCE_SUFFIX}",
    "${XTASK_INSTANCE_PREFIX}",
];

fn places_instance(template: &str) -> bool {
    PLACEHOLDERS.iter().any(|p| template.contains(p))
}

/// `test@pr-42` as `("test", Some("pr-42"))`; the name checked.
pub fn split(name: &str) -> Result<(&str, Option<&str>)> {
    let Some((stage, instance)) = name.split_once('@') else {
        return Ok((name, None));
    };
    check_name(stage, instance)?;
    Ok((stage, Some(instance)))
}

/// An instance's name is a DNS label of at most 30 characters.
pub fn check_name(stage: &str, instance: &str) -> Result<()> {
    let ok = !instance.is_empty()
        && instance.len() <= MAX_NAME
        && instance
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !instance.starts_with('-')
        && !instance.ends_with('-');
    if !ok {
        bail!(
            "`{stage}@{instance}`: an instance's name is lowercase letters, digits and '-', at most {MAX_NAME} characters, not starting or ending with '-'\n  hint: e.g. {stage}@pr-42 or {stage}@alice"
        );
    }
    Ok(())
}

/// The instance of `stage` asked for (or `$XTASK_INSTANCE`'s), if the
/// stage allows instances; an error at the stage file's line otherwise.
pub fn resolve(
    file: &Loaded<StageToml>,
    stage: &str,
    asked: Option<&str>,
) -> Result<Option<String>> {
    let allowed = file.value.instances.as_ref().filter(|i| *i.get_ref());
    if let Some(on) = allowed
        && file.value.protected
    {
        return Err(file.error_at(
            &on.span(),
            format!("stage {stage} is protected: it cannot have instances (a preview of prod is a stage of its own)\n  hint: remove `instances = true`"),
        ));
    }
    // The user's own default; a stage shell's instance is its stage's
    // (`Repo::shell_stage`), and `--stage test` there means `test`.
    let in_shell = std::env::var("XTASK_DEPTH").is_ok_and(|d| d != "0");
    let from_env = std::env::var(DEFAULT_VAR)
        .ok()
        .filter(|n| !n.is_empty() && !in_shell);
    match (asked, allowed) {
        (Some(name), Some(_)) => Ok(Some(name.to_owned())),
        (Some(name), None) if file.value.protected => Err(anyhow!(
            "`{stage}@{name}`: stage {stage} is protected, and a protected stage has no instances"
        )),
        (Some(name), None) => Err(anyhow!(
            "`{stage}@{name}`: stage {stage} has no instances\n  hint: set `instances = true` in {} to allow them",
            file.display
        )),
        (None, Some(_)) => match from_env {
            Some(name) => {
                check_name(stage, &name)
                    .map_err(|e| e.context(format!("${DEFAULT_VAR} is `{name}`")))?;
                Ok(Some(name))
            }
            None => Ok(None),
        },
        (None, None) => Ok(None),
    }
}

/// `test`, or `test@pr-42`: what prompts and messages show.
pub fn label(stage: &str, instance: Option<&str>) -> String {
    match instance {
        Some(instance) => format!("{stage}@{instance}"),
        None => stage.to_owned(),
    }
}

/// An instance's namespace: `<namespace>-<name>`, unless the template
/// placed the instance itself (`${XTASK_INSTANCE}`, its suffix or prefix).
pub fn namespace(template: &str, resolved: String, instance: Option<&str>) -> String {
    match instance {
        Some(name) if !places_instance(template) => format!("{resolved}-{name}"),
        _ => resolved,
    }
}

/// An instance's hostname: `<name>.<host>`, unless the template placed
/// the instance itself (`${XTASK_INSTANCE}`, its prefix or suffix).
pub fn host(template: &str, resolved: String, instance: Option<&str>) -> String {
    match instance {
        Some(name) if !places_instance(template) => format!("{name}.{resolved}"),
        _ => resolved,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_dns_labels() {
        assert_eq!(split("test@pr-42").unwrap(), ("test", Some("pr-42")));
        assert_eq!(split("test").unwrap(), ("test", None));
        for bad in ["test@PR_42", "test@../x", "test@", "test@-a", "test@a.b"] {
            let e = split(bad).unwrap_err().to_string();
            assert!(
                e.contains("lowercase letters, digits and '-'"),
                "{bad}: {e}"
            );
        }
        assert!(split(&format!("test@{}", "a".repeat(31))).is_err());
        assert!(split(&format!("test@{}", "a".repeat(30))).is_ok());
    }

    #[test]
    fn namespaces_and_hosts_get_the_name_unless_placed() {
        assert_eq!(
            namespace("photos", "photos".into(), Some("pr-42")),
            "photos-pr-42"
        );
        assert_eq!(
            namespace("shop-${XTASK_INSTANCE}", "shop-pr-42".into(), Some("pr-42")),
            "shop-pr-42"
        );
        assert_eq!(namespace("photos", "photos".into(), None), "photos");
        assert_eq!(
            host("api.${DOMAIN}", "api.localtest.me".into(), Some("pr-42")),
            "pr-42.api.localtest.me"
        );
        assert_eq!(
            host(
                "${XTASK_INSTANCE}-api.x",
                "pr-42-api.x".into(),
                Some("pr-42")
            ),
            "pr-42-api.x"
        );
        // The prefix and suffix place it too: never twice.
        assert_eq!(
            host(
                "${XTASK_INSTANCE_PREFIX}api.x",
                "pr-42.api.x".into(),
                Some("pr-42")
            ),
            "pr-42.api.x"
        );
        assert_eq!(
            namespace(
                "shop${XTASK_INSTANCE_SUFFIX}",
                "shop-pr-42".into(),
                Some("pr-42")
            ),
            "shop-pr-42"
        );
    }
}
