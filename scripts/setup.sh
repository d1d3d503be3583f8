#!/usr/bin/env bash
# Installs what a fresh machine (Node 20, Rust, JDK 17) lacks and builds everything:
# Debian packages the Kafka client builds against, the pinned pnpm, the workspace's dependencies,
# the TypeScript packages and the Rust addon. (Apache Kafka's jars are downloaded from Maven Central by the first
# `pulse kafka start` or test run, then cached.) Safe to run again: it skips
# what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# librdkafka (inside @confluentinc/kafka-javascript) is built from source against these; kcat is a
# second, independent Kafka client for poking at topics by hand; postgresql gives the integration tests
# and `pulse bench sink` their throwaway PostgreSQL clusters (initdb + postgres; no service is started);
# chromium is the headless browser of the dashboard's tests and benchmark (driven by playwright-core);
# prometheus-alertmanager is the real Alertmanager the alerting tests start (each its own, on a free port).
APT_PACKAGES=(build-essential python3 pkg-config libssl-dev zlib1g-dev libzstd-dev liblz4-dev libsasl2-dev kcat postgresql chromium prometheus-alertmanager)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  step "installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

PNPM_VERSION=$(node -p "require('./package.json').packageManager.split('@')[1]")
if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  step "installing pnpm $PNPM_VERSION"
  npm install -g --no-fund --no-audit "pnpm@$PNPM_VERSION"
fi

step "installing dependencies (the Kafka client builds librdkafka against the system libraries: 2-3 minutes the first time)"
# Link librdkafka's dependencies dynamically instead of downloading their sources; use the Node
# headers that Debian's nodejs ships when they are there.
export CKJS_LINKING=dynamic
[ -f /usr/include/node/node_api.h ] && export npm_config_nodedir=/usr
pnpm install --frozen-lockfile

step "building the Rust addon and the TypeScript packages"
pnpm build

step "ready: pnpm pulse up | pnpm test | pnpm pulse --help"
