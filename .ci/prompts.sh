#!/usr/bin/env bash
# The zsh prompt frameworks that come from npm, for the prompt tests
# (tests/it/prompts.rs), in target/prompt-frameworks/node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=target/prompt-frameworks
mkdir -p "$dir"
if [ ! -f "$dir/node_modules/pure-prompt/pure.zsh" ] || [ ! -f "$dir/node_modules/spaceship-prompt/spaceship.zsh" ]; then
  (cd "$dir" && npm install --silent --no-audit --no-fund pure-prompt@1.28.3 spaceship-prompt@4.22.5 >/dev/null)
fi
# oh-my-zsh, powerlevel10k, liquidprompt and bash-preexec as their upstream
# repositories have them (the team's fixtures), for the same tests.
fixtures=../shared/fixtures/prompt-frameworks.tar.gz
dest=$dir/fixtures
if [ ! -f "$dest/powerlevel10k/powerlevel10k.zsh-theme" ]; then
  rm -rf "$dest.new" && mkdir -p "$dest.new"
  tar xzf "$fixtures" -C "$dest.new"
  rm -rf "$dest" && mv "$dest.new" "$dest"
fi
