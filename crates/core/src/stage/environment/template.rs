//! `${NAME}` templates: the one engine for variables, hostnames and values
//! files. `$$` is a literal `$`; a `$` before anything else is itself.

/// A template cut at its `${NAME}` references.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Ref(&'a str),
}

/// The pieces of `text`, or what is wrong with it.
pub fn pieces(text: &str) -> Result<Vec<Piece<'_>>, &'static str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        if dollar > 0 {
            out.push(Piece::Text(&rest[..dollar]));
        }
        let after = &rest[dollar + 1..];
        if let Some(after) = after.strip_prefix('$') {
            out.push(Piece::Text("$"));
            rest = after;
        } else if let Some(body) = after.strip_prefix('{') {
            let close = body.find('}').ok_or("an unterminated `${`")?;
            out.push(Piece::Ref(&body[..close]));
            rest = &body[close + 1..];
        } else {
            out.push(Piece::Text("$"));
            rest = after;
        }
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

/// `text` with each `${NAME}` filled by `lookup`; the error names what is
/// undefined.
pub fn expand<'v>(text: &str, lookup: impl Fn(&str) -> Option<&'v str>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    for piece in pieces(text).map_err(str::to_owned)? {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Ref(name) => match lookup(name) {
                Some(value) => out.push_str(value),
                None => return Err(format!("undefined variable `${{{name}}}`")),
            },
        }
    }
    Ok(out)
}

/// `text` as a template that expands to itself: `$` doubled.
pub fn literal(text: &str) -> String {
    text.replace('$', "$$")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_of_a_template() {
        assert_eq!(
            pieces("a${B}c$$d$e").unwrap(),
            [
                Piece::Text("a"),
                Piece::Ref("B"),
                Piece::Text("c"),
                Piece::Text("$"),
                Piece::Text("d"),
                Piece::Text("$"),
                Piece::Text("e"),
            ]
        );
        assert!(pieces("x${open").is_err());
    }

    #[test]
    fn literal_round_trips() {
        let text = "a ${B} $$ $c";
        assert_eq!(expand(&literal(text), |_| None).unwrap(), text);
    }
}
