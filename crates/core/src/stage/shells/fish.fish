# Stagecraft: the init command of a stage shell (fish), run after the
# user's config. The same for every stage; the stage's values come in
# __XTASK_* variables, read and erased here.
set -l __xtask_kubeconfig $KUBECONFIG
printf '%s' $__XTASK_SNAPSHOT | source
set -g __xtask_exe $__XTASK_EXE
set -l __xtask_prefix (string split \n -- $__XTASK_PATH_PREFIX)
set -l __xtask_width $__XTASK_PROMPT_WIDTH
set -l __xtask_switch $__XTASK_SWITCH
set -e __XTASK_SNAPSHOT __XTASK_EXE __XTASK_PATH_PREFIX __XTASK_PROMPT_WIDTH __XTASK_SWITCH
if test -n "$__xtask_switch"
  # A `stage` switch: the greeting was seen on the way in.
  function fish_greeting; end
else if test "$__xtask_kubeconfig" != "$KUBECONFIG"
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

# Completion of `xtask ...` (commands, stages, apps, tasks with their
# descriptions), from the same binary.
function __stagecraft_xtask
  $__xtask_exe $argv
end
source (status dirname)/complete.fish
complete -c xtask -f -a '(__stagecraft_complete 0)'

# `stage NAME`: checks first, so a typo keeps this shell, then replaces it.
function stage
  if test (count $argv) -eq 0
    echo "usage: stage <name> [--cluster C] [--app A]; now in $XTASK_STAGE" >&2
    return 2
  end
  $__xtask_exe shell --switch --check --shell fish $argv; or return
  exec $__xtask_exe shell --switch --shell fish $argv
end

if test -n "$__xtask_width"
  # fish counts the text itself; padding brings that count to the width
  # Stagecraft measured (an emoji with a variation selector as 2), and the
  # cursor is then put at that column, so fish and the terminal agree
  # whatever width the terminal gives the emoji.
  set -l text "$XTASK_PROMPT "
  set -l counted (string length --visible -- $text 2>/dev/null; or string length -- $text)
  set -l width (math "max($__xtask_width, $counted)")
  set -l pad (string repeat -n (math $width - $counted) ' ')
  set -l column (math $width + 1)
  set -g __xtask_prompt_prefix "$text$pad"\e\[{$column}G
  function __xtask_status; return $argv[1]; end
  function __xtask_wrap_prompt
    functions -e __xtask_user_prompt
    if functions -q fish_prompt
      functions -c fish_prompt __xtask_user_prompt
    else
      function __xtask_user_prompt; printf '> '; end
    end
    # The prefix goes at the start of the prompt's last line.
    function fish_prompt
      set -l s $status
      __xtask_status $s
      set -l lines (__xtask_user_prompt | string collect -N | string split \n)
      if set -q lines[2]
        printf '%s\n' $lines[1..-2]
      end
      printf '%s%s' $__xtask_prompt_prefix $lines[-1]
    end
  end
  __xtask_wrap_prompt
  function __xtask_keep_prompt --on-event fish_prompt
    functions fish_prompt | string match -q '*__xtask_user_prompt*'; or __xtask_wrap_prompt
  end
end
