#!/usr/bin/python3
"""Many libtorrent 2.0 DHT nodes in one process, for the loopback benchmark (dht_bench).

Run with Debian's /usr/bin/python3 (python3-libtorrent). It starts --count sessions on IPv4
loopback, each a DHT node. With --bootstrap, every session bootstraps from that node; without
it, session 0 is the seed and the others bootstrap from it. The bootstrap node is each
session's only router (libtorrent's default routers are replaced), so it never enters their
routing tables; a libtorrent seed learns each joining session by querying it. The settings
are the loopback ones (loopback_session.py) plus an upload limit raised out of the way (the
default 8000 B/s would make a busy node drop queries).

It reports on stdout, one JSON object per line:

    {"event": "listening", "ports": [P, ...]}      once every session listens
    {"event": "bootstrapped", "count": N}           once N sessions posted dht_bootstrap_alert
                                                    (all of them, or as many as did in 30 s)

then follows commands, one per stdin line:

    announce I HEX       session I announces its listen port under the info hash HEX;
                         reports {"event": "announced", "info_hash": HEX, "port": P, "sent": N}
                         once the session has sent its announce_peer queries (N of them; 0 if
                         none went out within 20 s)
    rejoin               every session looks up its own id (a second bootstrap, once all are
                         up); reports {"event": "rejoined", "busy": N} once the lookups ended
                         (N sessions still busy after 30 s)
    stats                reports {"event": "stats", "queries_in": N}: the DHT queries all
                         sessions received so far (libtorrent's dht_*_in counters)
    quit                 stop

It stops on "quit", when stdin closes, or after --lifetime seconds.
"""

import argparse
import select
import sys
import tempfile
import time

import libtorrent as lt
from loopback_session import emit, loopback_settings, node_id

# libtorrent's counters of DHT queries received, one per query type.
QUERIES_IN = [
    "dht.dht_ping_in",
    "dht.dht_find_node_in",
    "dht.dht_get_peers_in",
    "dht.dht_announce_peer_in",
    "dht.dht_get_in",
    "dht.dht_put_in",
    "dht.dht_sample_infohashes_in",
]


def settings(bootstrap):
    # The bootstrap node as libtorrent's router (its only one): a session bootstraps through
    # it at once, as a client does through router.bittorrent.com.
    return loopback_settings(
        "127.0.0.1:0",
        "" if bootstrap is None else "%s:%d" % bootstrap,
        lt.alert.category_t.dht_notification
        | lt.alert.category_t.status_notification
        | lt.alert.category_t.error_notification,
        dht_upload_rate_limit=100_000_000,
        # One process holds them all: keep each session's thread count down.
        aio_threads=1,
        hashing_threads=1,
    )


class Node:
    def __init__(self, bootstrap):
        self.session = lt.session(settings(bootstrap))
        self.bootstrapped = False
        self.counters = None
        self.active = None

    def poll(self):
        """Handles the session's pending alerts."""
        for alert in self.session.pop_alerts():
            if isinstance(alert, lt.dht_bootstrap_alert):
                self.bootstrapped = True
            elif isinstance(alert, lt.dht_stats_alert):
                self.active = len(alert.active_requests)
            elif isinstance(alert, lt.session_stats_alert):
                self.counters = alert.values

    def lookups(self, limit=5.0):
        """How many DHT lookups the session is running (dht_stats_alert), -1 if unknown."""
        self.active = None
        self.session.post_dht_stats()
        deadline = time.monotonic() + limit
        while self.active is None and time.monotonic() < deadline:
            self.session.wait_for_alert(50)
            self.poll()
        return -1 if self.active is None else self.active

    def read_counters(self, limit=5.0):
        """libtorrent's session counters, fresh."""
        self.counters = None
        self.session.post_session_stats()
        deadline = time.monotonic() + limit
        while self.counters is None and time.monotonic() < deadline:
            self.session.wait_for_alert(50)
            self.poll()
        return self.counters or {}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--bootstrap", help="IP:PORT all sessions bootstrap from")
    parser.add_argument("--lifetime", type=float, default=3600.0)
    args = parser.parse_args()
    bootstrap = None
    if args.bootstrap:
        host, port = args.bootstrap.rsplit(":", 1)
        bootstrap = (host, int(port))

    nodes = []
    for i in range(args.count):
        nodes.append(Node(bootstrap))
        if bootstrap is None and i == 0:
            bootstrap = ("127.0.0.1", nodes[0].session.listen_port())
        elif args.bootstrap is None:
            # A router never enters libtorrent's table, and a node that only queried the seed
            # did not enter the seed's either (a first try left the seed with a near-empty
            # table): the seed learns each joining session by asking it.
            nodes[0].session.add_dht_node(("127.0.0.1", nodes[i].session.listen_port()))
    save_dir = tempfile.mkdtemp(prefix="lt-swarm-")
    emit(event="listening", ports=[n.session.listen_port() for n in nodes])

    deadline = time.monotonic() + 30
    seed_alone = args.bootstrap is None
    while time.monotonic() < deadline:
        for node in nodes:
            node.poll()
        # A seed with no bootstrap node of its own may never post the alert.
        waiting = [n for i, n in enumerate(nodes) if not n.bootstrapped
                   and not (seed_alone and i == 0)]
        if not waiting:
            break
        time.sleep(0.05)
    emit(event="bootstrapped", count=sum(1 for n in nodes if n.bootstrapped))

    end = time.monotonic() + args.lifetime
    while time.monotonic() < end:
        for node in nodes:
            node.poll()
        ready, _, _ = select.select([sys.stdin], [], [], 0.1)
        if not ready:
            continue
        line = sys.stdin.readline()
        if not line:
            break
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            break
        if words[0] == "announce" and len(words) == 3:
            node = nodes[int(words[1])]
            before = node.read_counters().get("dht.dht_announce_peer_out", 0)
            # The binding cannot call dht_announce (its flags type is not exposed): a magnet
            # for the key, started at once, makes the session announce its listen port.
            params = lt.parse_magnet_uri("magnet:?xt=urn:btih:" + words[2])
            params.save_path = save_dir
            params.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
            handle = node.session.add_torrent(params)
            sent = 0
            give_up = time.monotonic() + 20
            while sent == 0 and time.monotonic() < give_up:
                time.sleep(0.02)
                sent = node.read_counters().get("dht.dht_announce_peer_out", 0) - before
            # Paused, it announces no more and dials nobody: no background traffic of its own.
            time.sleep(0.1)
            handle.pause()
            sent = node.read_counters().get("dht.dht_announce_peer_out", 0) - before
            emit(event="announced", info_hash=words[2], port=node.session.listen_port(),
                 sent=sent)
        elif words[0] == "rejoin":
            for node in nodes:
                node.session.dht_get_peers(lt.sha1_hash(node_id(node.session)))
            give_up = time.monotonic() + 30
            busy = list(nodes)
            while busy and time.monotonic() < give_up:
                time.sleep(0.05)
                busy = [n for n in busy if n.lookups() > 0]
            emit(event="rejoined", busy=len(busy))
        elif words[0] == "stats":
            total = 0
            for node in nodes:
                counters = node.read_counters()
                total += sum(counters.get(name, 0) for name in QUERIES_IN)
            emit(event="stats", queries_in=total)
        else:
            emit(event="error", message="unknown command: " + line.strip())


if __name__ == "__main__":
    main()
