#!/usr/bin/env bash
# Refresh fixtures/config/openclaw-<version>-config-schema.json.gz from the real OpenClaw CLI
# (`openclaw config schema`), installed by ../shared/peer/start-peer.sh under /opt/openclaw-peer.
# Usage: scripts/refresh-config-schema.sh [path/to/openclaw]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-${OPENCLAW_PEER_BIN:-/opt/openclaw-peer/prefix/bin/openclaw}}"
export PATH="/opt/openclaw-peer/bin:$PATH"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
export HOME="$tmp/home" OPENCLAW_STATE_DIR="$tmp/state" OPENCLAW_CONFIG_PATH="$tmp/openclaw.json"
export NO_COLOR=1 OPENCLAW_DISABLE_BONJOUR=1 OPENCLAW_NO_AUTO_UPDATE=1 OPENCLAW_OFFLINE=1
version="$("$BIN" --version | grep -oE '[0-9]{4}\.[0-9]+\.[0-9]+' | head -1)"
out="fixtures/config/openclaw-${version}-config-schema.json.gz"
"$BIN" config schema > "$tmp/schema.json"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/schema.json"
gzip -9 -n -c "$tmp/schema.json" > "$out"
echo "wrote $out ($(wc -c < "$tmp/schema.json") bytes of schema from openclaw $version)"
