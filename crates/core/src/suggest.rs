//! "Did you mean ...?" for unknown stage, cluster, app, release and key
//! names. The hint is built from the names, never by editing an error's
//! text.

/// The candidate closest to `input`, when it is close enough to be a typo.
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = input.chars().count().div_ceil(3).max(2);
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(input, c), c))
        .filter(|&(d, c)| d <= limit || c.starts_with(input) || input.starts_with(c))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// `did you mean `local`?`, else the list of names (`the stages are: ...`).
pub fn hint(kind: &str, input: &str, names: &[String]) -> String {
    match closest(input, names.iter().map(String::as_str)) {
        Some(best) => format!("did you mean `{best}`?"),
        None if names.is_empty() => format!("this repository has no {kind}s yet"),
        None => format!("the {kind}s are: {}", names.join(", ")),
    }
}

/// `unknown stage `lcoal``, then the hint.
pub fn unknown(kind: &str, input: &str, names: &[String]) -> anyhow::Error {
    unknown_named(kind, kind, input, names)
}

/// Like [`unknown`], with the kind described (`app of cluster hmlet:`).
pub fn unknown_named(label: &str, kind: &str, input: &str, names: &[String]) -> anyhow::Error {
    anyhow::anyhow!(
        "unknown {label} `{input}`\n  hint: {}",
        hint(kind, input, names)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_typos_not_strangers() {
        let stages = ["local", "test", "stage", "prod"];
        assert_eq!(closest("lcoal", stages), Some("local"));
        assert_eq!(closest("prd", stages), Some("prod"));
        assert_eq!(closest("staging", stages), Some("stage"));
        assert_eq!(closest("kubernetes", stages), None);
    }

    #[test]
    fn hints_list_names_when_nothing_is_close() {
        let names = vec!["local".to_owned(), "prod".to_owned()];
        assert_eq!(hint("stage", "lcoal", &names), "did you mean `local`?");
        assert_eq!(
            hint("stage", "zzzzzzzz", &names),
            "the stages are: local, prod"
        );
        assert_eq!(hint("app", "x", &[]), "this repository has no apps yet");
    }
}
