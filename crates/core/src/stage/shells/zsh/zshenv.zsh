# Stagecraft: the .zshenv of a stage shell (zsh). ZDOTDIR points here until
# the user's own .zshenv ran; zsh then reads this folder's .zshrc.
__xtask_dir=$ZDOTDIR
if [[ -n ${XTASK_USER_ZDOTDIR+x} ]]; then ZDOTDIR=$XTASK_USER_ZDOTDIR; else unset ZDOTDIR; fi
unset XTASK_USER_ZDOTDIR
if [[ -f ${ZDOTDIR:-$HOME}/.zshenv ]]; then source ${ZDOTDIR:-$HOME}/.zshenv; fi
__xtask_had_zdotdir=${ZDOTDIR+x}
__xtask_user_zdotdir=${ZDOTDIR-}
ZDOTDIR=$__xtask_dir
