#!/usr/bin/env bash
# Installs what pseudoflow needs on Debian 12: the build chain, the chosen
# libraries, Criterion for tests, and the Fashion-MNIST data set. Idempotent:
# packages already present are left alone; apt-get runs only when one is missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libzmq3-dev libprotobuf-c-dev protobuf-c-compiler
  libopenblas-dev liblmdb-dev zlib1g-dev
  libcriterion-dev
  dataset-fashion-mnist
  graphviz        # `dot -Tsvg graphs/x.dot` draws a graph; the tests check every graph parses with it
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}" >&2
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
