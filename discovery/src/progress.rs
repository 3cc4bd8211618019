//! What discovery reports while it runs: the steps of the client's start-up, handed to a
//! [`Progress`] (the CLI prints them; an embedding app may show or ignore them).

use std::time::Duration;

/// One step of the client's start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The program's name and version, first.
    Banner {
        /// The version.
        version: String,
    },
    /// Joining the DHT starts.
    ConnectingDht,
    /// Joining ended (or gave up waiting).
    ConnectedBootstrap {
        /// Nodes in the routing table then.
        nodes: usize,
    },
    /// Looking relays up.
    DiscoveringRelays,
    /// Relays were found and are being measured.
    RelaysFound {
        /// How many.
        count: usize,
    },
    /// One relay's measurement.
    RelayProbed {
        /// Its address.
        name: String,
        /// Its handshake time; `None` when unreachable.
        latency: Option<Duration>,
        /// Whether it is the one chosen.
        selected: bool,
    },
    /// The fastest relay was chosen.
    RelaySelected {
        /// Its handshake time.
        latency: Duration,
    },
    /// Asking the relay for its exits.
    FetchingExitKeys,
    /// An exit was chosen.
    ExitKeyFetched {
        /// Its pubKeyHash.
        hash: String,
    },
    /// The local proxy listens, and the client has no relay with a usable exit yet (it keeps
    /// looking; [`Step::Ready`] follows when it finds one).
    Serving {
        /// Its address.
        listen: String,
    },
    /// The local proxy listens and the client has a relay and an exit.
    Ready {
        /// Its address.
        listen: String,
    },
    /// No relay was found (the search goes on).
    NoRelays,
    /// Relays answered, none with an exit (the search goes on).
    NoExit,
}

/// Receives start-up steps.
pub trait Progress: Send + Sync {
    /// One step happened.
    fn step(&self, step: Step);
}

/// Discards every step.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn step(&self, _: Step) {}
}
