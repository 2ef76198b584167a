# Stagecraft: the init command of a stage shell (fish), run after the
# user's config. The same for every stage; the stage's values come in
# __XTASK_* variables, read and erased here.
set -l __xtask_kubeconfig $KUBECONFIG
printf '%s' $__XTASK_SNAPSHOT | source
set -g __xtask_exe $__XTASK_EXE
set -l __xtask_prefix (string split \n -- $__XTASK_PATH_PREFIX)
set -l __xtask_prompt_on $__XTASK_PROMPT_ON
set -e __XTASK_SNAPSHOT __XTASK_EXE __XTASK_PATH_PREFIX __XTASK_PROMPT_ON
if test "$__xtask_kubeconfig" != "$KUBECONFIG"
  echo "stagecraft: your shell startup files set KUBECONFIG; the stage's own ($KUBECONFIG) was put back" >&2
end
set -l __xtask_n (count $__xtask_prefix)
if test "$PATH[1..$__xtask_n]" != "$__xtask_prefix"
  set -gx PATH $__xtask_prefix $PATH
end

# `xtask ...`: the binary this shell was started from, with no cargo in
# between (`cargo xtask ...` still rebuilds what changed).
function xtask
  $__xtask_exe $argv
end

# `stage NAME`: checks first, so a typo keeps this shell, then replaces it.
function stage
  if test (count $argv) -eq 0
    echo "usage: stage <name> [--cluster C] [--app A]; now in $XTASK_STAGE" >&2
    return 2
  end
  $__xtask_exe shell --switch --check --shell fish $argv; or return
  exec $__xtask_exe shell --switch --shell fish $argv
end

if test -n "$__xtask_prompt_on"
  function __xtask_status; return $argv[1]; end
  function __xtask_wrap_prompt
    functions -e __xtask_user_prompt
    if functions -q fish_prompt
      functions -c fish_prompt __xtask_user_prompt
    else
      function __xtask_user_prompt; printf '> '; end
    end
    function fish_prompt
      set -l s $status
      printf '%s ' $XTASK_PROMPT
      __xtask_status $s
      __xtask_user_prompt
    end
  end
  __xtask_wrap_prompt
  function __xtask_keep_prompt --on-event fish_prompt
    functions fish_prompt | string match -q '*__xtask_user_prompt*'; or __xtask_wrap_prompt
  end
end
