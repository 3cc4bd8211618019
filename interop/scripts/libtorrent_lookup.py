#!/usr/bin/python3
"""A one-shot libtorrent 2.0 get_peers client, for the loopback benchmark (dht_bench).

Run with Debian's /usr/bin/python3 (python3-libtorrent). A fresh session on IPv4 loopback, with
--bootstrap as its only router (as a client has router.bittorrent.com), looks up --info-hash
once and prints one JSON object (read-only, as a one-shot client should be):

    {"peers": ["IP:PORT", ...], "complete": BOOL, "first_peer_ms": MS or null,
     "elapsed_ms": MS, "lookup_ms": MS, "queries_sent": N, "datagrams_sent": N}

Times run from just before the session is created, so libtorrent's own bootstrap is included;
lookup_ms is the lookup's own part, from the dht_get_peers call (once the DHT runs) to its end.
Peers arrive as dht_get_peers_reply_alert. libtorrent posts no alert when a get_peers lookup
ends (session::dht_get_peers has no completion callback), so the end is read from its DHT
traversal log (dht_log_alert): the lookup whose "NEW target:" is the info hash, and its
"COMPLETED ... type: get_peers" line. "complete" is false when --timeout stopped it first.
queries_sent is the session's dht_*_out counters (queries it sent); datagrams_sent its
dht_messages_out (queries plus its answers to queries from the network).
"""

import argparse
import json
import re
import time

import libtorrent as lt
from loopback_session import loopback_settings

QUERIES_OUT = [
    "dht.dht_ping_out",
    "dht.dht_find_node_out",
    "dht.dht_get_peers_out",
    "dht.dht_announce_peer_out",
    "dht.dht_get_out",
    "dht.dht_put_out",
    "dht.dht_sample_infohashes_out",
]

NEW = re.compile(r"\[(\d+)\] NEW target: ([0-9a-f]{40})")
COMPLETED = re.compile(r"\[(\d+)\] COMPLETED .*type: get_peers")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True, help="IP:PORT of the only router")
    parser.add_argument("--info-hash", required=True)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    info_hash = args.info_hash.lower()

    started = time.monotonic()
    deadline = started + args.timeout
    category = lt.alert.category_t
    session = lt.session(loopback_settings(
        "127.0.0.1:0",
        args.bootstrap,
        category.dht_notification
        | category.dht_operation_notification
        | category.dht_log_notification
        | category.status_notification,
        dht_upload_rate_limit=100_000_000,
        # A one-shot client, read-only like the other two: it says so in its queries and
        # answers none, so the network keeps no entry for it after it is gone.
        dht_read_only=True,
    ))
    # dht_get_peers is dropped until the DHT runs.
    while not session.is_dht_running() and time.monotonic() < deadline:
        time.sleep(0.0005)
    asked = time.monotonic()
    session.dht_get_peers(lt.sha1_hash(bytes.fromhex(info_hash)))

    peers = []
    first_peer = None
    complete = False
    ours = set()
    while not complete and time.monotonic() < deadline:
        session.wait_for_alert(10)
        for alert in session.pop_alerts():
            if isinstance(alert, lt.dht_get_peers_reply_alert):
                if str(alert.info_hash) != info_hash:
                    continue
                found = ["%s:%d" % (ip, port) for ip, port in alert.peers()]
                if found and first_peer is None:
                    first_peer = time.monotonic() - started
                peers.extend(p for p in found if p not in peers)
            elif isinstance(alert, lt.dht_log_alert):
                message = alert.message()
                new = NEW.search(message)
                if new and new.group(2) == info_hash:
                    ours.add(new.group(1))
                done = COMPLETED.search(message)
                if done and done.group(1) in ours:
                    complete = True
    elapsed = time.monotonic() - started

    counters = {}
    session.post_session_stats()
    give_up = time.monotonic() + 5
    while not counters and time.monotonic() < give_up:
        session.wait_for_alert(50)
        for alert in session.pop_alerts():
            if isinstance(alert, lt.session_stats_alert):
                counters = alert.values
    print(json.dumps({
        "peers": peers,
        "complete": complete,
        "first_peer_ms": None if first_peer is None else first_peer * 1e3,
        "elapsed_ms": elapsed * 1e3,
        "lookup_ms": (started + elapsed - asked) * 1e3,
        "queries_sent": sum(counters.get(name, 0) for name in QUERIES_OUT),
        "datagrams_sent": counters.get("dht.dht_messages_out", 0),
    }), flush=True)


if __name__ == "__main__":
    main()
