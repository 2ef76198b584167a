#!/bin/sh
# hmlet:smoke: GET /healthz of every host the cluster's releases have in
# the stage ($XTASK_HOSTS), through the stage's gateway ($XTASK_HTTP_PORT;
# $SMOKE_SCHEME, default http). One line per host; fails when any answer is
# not 2xx. Extra arguments go to curl (`-- --insecure`).
set -u
scheme=${SMOKE_SCHEME:-http}
failed=0
total=0
if [ -z "${XTASK_HOSTS-}" ]; then
  echo "smoke: no app of $XTASK_CLUSTER has hosts on stage $XTASK_STAGE: nothing to check" >&2
  exit 1
fi
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
for host in $XTASK_HOSTS; do
  total=$((total + 1))
  url="$scheme://$host:$XTASK_HTTP_PORT/healthz"
  # --location: a gateway that redirects to HTTPS is followed to the app.
  if answer=$(curl --silent --show-error --fail --location --max-time 10 --output /dev/null \
    --write-out '%{http_code}' "$@" "$url" 2>"$errors"); then
    echo "ok    $url ($answer)"
  else
    code=$?
    # curl's own message, on this one line, and what it most likely means.
    reason=$(tr '\n' ' ' <"$errors" | sed 's/^curl: ([0-9]*) //; s/ *$//')
    case $code in
      6) hint=" (is $host in the hosts file? cargo xtask cluster add-hosts $XTASK_CLUSTER --stage $XTASK_STAGE)" ;;
      7 | 28 | 35 | 52 | 56) hint=" (is the cluster up? cargo xtask up --stage $XTASK_STAGE)" ;;
      *) hint= ;;
    esac
    echo "FAIL  $url: ${reason:-HTTP $answer}$hint" >&2
    failed=$((failed + 1))
  fi
done
if [ "$failed" -gt 0 ]; then
  echo "smoke: $failed of $total hosts are not healthy on stage $XTASK_STAGE" >&2
  exit 1
fi
echo "smoke: $total of $total hosts healthy on stage $XTASK_STAGE"
