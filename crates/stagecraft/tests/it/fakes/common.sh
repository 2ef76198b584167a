# Shared by the fakes: log the call (tool, KUBECONFIG, argv: tab-separated,
# one write so that parallel calls do not interleave) to $FAKE_LOG, its
# environment to $FAKE_LOG.env and, for a call that reads stdin (`-f -`,
# `--filename=-`), what came on stdin to $FAKE_LOG.stdin; keep state in
# $FAKE_STATE.
PATH=/usr/bin:/bin
tool=$(basename "$0")
line="$tool	${KUBECONFIG-}"
for a in "$@"; do line="$line	$a"; done
printf '%s\n' "$line" >> "$FAKE_LOG"
{ printf '%s\t' "$tool"; env | tr '\n' '\t'; printf '\n'; } >> "$FAKE_LOG.env"
case " $* " in
  *" -f - "*|*" --filename=- "*)
    stdin=$(mktemp)
    cat > "$stdin"
    # A file per call: parallel calls never interleave.
    mkdir -p "$FAKE_LOG.stdin"
    { printf '%s\n' "$line"; cat "$stdin"; } > "$FAKE_LOG.stdin/$$"
    exec < "$stdin"
    rm -f "$stdin" ;;
esac
# The value of a flag, `--name value` or `--name=value`: `flag --name "$@"`.
flag() {
  want=$1; shift
  while [ $# -gt 0 ]; do
    case "$1" in
      "$want") echo "$2"; return ;;
      "$want"=*) echo "${1#*=}"; return ;;
    esac
    shift
  done
}
