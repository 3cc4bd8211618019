//! The record of a simulation run: what every node reported and when, plus a digest of every
//! datagram and timer, so that two runs can be compared bit for bit.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// A node of the simulation, by the order in which it joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeHandle(pub usize);

impl fmt::Display for NodeHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// What happened to a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceEntry<E> {
    /// The node joined at this address.
    Joined(SocketAddr),
    /// The node left gracefully (removed from the network).
    Left,
    /// The node crashed: it no longer processes anything; datagrams to it vanish.
    Crashed,
    /// The node reported this event.
    Event(E),
}

/// One line of the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceRecord<E> {
    /// Virtual time since the start of the simulation.
    pub at: Duration,
    /// The node it is about.
    pub node: NodeHandle,
    /// What happened to or at the node.
    pub entry: TraceEntry<E>,
}

impl<E: fmt::Debug> fmt::Display for TraceRecord<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>12.6}s {:>6} ",
            self.at.as_secs_f64(),
            self.node.to_string()
        )?;
        match &self.entry {
            TraceEntry::Joined(addr) => write!(f, "joined {addr}"),
            TraceEntry::Left => write!(f, "left"),
            TraceEntry::Crashed => write!(f, "crashed"),
            TraceEntry::Event(event) => write!(f, "{event:?}"),
        }
    }
}

/// The ordered records of a run (up to a capacity) and a digest of everything that happened,
/// records beyond the capacity, datagrams and timers included.
#[derive(Debug, Clone)]
pub struct Trace<E> {
    records: Vec<TraceRecord<E>>,
    capacity: usize,
    overflow: u64,
    digest: Fnv,
}

impl<E: fmt::Debug> Trace<E> {
    pub(crate) fn new(capacity: usize) -> Self {
        Trace {
            records: Vec::new(),
            capacity,
            overflow: 0,
            digest: Fnv::new(),
        }
    }

    /// The records kept (the first `capacity` of the run).
    pub fn records(&self) -> &[TraceRecord<E>] {
        &self.records
    }

    /// Records that did not fit; they still count in the digest.
    pub fn overflow(&self) -> u64 {
        self.overflow
    }

    /// A 64-bit digest of the whole run: equal runs have equal digests.
    pub fn digest(&self) -> u64 {
        self.digest.0
    }

    pub(crate) fn record(&mut self, at: Duration, node: NodeHandle, entry: TraceEntry<E>) {
        let record = TraceRecord { at, node, entry };
        use fmt::Write;
        // Writing into the digest cannot fail; the Debug text of the event is its stable form.
        let _ = writeln!(self.digest, "{record}");
        if self.records.len() < self.capacity {
            self.records.push(record);
        } else {
            self.overflow += 1;
        }
    }

    /// Mixes a datagram's fate into the digest (not kept as a record).
    pub(crate) fn datagram(
        &mut self,
        at: Duration,
        from: SocketAddr,
        to: SocketAddr,
        payload: &[u8],
        fate: u8,
    ) {
        // Raw bytes rather than text: this runs for every datagram of a large run.
        self.digest.bytes(&nanos(at).to_le_bytes());
        self.digest.addr(from);
        self.digest.addr(to);
        self.digest.bytes(&[fate]);
        self.digest.bytes(&(payload.len() as u64).to_le_bytes());
        self.digest.bytes(payload);
    }

    /// Mixes a timer firing into the digest (not kept as a record).
    pub(crate) fn timer(&mut self, at: Duration, node: NodeHandle) {
        self.digest.bytes(&nanos(at).to_le_bytes());
        self.digest.bytes(&(node.0 as u64).to_le_bytes());
    }
}

fn nanos(at: Duration) -> u64 {
    at.as_nanos().min(u128::from(u64::MAX)) as u64
}

impl<E> std::hash::Hash for Trace<E> {
    /// Hashes the digest, which stands for the whole run.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.digest.0);
    }
}

impl<E: fmt::Debug> fmt::Display for Trace<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for record in &self.records {
            writeln!(f, "{record}")?;
        }
        if self.overflow > 0 {
            writeln!(f, "... {} more records", self.overflow)?;
        }
        writeln!(f, "digest {:016x}", self.digest())
    }
}

/// An FNV-1a-style 64-bit hash: stable across builds and platforms, unlike std's hashers.
#[derive(Debug, Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn bytes(&mut self, bytes: &[u8]) {
        // FNV-1a over 8-byte words (then the tail byte by byte): the payloads of a large run
        // are hundreds of megabytes, and a per-byte loop showed in profiles.
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut buf = [0u8; 8];
            buf.copy_from_slice(word);
            self.0 = (self.0 ^ u64::from_le_bytes(buf)).wrapping_mul(0x0000_0100_0000_01b3);
            self.0 ^= self.0 >> 32;
        }
        for &b in words.remainder() {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

impl Fnv {
    fn addr(&mut self, addr: SocketAddr) {
        match addr {
            SocketAddr::V4(v4) => self.bytes(&v4.ip().octets()),
            SocketAddr::V6(v6) => self.bytes(&v6.ip().octets()),
        }
        self.bytes(&addr.port().to_le_bytes());
    }
}

impl fmt::Write for Fnv {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.bytes(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_depends_on_order_and_content_and_capacity_does_not() {
        let at = Duration::from_millis(5);
        let mut a: Trace<u32> = Trace::new(1);
        let mut b: Trace<u32> = Trace::new(10);
        for trace in [&mut a, &mut b] {
            trace.record(at, NodeHandle(0), TraceEntry::Event(1));
            trace.record(at, NodeHandle(1), TraceEntry::Event(2));
        }
        assert_eq!(a.digest(), b.digest());
        assert_eq!((a.records().len(), a.overflow()), (1, 1));
        let mut c: Trace<u32> = Trace::new(10);
        c.record(at, NodeHandle(1), TraceEntry::Event(2));
        c.record(at, NodeHandle(0), TraceEntry::Event(1));
        assert_ne!(b.digest(), c.digest());
        assert!(b.to_string().contains("n1 2"));
    }
}
