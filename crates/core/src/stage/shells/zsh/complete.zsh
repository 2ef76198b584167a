# Stagecraft: completion of `xtask ...` words for zsh (its completion
# system: compinit). The binary's `__complete --describe` gives the
# candidates, one a line, a tab before each description. Shared by the
# stage shell (`xtask ...`) and `cargo xtask completions zsh` (`cargo
# xtask ...`); each defines _stagecraft_xtask, which runs the binary.

# _stagecraft_complete SKIP: completes $words, less its first SKIP words.
_stagecraft_complete() {
  local -a lines described plain
  local line value
  lines=(${(f)"$(_stagecraft_xtask __complete --describe $((CURRENT - 1 - $1)) -- xtask "${(@)words[2+$1,-1]}" 2>/dev/null)"})
  for line in $lines; do
    value=${line%%$'\t'*}
    if [[ $line == *$'\t'* ]]; then
      # _describe splits NAME:DESCRIPTION at the first unescaped colon.
      described+=("${value//:/\\:}:${line#*$'\t'}")
    else
      plain+=("$value")
    fi
  done
  (( $#described )) && _describe -t stagecraft xtask described
  (( $#plain )) && compadd -a plain
  return 0
}
