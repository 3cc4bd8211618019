#!/usr/bin/env bash
# Time from starting `tokengo client` to its ready line, against a running devnet.
set -u
BIN=${1:-target/release/tokengo}
RUNS=${RUNS:-10}
dir=$(mktemp -d)
$BIN devnet --listen 127.0.0.1:0 >"$dir/devnet.out" 2>"$dir/devnet.err" &
devnet=$!
for _ in $(seq 100); do grep -q "Ready!" "$dir/devnet.out" 2>/dev/null && break; sleep 0.1; done
seed=$(grep -o "seed relay 0: QUIC [0-9.:]*, DHT [0-9.:]*" "$dir/devnet.err" | sed 's/.*DHT //')
echo "devnet seed DHT node: $seed" >&2
times=()
for i in $(seq "$RUNS"); do
  start=$(date +%s%N)
  $BIN client --no-default-bootstrap --bootstrap-peer "$seed" --listen 127.0.0.1:0 >"$dir/c$i.out" 2>/dev/null &
  pid=$!
  until grep -q "Ready!" "$dir/c$i.out" 2>/dev/null; do sleep 0.002; done
  end=$(date +%s%N)
  kill $pid; wait $pid 2>/dev/null
  times+=($(( (end - start) / 1000000 )))
done
kill $devnet; wait $devnet 2>/dev/null
printf '%s\n' "${times[@]}" | sort -n | tr '\n' ' '; echo
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print "median ms:", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'
rm -rf "$dir"
