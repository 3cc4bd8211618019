#!/usr/bin/env bash
# Instructions per decode (valgrind's cachegrind), per parser and message: a figure that the
# load of a shared machine does not move. Needs valgrind. Usage: core/benches/krpc_instructions.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(cargo bench -p tokengo-core --bench krpc_interleaved --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "krpc_interleaved" and m.get("executable"):
        print(m["executable"])')
refs() {
  KRPC_ONLY="$1:$2:$3" valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
    "$bin" --bench 2>&1 | awk '/I *refs:/ { gsub(",", "", $4); print $4 }'
}
parsers=(tokengo bt_bencode serde_bencoded librqbit-bencode)
echo "| message | tokengo | bt_bencode | serde_bencoded | librqbit-bencode | fewest other / tokengo |"
echo "|---|---:|---:|---:|---:|---:|"
for message in ping find_node_8 get_peers_50 announce_peer error; do
  row="| $message |"
  counts=()
  for parser in "${parsers[@]}"; do
    base=$(refs "$parser" "$message" 0)
    more=$(refs "$parser" "$message" 10000)
    counts+=($(( (more - base) / 10000 )))
    row="$row ${counts[-1]} |"
  done
  ratio=$(python3 -c 'import sys; c = [int(a) for a in sys.argv[1:]]; print(f"{min(c[1:]) / c[0]:.2f}x")' "${counts[@]}")
  echo "$row $ratio |"
done
