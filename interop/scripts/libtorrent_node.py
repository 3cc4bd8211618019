#!/usr/bin/python3
"""A libtorrent 2.0 DHT node for the loopback interoperability tests.

Run with Debian's /usr/bin/python3 (python3-libtorrent). It bootstraps from one node only
(libtorrent's default routers are replaced), then follows commands, one per stdin line:

    get_peers HEX       look up an info hash (dht_get_peers)
    announce HEX        add a magnet for the info hash: libtorrent then announces its listen
                        port with implied_port (the Python binding cannot call dht_announce)
    table               report the routing table (dht_live_nodes)
    quit                stop

It reports on stdout, one JSON object per line: {"event": "listening", "port": P},
{"event": "bootstrapped"}, {"event": "peers", "info_hash": HEX, "peers": ["IP:PORT", ...]},
{"event": "announced", "info_hash": HEX}, {"event": "table", "nodes": ["IP:PORT", ...]}.
It stops on "quit", when stdin closes, or after --lifetime seconds.
"""

import argparse
import json
import select
import sys
import tempfile
import time
import warnings

import libtorrent as lt


def emit(**event):
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True, help="IP:PORT of the only bootstrap node")
    parser.add_argument("--lifetime", type=float, default=120.0)
    args = parser.parse_args()
    host, port = args.bootstrap.rsplit(":", 1)

    settings = {
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": True,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        # Our node is the only bootstrap node; libtorrent's routers never enter its table.
        "dht_bootstrap_nodes": "",
        # Loopback quirks: every node shares 127.0.0.1.
        "dht_block_ratelimit": 100000,
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_prefer_verified_node_ids": False,
        "dht_enforce_node_id": False,
        "alert_mask": lt.alert.category_t.dht_notification
        | lt.alert.category_t.dht_operation_notification
        | lt.alert.category_t.status_notification
        | lt.alert.category_t.error_notification,
    }
    session = lt.session(settings)
    session.add_dht_node((host, int(port)))
    emit(event="listening", port=session.listen_port())

    save_dir = tempfile.mkdtemp(prefix="lt-interop-")
    torrents = {}
    bootstrapped = False
    deadline = time.monotonic() + args.lifetime
    stdin_open = True
    while time.monotonic() < deadline:
        session.wait_for_alert(100)
        for alert in session.pop_alerts():
            if isinstance(alert, lt.dht_bootstrap_alert) and not bootstrapped:
                bootstrapped = True
                emit(event="bootstrapped")
            elif isinstance(alert, lt.dht_get_peers_reply_alert):
                peers = ["%s:%d" % (ip, p) for ip, p in alert.peers()]
                emit(event="peers", info_hash=str(alert.info_hash), peers=peers)
            elif isinstance(alert, lt.dht_stats_alert):
                emit(event="stats", buckets=[b["num_nodes"] for b in alert.routing_table])
            elif isinstance(alert, lt.dht_reply_alert):
                info_hash = str(alert.handle.info_hash())
                emit(event="announced", info_hash=info_hash, peers=alert.num_peers)
            elif isinstance(alert, lt.dht_live_nodes_alert):
                nodes = ["%s:%d" % tuple(node["endpoint"]) for node in alert.nodes]
                emit(event="table", nodes=nodes)
        if not stdin_open:
            continue
        ready, _, _ = select.select([sys.stdin], [], [], 0)
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
        if words[0] == "get_peers" and len(words) == 2:
            session.dht_get_peers(lt.sha1_hash(bytes.fromhex(words[1])))
        elif words[0] == "announce" and len(words) == 2:
            params = lt.parse_magnet_uri("magnet:?xt=urn:btih:" + words[1])
            params.save_path = save_dir
            # Start at once: not paused, not waiting for the auto-manager's next round.
            params.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
            torrents[words[1]] = session.add_torrent(params)
        elif words[0] == "stats":
            session.post_dht_stats()
        elif words[0] == "table":
            session.dht_live_nodes(lt.sha1_hash(node_id_bytes(session)))
        else:
            emit(event="error", message="unknown command: " + line.strip())
    del session


def node_id_bytes(session):
    """Our DHT node id: the first 20 bytes of the saved state's node-id entry (id, then IP)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ids = session.dht_state().get(b"node-id", [])
    return ids[0][:20] if ids else bytes(20)


if __name__ == "__main__":
    main()
