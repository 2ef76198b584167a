#!/bin/sh
# photos:e2e: the photos API through the stage's gateway, as its clients see
# it ($PHOTOS_API_PUBLIC_URL). It checks that the service answers, that its
# database and Redis are reachable, and that it is this stage's deployment
# (its bucket is $PHOTOS_BUCKET). Extra arguments go to curl.
set -u
base=${PHOTOS_API_PUBLIC_URL%/}
body=$(mktemp)
trap 'rm -f "$body"' EXIT
failed=0

# expect NAME STATUS PATH TEXT: GET PATH answers STATUS with TEXT in its body.
expect() {
  status=$(curl --silent --show-error --max-time 10 --output "$body" \
    --write-out '%{http_code}' "$@" "$base$3" 2>&1) || status="no answer ($status)"
  if [ "$status" = "$2" ] && grep -qF -- "$4" "$body"; then
    echo "ok    $1"
  else
    echo "FAIL  $1: GET $base$3 gave $status: $(head -c 300 "$body")" >&2
    failed=$((failed + 1))
  fi
}

expect "the API is alive" 200 /livez '"alive"' "$@"
expect "its database is reachable" 200 /healthz '"database": "reachable"' "$@"
expect "its Redis is reachable" 200 /healthz '"redis": "reachable"' "$@"
expect "it is stage $XTASK_STAGE's deployment" 200 / "\"bucket\": \"$PHOTOS_BUCKET\"" "$@"
expect "unknown paths are 404" 404 /no-such-path '"error"' "$@"

if [ "$failed" -gt 0 ]; then
  echo "e2e: $failed checks failed against $base" >&2
  exit 1
fi
echo "e2e: all checks passed against $base"
