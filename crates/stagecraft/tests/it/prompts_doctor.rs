//! `doctor` reads the prompt the user's shell really draws: with the
//! prefix turned off for a theme that does not show the stage, it says ✘,
//! names the theme and prints the theme's own snippet; with the snippet in
//! the rc file the theme shows the stage, once.

use std::fs;

use crate::prompts::{
    LIQUIDPROMPT, LOCAL, NPM, P9K, P10K, Setup, doctor_prompt, expand, open_stage_shell, prepare,
    rc_file, wait_prompt,
};

/// Users who turned the prefix off for a theme that does not show the
/// stage: `doctor` says ✘, names the theme and prints its snippet; with
/// the snippet in the rc file (before or after the theme, as the fix
/// says) the theme shows the stage, once, and `doctor` says ✔.
#[test]
fn doctor_names_the_framework_and_its_fix_when_the_stage_is_not_shown() {
    let p9k = "source /usr/share/powerlevel9k/powerlevel9k.zsh-theme\n";
    let lp = "[[ $- = *i* ]] && source /usr/share/liquidprompt/liquidprompt\n";
    let pure = "fpath+=({npm}/pure-prompt)\nautoload -U promptinit; promptinit\nprompt pure\n";
    let spaceship = "source {npm}/spaceship-prompt/spaceship.zsh\n";
    for (shell, theme, framework, needs) in [
        (
            "zsh",
            crate::prompts_upstream::p10k_rc("lean", false),
            "powerlevel10k",
            &[P10K],
        ),
        ("zsh", p9k, "powerlevel9k", &[P9K]),
        ("bash", lp, "liquidprompt", &[LIQUIDPROMPT]),
        ("zsh", pure, "pure", &[NPM]),
        ("zsh", spaceship, "spaceship", &[NPM]),
    ] {
        let setup = Setup {
            shell,
            rc: theme,
            needs,
            framework: Some(framework),
            input_prompt: None,
            prompt_rows: None,
        };
        let (repo, mut env) = prepare(&setup);
        env.push(("STAGECRAFT_PROMPT_PREFIX".to_owned(), "off".to_owned()));

        let broken = doctor_prompt(&repo, &env);
        assert_eq!(broken["ok"], false, "{broken:#}");
        assert_eq!(broken["prompt"]["framework"], framework, "{broken:#}");
        assert_eq!(broken["prompt"]["shows_stage"], false, "{broken:#}");
        let detail = broken["detail"].as_str().unwrap();
        assert!(detail.contains(framework), "{detail}");
        assert!(detail.contains("STAGECRAFT_PROMPT_PREFIX=off"), "{detail}");
        let fix = broken["fix"].as_str().unwrap();
        // The snippet is the fix's lines after "add to ...:".
        let place = fix
            .lines()
            .find(|l| l.contains("add to"))
            .unwrap_or_else(|| panic!("no snippet in the fix: {fix}"));
        let snippet: String = fix
            .lines()
            .skip_while(|l| !l.contains("add to"))
            .skip(1)
            .take_while(|l| !l.starts_with("and,"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(snippet.contains("XTASK_PROMPT"), "{fix}");
        let rc = if place.contains("before") {
            format!("{snippet}{theme}")
        } else {
            format!("{theme}{snippet}")
        };
        fs::write(repo.home.join(rc_file(shell)), expand(&rc)).unwrap();
        let fixed = doctor_prompt(&repo, &env);
        assert_eq!(fixed["ok"], true, "{framework}: {fixed:#}");
        assert!(
            fixed["detail"].as_str().unwrap().contains("by your theme"),
            "{fixed:#}"
        );

        let t = open_stage_shell(&repo, &env, "clusters/hmlet/apps/photos");
        wait_prompt(&t, None, LOCAL);
        t.send_line("echo m-once");
        let region = wait_prompt(&t, Some("m-once"), LOCAL);
        let shown = region.iter().filter(|r| r.contains(LOCAL)).count();
        assert_eq!(shown, 1, "{framework}: the stage shows once: {region:#?}");
        t.send_line("exit");
        t.wait_for("EXIT:0");
    }
}
