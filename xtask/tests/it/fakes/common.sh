# Shared by the fakes: log the call (tool, KUBECONFIG, argv: tab-separated,
# one write so that parallel calls do not interleave) to $FAKE_LOG, keep
# state in $FAKE_STATE.
PATH=/usr/bin:/bin
tool=$(basename "$0")
line="$tool	${KUBECONFIG-}"
for a in "$@"; do line="$line	$a"; done
printf '%s\n' "$line" >> "$FAKE_LOG"
# The value after a flag: `flag --name "$@"`.
flag() {
  want=$1; shift
  while [ $# -gt 0 ]; do
    if [ "$1" = "$want" ]; then echo "$2"; return; fi
    shift
  done
}
