# Stagecraft: completion of `xtask ...` words for fish. The binary's
# `__complete --describe` gives the candidates as fish wants them (a tab
# before each description). Shared by the stage shell (`xtask ...`) and
# `cargo xtask completions fish` (`cargo xtask ...`); each defines
# __stagecraft_xtask, which runs the binary.

# __stagecraft_complete SKIP: the candidates for the command line, less its
# first SKIP words (`cargo`).
function __stagecraft_complete --argument-names skip
    set -l before (commandline -opc)
    set -l words xtask $before[(math $skip + 2)..-1] (commandline -ct)
    if test (count $words) -eq (math (count $before) - $skip)
        set words $words ''
    end
    __stagecraft_xtask __complete --describe (math (count $words) - 1) -- $words 2>/dev/null
end
