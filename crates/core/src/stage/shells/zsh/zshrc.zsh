# Stagecraft: the .zshrc of a stage shell (zsh). The same for every stage;
# the stage's values come in __XTASK_* variables, read and unset here.
if [[ -n $__xtask_had_zdotdir ]]; then ZDOTDIR=$__xtask_user_zdotdir; else unset ZDOTDIR; fi
unset __xtask_had_zdotdir __xtask_user_zdotdir __xtask_dir
__xtask_snapshot=$__XTASK_SNAPSHOT
__xtask_exe=$__XTASK_EXE
__xtask_path_prefix=$__XTASK_PATH_PREFIX
__xtask_width=$__XTASK_PROMPT_WIDTH
__xtask_switch=$__XTASK_SWITCH
unset __XTASK_SNAPSHOT __XTASK_EXE __XTASK_PATH_PREFIX __XTASK_PROMPT_WIDTH __XTASK_SWITCH

if [[ -f ${ZDOTDIR:-$HOME}/.zshrc ]]; then
  # A `stage` switch: the greeting of the rc file was seen on the way in.
  if [[ -n $__xtask_switch ]]; then source ${ZDOTDIR:-$HOME}/.zshrc >/dev/null; else source ${ZDOTDIR:-$HOME}/.zshrc; fi
fi

# The user's files ran: put the stage's values back.
__xtask_kubeconfig=$KUBECONFIG
eval "$__xtask_snapshot"
if [[ $__xtask_kubeconfig != "$KUBECONFIG" && -z $__xtask_switch ]]; then
  echo "stagecraft: your shell startup files set KUBECONFIG; the stage's own ($KUBECONFIG) was put back" >&2
fi
unset __xtask_snapshot __xtask_kubeconfig __xtask_switch
case "$PATH" in
  "$__xtask_path_prefix"|"$__xtask_path_prefix":*) ;;
  *) PATH="$__xtask_path_prefix${PATH:+:$PATH}" ;;
esac
unset __xtask_path_prefix

# `xtask ...`: the binary this shell was started from, with no cargo in
# between (`cargo xtask ...` still rebuilds what changed).
xtask() { "$__xtask_exe" "$@"; }

# Completion of `xtask ...` (commands, stages, apps, tasks with their
# descriptions), from the same binary, with zsh's completion system.
_stagecraft_xtask() { "$__xtask_exe" "$@"; }
source ${${(%):-%x}:h}/complete.zsh
_stagecraft_xtask_words() { _stagecraft_complete 0; }
if (( $+functions[compdef] )); then
  compdef _stagecraft_xtask_words xtask
elif [[ -o interactive ]]; then
  # The user's .zshrc did not start it (compinit): the first Tab does, with
  # no dump file (nothing written to HOME) and ignoring insecure folders
  # (no question asked), then completes as the Tab it replaces. The widget
  # takes the name `expand-or-complete`, so only a key still bound to it
  # (Tab, unless the user bound it elsewhere) starts it; no process is
  # started to read the key's binding (a fork would delay the prompt).
  __xtask_first_tab() {
    zle -A .expand-or-complete expand-or-complete
    autoload -Uz compinit && compinit -i -D
    compdef _stagecraft_xtask_words xtask
    zle expand-or-complete
  }
  zle -N expand-or-complete __xtask_first_tab
fi

# `stage NAME`: checks first, so a typo keeps this shell, then replaces it.
stage() {
  if [ $# -eq 0 ]; then echo "usage: stage <name> [--cluster C] [--app A]; now in $XTASK_STAGE" >&2; return 2; fi
  "$__xtask_exe" shell --switch --check --shell zsh "$@" || return
  exec "$__xtask_exe" shell --switch --shell zsh "$@"
}

if [[ -n $__xtask_width ]] && (( $+functions[p10k] )); then
  # powerlevel10k builds its prompt from segments, and redraws it from
  # instant prompt, async workers and transient prompt: the stage is its
  # first segment, through its own API. `-e` expands $XTASK_PROMPT when the
  # prompt is drawn, so the recorded instant prompt stays the same in every
  # stage (p10k's rule for instant_prompt_*) and shows the current one.
  unset __xtask_width
  prompt_stagecraft() { p10k segment -e -f 3 -t '${XTASK_PROMPT//\%/%%}' }
  instant_prompt_stagecraft() { prompt_stagecraft }
  # A user who added it (or doctor's older `xtask` snippet) keeps theirs.
  if (( ! ${POWERLEVEL9K_LEFT_PROMPT_ELEMENTS[(Ie)stagecraft]} && ! ${POWERLEVEL9K_LEFT_PROMPT_ELEMENTS[(Ie)xtask]} )); then
    typeset -ga POWERLEVEL9K_LEFT_PROMPT_ELEMENTS=(stagecraft "${POWERLEVEL9K_LEFT_PROMPT_ELEMENTS[@]}")
  fi
  # Takes effect at once when p10k is already initialized; a no-op before.
  p10k reload
elif [[ -n $__xtask_width ]]; then
  # The prefix is text in PS1. zsh counts the padding (the width
  # Stagecraft measured, an emoji with a variation selector as 2); the
  # text is printed from the saved cursor position, which is then restored
  # and moved by that width, so zle and the terminal agree on the column
  # whatever width the terminal gives the emoji.
  () {
    local text="$XTASK_PROMPT " pad
    printf -v pad '%*s' $__xtask_width ''
    text=${text//\%/%%}
    typeset -g __xtask_ps1=$'%{\e7%}'$pad$'%{\e8'$text$'\e8\e['$__xtask_width$'C%}'
    # With promptsubst on, the text is expanded once more.
    text=${text//\\/\\\\}; text=${text//\$/\\\$}; text=${text//\`/\\\`}
    typeset -g __xtask_ps1_subst=$'%{\e7%}'$pad$'%{\e8'$text$'\e8\e['$__xtask_width$'C%}'
  }
  unset __xtask_width

  # Puts the prefix at the start of the prompt's last line (a first line
  # that fills the terminal, as adam2's, stays one line); fails when it
  # is there already.
  __xtask_apply() {
    local ins=$__xtask_ps1 tail
    [[ -n $__xtask_theme_ps1 && $PS1 == "$__xtask_theme_ps1" ]] && return 1
    [[ -o promptsubst ]] && ins=$__xtask_ps1_subst
    [[ -o promptbang ]] && ins=${ins//!/!!}
    [[ $PS1 == *"$ins"* ]] && return 1
    tail=${PS1##*[$'\n\r']}
    [[ $tail == '%}'* ]] && tail=${tail#??}
    PS1=${PS1[1,$#PS1-$#tail]}$ins$tail
  }
  # spaceship draws its prompt from sections, also from async callbacks:
  # the prefix becomes its first section.
  if [[ -n $SPACESHIP_VERSION ]] && (( $+functions[spaceship::section] )); then
    spaceship_xtask() { spaceship::section --color yellow --prefix '' --suffix '' "$__xtask_ps1" }
    (( ${SPACESHIP_PROMPT_ORDER[(Ie)xtask]} )) || SPACESHIP_PROMPT_ORDER=(xtask $SPACESHIP_PROMPT_ORDER)
    __xtask_theme_ps1='$(spaceship::prompt)'
  fi
  # Last among the precmd hooks, every time: themes whose own hook comes
  # later (powerlevel10k) rebuild PS1 before ours.
  __xtask_precmd() {
    [[ ${precmd_functions[-1]} == __xtask_precmd ]] ||
      precmd_functions=(${precmd_functions:#__xtask_precmd} __xtask_precmd)
    __xtask_apply
    return 0
  }
  # Themes that rebuild PS1 after precmd (from zle-line-init, as
  # powerlevel10k's instant and transient prompts) get the prefix back
  # before the line is edited. No autoload: start-up reads no file more.
  __xtask_line_init() {
    (( ${+widgets[__xtask_user_line_init]} )) && zle __xtask_user_line_init -- "$@"
    __xtask_apply && zle .reset-prompt
    return 0
  }
  if [[ ${widgets[zle-line-init]-} == user:azhw:* ]] && (( $+functions[add-zle-hook-widget] )); then
    add-zle-hook-widget zle-line-init __xtask_line_init
  else
    (( ${+widgets[zle-line-init]} )) && zle -A zle-line-init __xtask_user_line_init
    zle -N zle-line-init __xtask_line_init
  fi
  precmd_functions+=(__xtask_precmd)
fi
