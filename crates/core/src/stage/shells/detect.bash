# Stagecraft doctor: which prompt framework this bash runs (typed into the
# user's shell as `eval "$__XTASK_DETECT"`).
__xtask_fw=
if [[ -n ${LP_VERSION-} ]] || declare -F __lp_set_prompt >/dev/null; then __xtask_fw=liquidprompt
elif declare -F _powerline_set_prompt >/dev/null; then __xtask_fw=powerline
elif [[ -n ${STARSHIP_SHELL-} ]]; then __xtask_fw=starship
elif [[ -n ${POSH_THEME-} ]] || declare -F _omp_hook >/dev/null; then __xtask_fw=oh-my-posh
elif [[ -n ${OSH_THEME-} ]]; then __xtask_fw=oh-my-bash
elif [[ -n ${BASH_IT_THEME-} ]]; then __xtask_fw=bash-it
fi
printf '%s:%s\n' stagecraft-framework "$__xtask_fw"
unset __xtask_fw
