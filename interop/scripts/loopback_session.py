"""What the libtorrent scripts share: a session's settings on loopback, JSON reports, node ids.

Imported by libtorrent_node.py, libtorrent_swarm.py and libtorrent_lookup.py (run with
Debian's /usr/bin/python3, which finds this module next to them).
"""

import json
import sys
import warnings

import libtorrent as lt


def emit(**event):
    """Writes one report line."""
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def loopback_settings(listen, routers, alerts, **extra):
    """A DHT-only session listening on `listen` (IP:PORT) with `routers` ("IP:PORT,...", or
    "" for none) as its only routers, posting the alert categories `alerts`; `extra` adds or
    overrides settings."""
    settings = {
        "listen_interfaces": listen,
        "enable_dht": True,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        # libtorrent's default routers are replaced: our node (or the swarm's seed) is the
        # only way in.
        "dht_bootstrap_nodes": routers,
        # Loopback quirks: every node shares 127.0.0.1.
        "dht_block_ratelimit": 100000,
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_prefer_verified_node_ids": False,
        "dht_enforce_node_id": False,
        "alert_mask": alerts,
    }
    settings.update(extra)
    return settings


def node_id(session):
    """The session's DHT node id: the first 20 bytes of its saved state's node-id entry (id,
    then IP)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ids = session.dht_state().get(b"node-id", [])
    return ids[0][:20] if ids else bytes(20)
