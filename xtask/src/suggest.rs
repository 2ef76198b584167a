//! "Did you mean ...?" for unknown stage, cluster, app and key names.

/// The candidate closest to `input`, when it is close enough to be a typo.
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = input.chars().count().div_ceil(3).max(2);
    candidates
        .into_iter()
        .map(|c| (distance(input, c), c))
        .filter(|&(d, c)| d <= limit || c.starts_with(input) || input.starts_with(c))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// `unknown stage `lcoal``; did you mean `local`? The names are: ...
pub fn unknown(kind: &str, input: &str, names: &[String]) -> anyhow::Error {
    let mut message = format!("unknown {kind} `{input}`");
    match closest(input, names.iter().map(String::as_str)) {
        Some(best) => message.push_str(&format!("\n  hint: did you mean `{best}`?")),
        None if names.is_empty() => {
            message.push_str(&format!("\n  hint: this repository has no {kind}s yet"))
        }
        None => message.push_str(&format!("\n  hint: the {kind}s are: {}", names.join(", "))),
    }
    anyhow::anyhow!(message)
}

/// Levenshtein distance over chars, with adjacent transpositions counted once.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev2: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(prev2[j - 2] + 1);
            }
        }
        prev2 = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
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
    fn distance_counts_edits() {
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("abc", "abc"), 0);
        assert_eq!(distance("abc", "acb"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
