#!/usr/bin/env bash
# Instructions per RedisStore operation on the server (see examples/server_cost.rs): starts a
# redis-server (PATH, or $REDIS_SERVER_BIN) under callgrind on a free loopback port, runs the
# example against it and prints each phase's instructions per operation. Extra arguments are
# passed to `cargo build` (e.g. --release). Needs valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p benches --example server_cost "$@"
exe="${CARGO_TARGET_DIR:-target}/$( [[ " $* " == *" --release "* ]] && echo release || echo debug )/examples/server_cost"
n="${N:-200}"
dir="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
valgrind --tool=callgrind --collect-atstart=no --toggle-collect=processCommand \
  --callgrind-out-file="$dir/cg.%p" "${REDIS_SERVER_BIN:-redis-server}" --port "$port" \
  --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>"$dir/valgrind.log" &
vg=$!
trap 'kill $vg 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.2; done
N="$n" REDIS_URL="redis://127.0.0.1:$port" CG_PID="$vg" "$exe"
redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
wait "$vg" 2>/dev/null || true
echo "| phase | instructions / op | / raw GET |"
echo "|---|---:|---:|"
for f in "$dir"/cg.*.*; do
  printf '%s %s\n' "$(sed -n 's/^desc: Trigger: dump //p' "$f")" "$(sed -n 's/^summary: //p' "$f")"
done | awk -v n="$n" '
  { ir[$1] = $2 / n; order[NR] = $1 }
  END { for (i = 1; i <= NR; i++) { p = order[i]; if (p == "setup") continue;
        printf "| %s | %.0f | %.1f |\n", p, ir[p], ir[p] / ir["get_raw"] } }'
