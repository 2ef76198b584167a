# Stagecraft doctor: which prompt framework this zsh runs (typed into the
# user's shell as `eval "$__XTASK_DETECT"`).
() {
  local fw=
  if (( $+functions[p10k] )); then fw=powerlevel10k
  elif (( $+functions[powerlevel9k_prepare_prompts] )); then fw=powerlevel9k
  elif [[ -n ${SPACESHIP_VERSION-} ]]; then fw=spaceship
  elif (( ${+prompt_pure_state} )); then fw=pure
  elif [[ -n ${STARSHIP_SHELL-} ]]; then fw=starship
  elif [[ -n ${POSH_THEME-} ]] || (( $+functions[_omp_precmd] )); then fw=oh-my-posh
  elif (( $+functions[_powerline_set_main_keymap] || $+functions[_powerline_setup_prompt] )); then fw=powerline
  elif [[ -n ${ZSH_THEME-} ]]; then fw="oh-my-zsh $ZSH_THEME"
  elif [[ -n ${prompt_theme-} ]]; then fw="prompt $prompt_theme[1]"  # promptinit's
  fi
  # zsh's completion system: the user's (compinit ran), the stage shell's
  # first Tab, or none.
  local completion=off
  if (( $+functions[compdef] )); then completion=compinit
  elif [[ ${widgets[expand-or-complete]-} == user:__xtask_first_tab && ${$(bindkey '^I')[2]} == expand-or-complete ]]; then
    completion=first-tab
  fi
  printf '%s:%s\n' stagecraft-completion "$completion"
  printf '%s:%s\n' stagecraft-framework "$fw"
}
