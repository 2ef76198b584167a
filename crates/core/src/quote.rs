//! Quoting for POSIX shells (bash, zsh, sh, dotenv) and fish: the bottom
//! floor that command lines, shell scripts and `env` output build on.

/// Single-quoted for POSIX sh, bash and zsh: nothing inside is expanded.
pub fn posix(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// Quoted only when needed, for copy-pasteable command lines.
pub fn posix_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        posix(word)
    }
}

/// Words joined into one copy-pasteable command line.
pub fn posix_line<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| posix_word(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Single-quoted for fish, where `\\` and `\'` are the only escapes.
pub fn fish(value: &str) -> String {
    format!("'{}'", value.replace('\\', r"\\").replace('\'', r"\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posix_quoting() {
        assert_eq!(posix("it's"), r"'it'\''s'");
        assert_eq!(posix(""), "''");
        assert_eq!(posix_word("a-b/c.d"), "a-b/c.d");
        assert_eq!(posix_word("a b"), "'a b'");
        assert_eq!(posix_word(""), "''");
    }

    #[test]
    fn fish_quoting() {
        assert_eq!(fish(r"a\b'c"), r"'a\\b\'c'");
    }
}
