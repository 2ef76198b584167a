//! Snapshots of `--help` of every command (insta): a change of wording or
//! of a flag shows up in review.

use clap::CommandFactory;

fn walk(cmd: &mut clap::Command, path: &str, out: &mut Vec<(String, String)>) {
    out.push((path.to_owned(), cmd.render_long_help().to_string()));
    let names: Vec<String> = cmd
        .get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
        .map(|c| c.get_name().to_owned())
        .collect();
    for name in names {
        let sub = cmd.find_subcommand_mut(&name).expect("listed");
        walk(sub, &format!("{path} {name}"), out);
    }
}

#[test]
fn help_of_every_command() {
    let mut cmd = stagecraft_core::cli::Cli::command().term_width(100);
    cmd.build();
    let mut helps = Vec::new();
    walk(&mut cmd, "cargo xtask", &mut helps);
    assert!(helps.len() > 30, "{} commands", helps.len());
    for (path, help) in helps {
        let name = format!("help {path}").replace(' ', "_");
        insta::assert_snapshot!(name, help);
    }
}
