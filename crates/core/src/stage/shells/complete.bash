# Stagecraft: completion of `xtask ...` words for bash. The binary's
# `__complete --describe` gives the candidates, one a line, a tab before
# each description. Shared by the stage shell (`xtask ...`) and `cargo
# xtask completions bash` (`cargo xtask ...`); each defines
# _stagecraft_xtask, which runs the binary.

# _stagecraft_complete SKIP: COMPREPLY for the line up to the cursor, less
# its first SKIP words (`cargo`). The words come from COMP_LINE: bash's own
# split breaks `photos:db-shell` at the colon.
_stagecraft_complete() {
  local line=${COMP_LINE:0:$COMP_POINT} cur strip= entry width=0 i
  local -a words found values helps
  read -r -a words <<< "$line"
  case $line in *[[:space:]] | '') words+=("") ;; esac
  cur=${words[${#words[@]}-1]}
  words=("${words[@]:$1}")
  # Readline replaces only what follows the last word-break character.
  case $COMP_WORDBREAKS in *:*) strip=${cur%"${cur##*:}"} ;; esac
  case $cur in *=*) case $COMP_WORDBREAKS in *=*) strip=${cur%"${cur##*=}"} ;; esac ;; esac
  # One candidate a line, never glob-expanded (descriptions hold `*`).
  mapfile -t found < <(_stagecraft_xtask __complete --describe "$(( ${#words[@]} - 1 ))" -- "${words[@]}" 2>/dev/null)
  for entry in "${found[@]}"; do
    values+=("${entry%%$'\t'*}")
    case $entry in *$'\t'*) helps+=("${entry#*$'\t'}") ;; *) helps+=("") ;; esac
  done
  COMPREPLY=()
  if (( ${#values[@]} == 1 )); then
    COMPREPLY=("${values[0]#"$strip"}")
    return 0
  fi
  # Several: each shown with its description. What bash inserts is their
  # common start, which stays within the names.
  for entry in "${values[@]}"; do
    entry=${entry#"$strip"}
    (( ${#entry} > width )) && width=${#entry}
  done
  for i in "${!values[@]}"; do
    if [ -n "${helps[i]}" ]; then
      COMPREPLY+=("$(printf '%-*s  (%s)' "$width" "${values[i]#"$strip"}" "${helps[i]}")")
    else
      COMPREPLY+=("${values[i]#"$strip"}")
    fi
  done
  return 0
}
