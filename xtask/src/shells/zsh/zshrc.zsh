# Stagecraft: the .zshrc of a stage shell (zsh). The same for every stage;
# the stage's values come in __XTASK_* variables, read and unset here.
if [[ -n $__xtask_had_zdotdir ]]; then ZDOTDIR=$__xtask_user_zdotdir; else unset ZDOTDIR; fi
unset __xtask_had_zdotdir __xtask_user_zdotdir __xtask_dir
__xtask_snapshot=$__XTASK_SNAPSHOT
__xtask_exe=$__XTASK_EXE
__xtask_path_prefix=$__XTASK_PATH_PREFIX
__xtask_prompt_on=$__XTASK_PROMPT_ON
unset __XTASK_SNAPSHOT __XTASK_EXE __XTASK_PATH_PREFIX __XTASK_PROMPT_ON

if [[ -f ${ZDOTDIR:-$HOME}/.zshrc ]]; then source ${ZDOTDIR:-$HOME}/.zshrc; fi

# The user's files ran: put the stage's values back.
__xtask_kubeconfig=$KUBECONFIG
eval "$__xtask_snapshot"
if [ "$__xtask_kubeconfig" != "$KUBECONFIG" ]; then
  echo "stagecraft: your shell startup files set KUBECONFIG; the stage's own ($KUBECONFIG) was put back" >&2
fi
unset __xtask_snapshot __xtask_kubeconfig
case "$PATH" in
  "$__xtask_path_prefix"|"$__xtask_path_prefix":*) ;;
  *) PATH="$__xtask_path_prefix${PATH:+:$PATH}" ;;
esac
unset __xtask_path_prefix

# `xtask ...`: the binary this shell was started from, with no cargo in
# between (`cargo xtask ...` still rebuilds what changed).
xtask() { "$__xtask_exe" "$@"; }

# `stage NAME`: checks first, so a typo keeps this shell, then replaces it.
stage() {
  if [ $# -eq 0 ]; then echo "usage: stage <name> [--cluster C] [--app A]; now in $XTASK_STAGE" >&2; return 2; fi
  "$__xtask_exe" shell --switch --check --shell zsh "$@" || return
  exec "$__xtask_exe" shell --switch --shell zsh "$@"
}

if [[ -n $__xtask_prompt_on ]]; then
  __xtask_precmd() {
    local p=${XTASK_PROMPT//\%/%%}
    if [[ -o promptsubst ]]; then p=${p//\\/\\\\}; p=${p//\$/\\\$}; p=${p//\`/\\\`}; fi
    p="$p "
    [[ $PS1 == "$p"* ]] || PS1="$p$PS1"
  }
  autoload -Uz add-zsh-hook && add-zsh-hook precmd __xtask_precmd
fi
unset __xtask_prompt_on
