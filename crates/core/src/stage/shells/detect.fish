# Stagecraft doctor: which prompt framework this fish runs (typed into the
# user's shell as `eval $__XTASK_DETECT`).
set -l fw
if set -q tide_left_prompt_items; or functions -q _tide_item_pwd
  set fw tide
else if set -q STARSHIP_SHELL
  set fw starship
else if set -q POSH_THEME; or functions -q _omp_hook
  set fw oh-my-posh
else if functions -q _powerline_set_default_mode; or set -q POWERLINE_COMMAND
  set fw powerline
else if functions -q __bobthefish_glyphs
  set fw bobthefish
end
printf '%s:%s\n' stagecraft-framework "$fw"
