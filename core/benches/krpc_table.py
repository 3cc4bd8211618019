#!/usr/bin/env python3
"""Prints the markdown table of the last `cargo bench -p tokengo-core --bench krpc_codec` run
from criterion's estimates (median ns per message), with the speed ratio of the fastest other
crate to ours."""
import json
import pathlib
import sys

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
MESSAGES = ["ping", "find_node_8", "get_peers_50", "announce_peer", "error"]
PARSERS = ["tokengo", "bt_bencode", "serde_bencoded", "librqbit-bencode"]


def median_ns(group: str, function: str) -> float:
    path = ROOT / group / function / "new" / "estimates.json"
    return json.loads(path.read_text())["median"]["point_estimate"]


print("| message | " + " | ".join(PARSERS) + " | fastest other / tokengo |")
print("|---|" + "---:|" * (len(PARSERS) + 1))
for message in MESSAGES:
    times = [median_ns(f"decode_{message}", p) for p in PARSERS]
    ratio = min(times[1:]) / times[0]
    cells = " | ".join(f"{t:.1f}" for t in times)
    print(f"| {message} | {cells} | {ratio:.2f}x |")
print()
print("| encode | ns |")
print("|---|---:|")
for message in MESSAGES:
    print(f"| {message} | {median_ns('encode', message):.1f} |")
