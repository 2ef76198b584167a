//! Output conventions: `--verbose`, `--quiet`, styles that follow the
//! terminal and `NO_COLOR` (anstream strips them elsewhere), stdout that
//! exits quietly when its reader goes away, and secrets masked on stderr.

use std::fmt;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

use anstyle::{AnsiColor, Style};

pub const MASK: &str = "***";

/// What a closed stdout exits with: as a shell reports death by SIGPIPE,
/// quiet and non-zero, so that `set -o pipefail` still notices.
pub const CLOSED_PIPE_EXIT: i32 = 128 + 13;

static LEVEL: AtomicU8 = AtomicU8::new(1);

pub fn set_level(quiet: bool, verbose: bool) {
    let level = match (quiet, verbose) {
        (true, _) => 0,
        (false, true) => 2,
        (false, false) => 1,
    };
    LEVEL.store(level, Ordering::Relaxed);
}

pub fn verbose() -> bool {
    LEVEL.load(Ordering::Relaxed) >= 2
}

pub fn quiet() -> bool {
    LEVEL.load(Ordering::Relaxed) == 0
}

pub const RED_BOLD: Style = AnsiColor::Red.on_default().bold();
pub const YELLOW_BOLD: Style = AnsiColor::Yellow.on_default().bold();
pub const CYAN_BOLD: Style = AnsiColor::Cyan.on_default().bold();
pub const GREEN: Style = AnsiColor::Green.on_default();
pub const DIM: Style = Style::new().dimmed();

/// `text` in `style`; the stream it is written to drops the style when it
/// is not a terminal or NO_COLOR is set.
pub fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

/// Writes to stdout; a reader that went away (`| head -1`) ends the
/// process quietly instead of a panic.
pub fn write_out(args: fmt::Arguments<'_>) {
    let text = args.to_string();
    // Only styled text needs anstream (which drops styles off a terminal);
    // plain text, most of it (`list --json`), skips its scan.
    let written = if text.contains('\x1b') {
        let mut out = anstream::stdout().lock();
        out.write_all(text.as_bytes()).and_then(|()| out.flush())
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes()).and_then(|()| out.flush())
    };
    if let Err(e) = written {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(CLOSED_PIPE_EXIT);
        }
        // Nothing sensible can be printed about stdout failing but the fact.
        let _ = writeln!(anstream::stderr(), "error: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// Writes to stderr, secrets masked. A closed stderr is ignored.
pub fn write_err(args: fmt::Arguments<'_>) {
    let text = mask(&args.to_string());
    let _ = anstream::stderr().lock().write_all(text.as_bytes());
}

/// `println!` through [`write_out`].
#[macro_export]
macro_rules! outln {
    () => { $crate::ui::write_out(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::ui::write_out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` through [`write_out`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::ui::write_out(format_args!($($arg)*)) };
}

/// `eprintln!` through [`write_err`]: secrets masked.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => { $crate::ui::write_err(format_args!("{}\n", format_args!($($arg)*))) };
}

/// A status line on stderr, silenced by `--quiet`.
pub fn info(message: &str) {
    if !quiet() {
        write_err(format_args!("{message}\n"));
    }
}

/// A result line on stdout, silenced by `--quiet`.
pub fn say(message: &str) {
    if !quiet() {
        write_out(format_args!("{message}\n"));
    }
}

/// `note: ...` on stderr: something that will trip the user soon, with
/// its fix; silenced by `--quiet`.
pub fn note(message: &str) {
    if !quiet() {
        write_err(format_args!(
            "{} {}\n",
            paint(CYAN_BOLD, "note:"),
            escape_controls(message)
        ));
    }
}

/// `warning: ...` on stderr (also under `--quiet`: it is not chatter).
pub fn warn(message: &str) {
    write_err(format_args!(
        "{} {}\n",
        paint(YELLOW_BOLD, "warning:"),
        escape_controls(message)
    ));
}

/// A logged command line with `--verbose`.
pub fn trace(line: &str) {
    if verbose() {
        write_err(format_args!("{}\n", paint(DIM, &format!("+ {line}"))));
    }
}

/// The error and its whole chain, once, on stderr.
/// Control characters of the messages (a config value, an argument) are
/// shown escaped, never sent to the terminal.
pub fn print_error(err: &anyhow::Error) {
    let mut chain = err.chain();
    if let Some(top) = chain.next() {
        let top = escape_controls(&top.to_string());
        write_err(format_args!("{} {top}\n", paint(RED_BOLD, "error:")));
    }
    for cause in chain {
        let cause = escape_controls(&cause.to_string());
        write_err(format_args!("  caused by: {cause}\n"));
    }
}

/// Values that never appear on stderr: every secret this process resolved
/// or was handed. Longest first, so a secret that contains another is
/// masked whole.
static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// From now on, `value` is printed as `***` in every log and error line,
/// and so are the forms a tool echoes it in: JSON-escaped (an object in an
/// error message) and base64 (a Secret's `data`).
pub fn register_secret(value: &str) {
    // Masking one- or two-character values would garble every message.
    if value.chars().count() < 3 {
        return;
    }
    let escaped = serde_json::to_string(value).expect("strings serialize");
    let forms = [
        value.to_owned(),
        escaped[1..escaped.len() - 1].to_owned(),
        base64(value.as_bytes()),
    ];
    let mut secrets = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    for form in forms {
        if !secrets.contains(&form) {
            secrets.push(form);
        }
    }
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Standard base64 with padding (what Kubernetes writes in a Secret's
/// `data`).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `text` with every registered secret replaced by `***`, and the
/// password of any `scheme://user:password@host` too.
pub fn mask(text: &str) -> String {
    let secrets = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = text.to_owned();
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), MASK);
        }
    }
    mask_url_credentials(&out)
}

/// `https://user:pass@host/x?token=abc` becomes
/// `https://user:***@host/x?token=***`: credentials in URLs (mirrors,
/// webhooks) are never printed.
pub fn mask_url_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let end = after
            .find(|c: char| c.is_whitespace() || "\"'`<>".contains(c))
            .unwrap_or(after.len());
        out.push_str(&mask_one_url(&after[..end]));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

const TOKEN_KEYS: [&str; 8] = [
    "token",
    "access_token",
    "api_key",
    "apikey",
    "key",
    "secret",
    "password",
    "sig",
];

fn mask_one_url(url: &str) -> String {
    let host_end = url.find(['/', '?', '#']).unwrap_or(url.len());
    let (authority, tail) = url.split_at(host_end);
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{name}:{MASK}@{host}"),
            None => format!("{MASK}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if TOKEN_KEYS.contains(&k.to_ascii_lowercase().as_str()) => {
                        format!("{k}={MASK}")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{authority}{tail}")
}

/// A URL whose path is a credential (a webhook: Slack's
/// `/services/T000/B000/XXXX`), as it may be shown: scheme, host and the
/// first path segment; the rest, the user's password and token query
/// values masked. The hidden part is registered as a secret, so an error
/// that repeats the URL is masked too.
pub fn redact_url(url: &str) -> String {
    let masked = mask_url_credentials(url);
    let Some(scheme_end) = masked.find("://") else {
        return masked;
    };
    let after = &masked[scheme_end + 3..];
    let Some(path_at) = after.find('/') else {
        return masked;
    };
    let path = &after[path_at + 1..];
    let first_end = path.find(['/', '?', '#']).unwrap_or(path.len());
    // One segment (its query's tokens already masked): nothing to hide.
    if !path[first_end..].starts_with('/') {
        return masked;
    }
    if let Some(raw_at) = url
        .find("://")
        .and_then(|s| url[s + 3..].find('/').map(|p| s + 3 + p + 1))
    {
        let raw_path = &url[raw_at..];
        let raw_first = raw_path.find(['/', '?', '#']).unwrap_or(raw_path.len());
        register_secret(&raw_path[raw_first..]);
    }
    format!(
        "{}://{}/{}/{MASK}",
        &masked[..scheme_end],
        &after[..path_at],
        &path[..first_end]
    )
}

/// Control characters (terminal escapes from a config value or argv) made
/// visible, for human output; `--json` keeps values exact.
pub fn escape_controls(text: &str) -> String {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return text.to_owned();
    }
    text.chars()
        .map(|c| match c {
            '\n' | '\t' => c.to_string(),
            c if c.is_control() => c.escape_default().to_string(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_and_tokens_are_masked() {
        assert_eq!(
            mask_url_credentials("GET https://me:pa55@mirror.example/x/y?a=1&token=abc failed"),
            "GET https://me:***@mirror.example/x/y?a=1&token=*** failed"
        );
        assert_eq!(
            mask_url_credentials("`https://hooks.example/T0/B0?key=zz`"),
            "`https://hooks.example/T0/B0?key=***`"
        );
        assert_eq!(
            mask_url_credentials("plain http://h:80/p and text"),
            "plain http://h:80/p and text"
        );
    }

    #[test]
    fn secrets_are_masked_raw_json_escaped_and_in_base64() {
        assert_eq!(base64(b"hunter2"), "aHVudGVyMg==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        register_secret("pa\"ss\\w0rd-ui-test");
        let echoed = r#"{"stringData":{"P":"pa\"ss\\w0rd-ui-test"},"data":{"P":"cGEic3NcdzByZC11aS10ZXN0"}}"#;
        assert_eq!(
            mask(echoed),
            r#"{"stringData":{"P":"***"},"data":{"P":"***"}}"#
        );
    }

    #[test]
    fn webhook_paths_are_redacted() {
        assert_eq!(
            redact_url("https://hooks.slack.com/services/T000/B000/XXXXredact"),
            "https://hooks.slack.com/services/***"
        );
        assert_eq!(
            mask("failed: https://hooks.slack.com/services/T000/B000/XXXXredact: 404"),
            "failed: https://hooks.slack.com/services***: 404"
        );
        assert_eq!(
            redact_url("https://h.example/hook"),
            "https://h.example/hook"
        );
        assert_eq!(
            redact_url("https://me:pw@h.example/a/b?token=t"),
            "https://me:***@h.example/a/***"
        );
    }

    #[test]
    fn controls_are_escaped() {
        assert_eq!(escape_controls("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape_controls("line\nnext"), "line\nnext");
    }
}
