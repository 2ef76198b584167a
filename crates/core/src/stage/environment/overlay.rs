//! The environment of a child process in a stage: the user's own, the
//! stage's values on top, and the record that undoes them.

use std::collections::BTreeMap;

use super::Entry;
use crate::user_env::{RESTORE_VAR, STAGECRAFT_VARS};

/// `base` with the stage's entries on top. Stagecraft's own variables of
/// `base` that the stage does not set are dropped (a stale `XTASK_APP`
/// from the user's environment would name the wrong app); the originals
/// of everything replaced or dropped go into `XTASK_RESTORE`.
pub fn overlay(base: &BTreeMap<String, String>, entries: &[Entry]) -> Vec<(String, String)> {
    let mut env = base.clone();
    let mut originals: BTreeMap<&str, Option<&String>> = BTreeMap::new();
    for name in STAGECRAFT_VARS {
        if let Some(value) = base.get(name) {
            originals.insert(name, Some(value));
            env.remove(name);
        }
    }
    for entry in entries {
        originals.insert(&entry.name, base.get(&entry.name));
    }
    let restore = serde_json::to_string(&originals).expect("strings serialize");
    for entry in entries {
        env.insert(entry.name.clone(), entry.value.clone());
    }
    env.insert(RESTORE_VAR.to_owned(), restore);
    env.into_iter().collect()
}
