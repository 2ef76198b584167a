//! `.gitignore` and `.dockerignore` patterns, for what an image's build
//! reads: git's rules decide which untracked files exist for the build
//! (a built artifact in `target/` is not an input), docker's which files
//! of the context it sends. The two differ: a gitignore pattern without a
//! slash matches a name at any depth below its file, a dockerignore
//! pattern always matches from the context's root (`**/` for any depth).

use glob::{MatchOptions, Pattern};

const OPTIONS: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

#[derive(Debug)]
struct Rule {
    pattern: Pattern,
    negate: bool,
    dir_only: bool,
    /// Matched against the name only (a gitignore pattern without `/`).
    name_only: bool,
}

/// The rules of one ignore file, for paths relative to its `base` folder
/// (`""` for the root).
#[derive(Debug, Default)]
pub struct Rules {
    base: String,
    rules: Vec<Rule>,
}

impl Rules {
    /// A `.gitignore` (or `.git/info/exclude`) in folder `base`.
    pub fn gitignore(text: &str, base: &str) -> Rules {
        let mut rules = Vec::new();
        for line in text.lines() {
            let line = line.trim_end_matches(['\r']);
            let line = trim_unescaped_spaces(line);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negate, line) = match line.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, line.strip_prefix('\\').unwrap_or(line)),
            };
            let (dir_only, line) = match line.strip_suffix('/') {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            let name_only = !line.contains('/');
            let line = line.strip_prefix('/').unwrap_or(line);
            if let Ok(pattern) = Pattern::new(line) {
                rules.push(Rule {
                    pattern,
                    negate,
                    dir_only,
                    name_only,
                });
            }
        }
        Rules {
            base: base.to_owned(),
            rules,
        }
    }

    /// A `.dockerignore`, for paths relative to the build context.
    pub fn dockerignore(text: &str) -> Rules {
        let mut rules = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negate, line) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            // Docker cleans each pattern as a path: no leading or trailing
            // `/`, no `./`.
            let cleaned: Vec<&str> = line
                .split('/')
                .filter(|s| !s.is_empty() && *s != ".")
                .collect();
            if cleaned.is_empty() {
                continue;
            }
            if let Ok(pattern) = Pattern::new(&cleaned.join("/")) {
                rules.push(Rule {
                    pattern,
                    negate,
                    dir_only: false,
                    name_only: false,
                });
            }
        }
        Rules {
            base: String::new(),
            rules,
        }
    }

    /// Whether any rule re-includes (`!`): a folder these rules exclude
    /// must still be walked, something below it may be back in.
    pub fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|r| r.negate)
    }

    /// The verdict of the last rule that matches `path` (from the root,
    /// `/`-separated): Some(true) ignored, Some(false) re-included, None
    /// when no rule speaks of it.
    pub fn verdict(&self, path: &str, is_dir: bool) -> Option<bool> {
        let relative = match self.base.as_str() {
            "" => path,
            base => path.strip_prefix(base)?.strip_prefix('/')?,
        };
        let name = relative.rsplit('/').next().unwrap_or(relative);
        self.rules
            .iter()
            .rev()
            .find(|rule| {
                (!rule.dir_only || is_dir)
                    && match rule.name_only {
                        true => rule.pattern.matches_with(name, OPTIONS),
                        false => rule.pattern.matches_with(relative, OPTIONS),
                    }
            })
            .map(|rule| !rule.negate)
    }

    /// Docker's rule: a path is excluded when the last pattern matching it
    /// or one of its parent folders excludes it.
    pub fn docker_excludes(&self, path: &str) -> bool {
        let mut excluded = false;
        for rule in &self.rules {
            let mut matched = rule.pattern.matches_with(path, OPTIONS);
            let mut parent = path;
            while !matched && let Some((up, _)) = parent.rsplit_once('/') {
                matched = rule.pattern.matches_with(up, OPTIONS);
                parent = up;
            }
            if matched {
                excluded = !rule.negate;
            }
        }
        excluded
    }
}

/// Trailing spaces end a pattern unless escaped with `\`.
fn trim_unescaped_spaces(line: &str) -> &str {
    let trimmed = line.trim_end_matches(' ');
    if trimmed.ends_with('\\') && trimmed.len() < line.len() {
        &line[..trimmed.len() + 1]
    } else {
        trimmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitignore_names_match_at_any_depth_paths_from_their_folder() {
        let rules = Rules::gitignore(
            "# build output\ntarget/\n*.log\n!keep.log\n/dist\ndocs/*.html\n",
            "",
        );
        assert_eq!(rules.verdict("target", true), Some(true));
        assert_eq!(rules.verdict("src/target", true), Some(true));
        assert_eq!(rules.verdict("src/target", false), None, "only folders");
        assert_eq!(rules.verdict("a/b/x.log", false), Some(true));
        assert_eq!(rules.verdict("a/keep.log", false), Some(false));
        assert_eq!(rules.verdict("dist", true), Some(true));
        assert_eq!(rules.verdict("src/dist", true), None, "anchored");
        assert_eq!(rules.verdict("docs/a.html", false), Some(true));
        assert_eq!(rules.verdict("docs/x/a.html", false), None);
        let nested = Rules::gitignore("*.tmp\n/only-here\n", "src/app");
        assert_eq!(nested.verdict("src/app/x/y.tmp", false), Some(true));
        assert_eq!(nested.verdict("src/app/only-here", false), Some(true));
        assert_eq!(nested.verdict("src/other/y.tmp", false), None);
    }

    #[test]
    fn dockerignore_matches_from_the_context_and_excludes_below_a_folder() {
        let rules = Rules::dockerignore("node_modules\n*.md\n!README.md\n**/*.pyc\n./tmp/\n");
        assert!(rules.docker_excludes("node_modules/a/b.js"));
        assert!(rules.docker_excludes("CHANGES.md"));
        assert!(!rules.docker_excludes("README.md"));
        assert!(
            !rules.docker_excludes("docs/guide.md"),
            "from the root only"
        );
        assert!(rules.docker_excludes("a/b/c.pyc"));
        assert!(rules.docker_excludes("tmp/x"));
        assert!(!rules.docker_excludes("src/main.py"));
        assert!(rules.has_exceptions());
    }
}
