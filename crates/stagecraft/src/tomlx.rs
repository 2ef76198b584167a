//! Edits of TOML files that keep every comment and the layout (toml_edit),
//! so that only the value changes.

/// Sets a value in a table being edited, keeping the comments and spacing
/// around it.
pub fn set_keeping_decor(table: &mut dyn toml_edit::TableLike, key: &str, value: toml_edit::Value) {
    match table.get_mut(key).and_then(|item| item.as_value_mut()) {
        Some(existing) => {
            if existing.to_string().trim() == value.to_string().trim() {
                return;
            }
            let decor = existing.decor().clone();
            *existing = value;
            *existing.decor_mut() = decor;
        }
        None => {
            table.insert(key, toml_edit::Item::Value(value));
        }
    }
}

/// The run of comment lines right under a table's header (no blank line
/// before it) is that table's own comment. toml_edit keeps it in the decor
/// of what follows (the next table's header, or the document's end), so a
/// key added to that table, or a table added after it, would land above it
/// and the comment would describe the wrong table. This moves the run in
/// front of `table`'s first key, `key` (which was just added to an empty
/// table), or, when `key` is None, in front of `table` itself (just added
/// after the last table).
pub fn keep_attached_comment(
    doc: &mut toml_edit::DocumentMut,
    table: &[String],
    key: Option<&str>,
) {
    let target_position = table_at(doc.as_table(), table).and_then(toml_edit::Table::position);
    // What follows the table's header: the next table's header, or the end.
    let mut next: Option<(isize, Vec<String>)> = None;
    visit_tables(doc.as_table(), &mut Vec::new(), &mut |path, t| {
        if let (Some(position), Some(target)) = (t.position(), target_position)
            && position > target
            && key.is_some()
            && next.as_ref().is_none_or(|(p, _)| position < *p)
        {
            next = Some((position, path.to_vec()));
        }
    });
    let following = match &next {
        Some((_, path)) => table_at(doc.as_table(), path)
            .and_then(|t| t.decor().prefix())
            .and_then(|p| p.as_str())
            .map(str::to_owned),
        None => doc.trailing().as_str().map(str::to_owned),
    };
    let Some(following) = following else { return };
    // Attached: it starts with a comment, not with a blank line.
    if !following.starts_with('#') {
        return;
    }
    let run_end = following.find("\n\n").map_or(following.len(), |at| at + 1);
    let (run, rest) = following.split_at(run_end);
    let (run, rest) = (run.to_owned(), rest.to_owned());
    match &next {
        Some((_, path)) => {
            if let Some(t) = table_at_mut(doc.as_table_mut(), path) {
                t.decor_mut().set_prefix(rest);
            }
        }
        None => doc.set_trailing(rest),
    }
    let Some(target) = table_at_mut(doc.as_table_mut(), table) else {
        return;
    };
    match key {
        Some(key) => {
            if let Some(mut k) = target.key_mut(key) {
                k.leaf_decor_mut().set_prefix(run);
            }
        }
        None => target.decor_mut().set_prefix(format!("{run}\n")),
    }
}

fn table_at<'d>(root: &'d toml_edit::Table, path: &[String]) -> Option<&'d toml_edit::Table> {
    path.iter()
        .try_fold(root, |t, segment| t.get(segment)?.as_table())
}

fn table_at_mut<'d>(
    root: &'d mut toml_edit::Table,
    path: &[String],
) -> Option<&'d mut toml_edit::Table> {
    path.iter()
        .try_fold(root, |t, segment| t.get_mut(segment)?.as_table_mut())
}

fn visit_tables(
    table: &toml_edit::Table,
    path: &mut Vec<String>,
    each: &mut dyn FnMut(&[String], &toml_edit::Table),
) {
    for (key, item) in table.iter() {
        if let Some(child) = item.as_table() {
            path.push(key.to_owned());
            each(path, child);
            visit_tables(child, path, each);
            path.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_keep_comments() {
        let text = "# pins\n[tools.k]\nversion = \"1.0.0\" # the version\n\n[tools.k.sha256]\n# amd64\nlinux-amd64 = \"old\"\n";
        let mut doc: toml_edit::DocumentMut = text.parse().unwrap();
        let tool = doc["tools"]["k"].as_table_like_mut().unwrap();
        set_keeping_decor(tool, "version", "2.0.0".into());
        let sha = tool.get_mut("sha256").unwrap().as_table_like_mut().unwrap();
        set_keeping_decor(sha, "linux-amd64", "new".into());
        set_keeping_decor(sha, "darwin-arm64", "new2".into());
        assert_eq!(
            doc.to_string(),
            "# pins\n[tools.k]\nversion = \"2.0.0\" # the version\n\n[tools.k.sha256]\n# amd64\nlinux-amd64 = \"new\"\ndarwin-arm64 = \"new2\"\n"
        );
    }

    #[test]
    fn a_tables_own_comment_stays_above_what_is_added() {
        let path = |p: &str| p.split('.').map(str::to_owned).collect::<Vec<_>>();
        // The first key of an empty table goes under the table's comment;
        // a comment after a blank line stays where it was.
        let text = "[vars]\n# The app's variables.\n\n# Tasks: an example.\n# [tasks.x]\n";
        let mut doc: toml_edit::DocumentMut = text.parse().unwrap();
        doc["vars"]["A"] = toml_edit::value("1");
        keep_attached_comment(&mut doc, &path("vars"), Some("A"));
        assert_eq!(
            doc.to_string(),
            "[vars]\n# The app's variables.\nA = \"1\"\n\n# Tasks: an example.\n# [tasks.x]\n"
        );
        // A table added after it: the comment stays with its table.
        let mut doc: toml_edit::DocumentMut = text.parse().unwrap();
        let mut table = toml_edit::Table::new();
        table.insert("B", toml_edit::value("2"));
        doc.insert("later", toml_edit::Item::Table(table));
        keep_attached_comment(&mut doc, &path("later"), None);
        assert_eq!(
            doc.to_string(),
            "[vars]\n# The app's variables.\n\n[later]\nB = \"2\"\n\n# Tasks: an example.\n# [tasks.x]\n"
        );
        // Before the next table's header the same.
        let text = "[vars]\n# Mine.\n\n# The next one's.\n[next]\nC = 3\n";
        let mut doc: toml_edit::DocumentMut = text.parse().unwrap();
        doc["vars"]["A"] = toml_edit::value("1");
        keep_attached_comment(&mut doc, &path("vars"), Some("A"));
        assert_eq!(
            doc.to_string(),
            "[vars]\n# Mine.\nA = \"1\"\n\n# The next one's.\n[next]\nC = 3\n"
        );
    }
}
