#!/usr/bin/python3
"""A libtorrent 2.0 DHT node for the loopback interoperability tests.

Run with Debian's /usr/bin/python3 (python3-libtorrent). It listens on --listen (IPv4 loopback
by default; "[::1]:0" for BEP 32's IPv6 DHT) and bootstraps from one node only (libtorrent's
default routers are replaced), then follows commands, one per stdin line:

    get_peers HEX       look up an info hash (dht_get_peers)
    announce HEX        add a magnet for the info hash: libtorrent then announces its listen
                        port with implied_port (the Python binding cannot call dht_announce)
    table               report the routing table (dht_live_nodes)
    put_immutable HEX   store the bytes HEX as a BEP 44 immutable string item
    get_immutable HEX   look up the immutable item with target HEX
    put_mutable SEED PUBLIC SALT HEX
                        store the bytes HEX as a mutable string item signed with the Ed25519
                        seed SEED (public key PUBLIC), salt SALT ("-" for none), all in hex;
                        libtorrent reads the current item first and puts seq + 1
    get_mutable PUBLIC SALT
                        look up the mutable item of PUBLIC under SALT ("-" for none)
    sample IP:PORT HEX  BEP 51 sample_infohashes to one node, target HEX
    quit                stop

Addresses are IP:PORT, [IPv6]:PORT. It reports on stdout, one JSON object per line: {"event": "listening", "port": P},
{"event": "bootstrapped"}, {"event": "peers", "info_hash": HEX, "peers": ["IP:PORT", ...]},
{"event": "announced", "info_hash": HEX}, {"event": "table", "nodes": ["IP:PORT", ...]},
{"event": "put", "target": HEX, "seq": N, "stored": N}, {"event": "immutable", "target": HEX,
"value": HEX or null}, {"event": "mutable", "key": HEX, "salt": HEX, "seq": N, "value": HEX,
"authoritative": BOOL}, {"event": "sample", "from": "IP:PORT", "num": N, "interval": SECS,
"samples": [HEX, ...]}.
It stops on "quit", when stdin closes, or after --lifetime seconds.
"""

import argparse
import hashlib
import select
import sys
import tempfile
import time

import libtorrent as lt
from loopback_session import emit, loopback_settings, node_id


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True, help="IP:PORT of the only bootstrap node")
    parser.add_argument("--listen", default="127.0.0.1:0", help="IP:PORT to listen on")
    parser.add_argument("--lifetime", type=float, default=120.0)
    args = parser.parse_args()
    host, port = split_endpoint(args.bootstrap)

    # Our node is added as a DHT node, not as a router: routers never enter the table.
    session = lt.session(loopback_settings(
        args.listen, "",
        lt.alert.category_t.dht_notification
        | lt.alert.category_t.dht_operation_notification
        | lt.alert.category_t.status_notification
        | lt.alert.category_t.error_notification,
    ))
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
                peers = [endpoint(ip, p) for ip, p in alert.peers()]
                emit(event="peers", info_hash=str(alert.info_hash), peers=peers)
            elif isinstance(alert, lt.dht_stats_alert):
                emit(event="stats", buckets=[b["num_nodes"] for b in alert.routing_table])
            elif isinstance(alert, lt.dht_reply_alert):
                info_hash = str(alert.handle.info_hash())
                emit(event="announced", info_hash=info_hash, peers=alert.num_peers)
            elif isinstance(alert, lt.dht_put_alert):
                emit(event="put", target=str(alert.target), seq=alert.seq,
                     stored=alert.num_success)
            elif isinstance(alert, lt.dht_immutable_item_alert):
                emit(event="immutable", target=str(alert.target), value=string_hex(alert.item))
            elif isinstance(alert, lt.dht_mutable_item_alert):
                emit(event="mutable", key=raw_hex(alert.key), salt=raw_hex(alert.salt),
                     seq=alert.seq, value=string_hex(alert.item),
                     authoritative=alert.authoritative)
            elif isinstance(alert, lt.dht_sample_infohashes_alert):
                interval = alert.interval
                seconds = interval.total_seconds() if hasattr(interval, "total_seconds") else interval
                emit(event="sample", num=alert.num_infohashes, interval=int(seconds),
                     samples=[str(h) for h in alert.samples],
                     **{"from": endpoint(*alert.endpoint)})
            elif isinstance(alert, lt.dht_live_nodes_alert):
                nodes = [endpoint(*node["endpoint"]) for node in alert.nodes]
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
        elif words[0] == "put_immutable" and len(words) == 2:
            session.dht_put_immutable_item(bytes.fromhex(words[1]))
        elif words[0] == "get_immutable" and len(words) == 2:
            session.dht_get_immutable_item(lt.sha1_hash(bytes.fromhex(words[1])))
        elif words[0] == "put_mutable" and len(words) == 5:
            secret = expanded_secret(bytes.fromhex(words[1]))
            session.dht_put_mutable_item(secret, bytes.fromhex(words[2]),
                                         bytes.fromhex(words[4]), salt_of(words[3]))
        elif words[0] == "get_mutable" and len(words) == 3:
            session.dht_get_mutable_item(bytes.fromhex(words[1]), salt_of(words[2]))
        elif words[0] == "sample" and len(words) == 3:
            ip, sample_port = split_endpoint(words[1])
            session.dht_sample_infohashes((ip, sample_port),
                                          lt.sha1_hash(bytes.fromhex(words[2])))
        elif words[0] == "stats":
            session.post_dht_stats()
        elif words[0] == "table":
            session.dht_live_nodes(lt.sha1_hash(node_id(session)))
        else:
            emit(event="error", message="unknown command: " + line.strip())
    del session


def split_endpoint(text):
    """("IP", PORT) of "IP:PORT" or "[IPv6]:PORT"."""
    host, port = text.rsplit(":", 1)
    return host.strip("[]"), int(port)


def endpoint(ip, port):
    """IP:PORT, with brackets around an IPv6 address."""
    return ("[%s]:%d" if ":" in ip else "%s:%d") % (ip, port)


def string_hex(item):
    """The hex of a string item; the binding gives an immutable item as {'key', 'value'}."""
    if isinstance(item, dict):
        item = item.get("value")
    return item.hex() if isinstance(item, bytes) else None


def raw_hex(data):
    """Hex of bytes the binding may hand over as bytes or as a latin-1 str."""
    if isinstance(data, str):
        data = data.encode("latin-1")
    return bytes(data).hex()


def salt_of(word):
    return b"" if word == "-" else bytes.fromhex(word)


def expanded_secret(seed):
    """libtorrent's 64-byte Ed25519 secret key: SHA-512 of the seed, clamped (ref10)."""
    h = bytearray(hashlib.sha512(seed).digest())
    h[0] &= 248
    h[31] &= 63
    h[31] |= 64
    return bytes(h)


if __name__ == "__main__":
    main()
