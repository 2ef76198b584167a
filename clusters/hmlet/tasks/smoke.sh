#!/bin/sh
# hmlet:smoke: GET every app's /healthz through the stage's gateway
# ($SMOKE_URLS, from cluster.toml). One line per URL; fails when any answer
# is not 2xx. Extra arguments go to curl (`-- --insecure`).
set -u
failed=0
total=0
for url in $SMOKE_URLS; do
  total=$((total + 1))
  if answer=$(curl --silent --show-error --fail --max-time 10 --output /dev/null \
    --write-out '%{http_code}' "$@" "$url" 2>&1); then
    echo "ok    $url ($answer)"
  else
    echo "FAIL  $url: $answer" >&2
    failed=$((failed + 1))
  fi
done
if [ "$failed" -gt 0 ]; then
  echo "smoke: $failed of $total apps are not healthy on stage $XTASK_STAGE" >&2
  exit 1
fi
echo "smoke: $total of $total apps healthy on stage $XTASK_STAGE"
