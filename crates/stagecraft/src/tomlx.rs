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
}
