#!/bin/sh
# photos:e2e: the photos API through the stage's gateway, as its clients see
# it ($PHOTOS_API_PUBLIC_URL). It checks that the service answers, that its
# database and Redis are reachable, and that it is this stage's deployment
# (its bucket is $PHOTOS_BUCKET). Extra arguments go to curl.
set -u
base=${PHOTOS_API_PUBLIC_URL%/}
body=$(mktemp)
errors=$(mktemp)
trap 'rm -f "$body" "$errors"' EXIT
failed=0

# expect NAME STATUS PATH TEXT [CURL ARGS]: GET PATH answers STATUS with
# TEXT in its body.
expect() {
  name=$1 want=$2 path=$3 text=$4
  shift 4
  : > "$body"
  status=$(curl --silent --show-error --max-time 10 --output "$body" \
    --write-out '%{http_code}' "$@" "$base$path" 2>"$errors") || {
    code=$?
    # curl's own message, on this one line, and what it most likely means.
    status="no answer ($(tr '\n' ' ' <"$errors" | sed 's/^curl: ([0-9]*) //; s/ *$//'))"
    case $code in
      6) status="$status; is the API's host in the hosts file? cargo xtask cluster add-hosts --stage $XTASK_STAGE" ;;
      7 | 28 | 35 | 52 | 56) status="$status; is the cluster up? cargo xtask up --stage $XTASK_STAGE" ;;
    esac
  }
  body_text=$(head -c 300 "$body" | tr '\n' ' ')
  if [ "$status" = "$want" ] && grep -qF -- "$text" "$body"; then
    echo "ok    $name"
  else
    echo "FAIL  $name: GET $base$path gave $status${body_text:+: $body_text}" >&2
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
