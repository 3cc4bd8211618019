//! Whether the relay takes a connection attempt, asks it to prove its address first, or
//! turns it away.
//!
//! A connection attempt's source address may be forged. An attempt the relay accepts holds a
//! connection slot, and a per-address slot, until its handshake times out. So a flood of
//! forged attempts could fill the relay, or fill one victim address's share and lock that
//! host out. A QUIC Retry costs a real client one round trip and a forger everything, because
//! it never sees the token. The relay therefore asks for one whenever an unproven attempt
//! would take a slot that matters: its address already holds a few connections, or the relay
//! is half full. A client that connected before presents the address token the relay gave
//! it then, and is proven without the round trip.

/// Connections an address may hold before its new attempts must prove the address.
pub const UNPROVEN_PER_IP: usize = 4;

/// What to do with a connection attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Start the handshake.
    Accept,
    /// Answer with a Retry: the client must come back from the address it claims.
    Retry,
    /// Refuse at once.
    Refuse,
}

/// The relay's load when an attempt arrives.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Connections (and handshakes) from the attempt's address.
    pub from_ip: usize,
    /// The per-address limit.
    pub max_per_ip: usize,
    /// Connection slots still free.
    pub free: usize,
    /// All connection slots.
    pub max: usize,
}

/// Decides on an attempt. `proven`: its address is already validated (it carries a Retry
/// token); `may_retry`: a Retry can still be sent.
pub fn admit(proven: bool, may_retry: bool, load: Load) -> Admission {
    let full = load.free == 0 || load.from_ip >= load.max_per_ip;
    let busy = load.from_ip >= UNPROVEN_PER_IP || load.free < load.max.div_ceil(2);
    if full {
        Admission::Refuse
    } else if busy && !proven && may_retry {
        Admission::Retry
    } else {
        Admission::Accept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(from_ip: usize, free: usize) -> Load {
        Load {
            from_ip,
            max_per_ip: 8,
            free,
            max: 100,
        }
    }

    #[test]
    fn a_quiet_relay_accepts_unproven_attempts() {
        assert_eq!(admit(false, true, load(0, 100)), Admission::Accept);
        assert_eq!(
            admit(false, true, load(UNPROVEN_PER_IP - 1, 51)),
            Admission::Accept
        );
    }

    #[test]
    fn a_busy_address_or_a_half_full_relay_asks_for_proof() {
        assert_eq!(
            admit(false, true, load(UNPROVEN_PER_IP, 100)),
            Admission::Retry
        );
        assert_eq!(admit(false, true, load(0, 49)), Admission::Retry);
        // Once proven, the attempt is taken while there is room.
        assert_eq!(
            admit(true, false, load(UNPROVEN_PER_IP, 100)),
            Admission::Accept
        );
        assert_eq!(admit(true, false, load(0, 1)), Admission::Accept);
    }

    #[test]
    fn limits_refuse_proven_attempts() {
        assert_eq!(admit(true, false, load(8, 100)), Admission::Refuse);
        assert_eq!(admit(true, false, load(0, 0)), Admission::Refuse);
        // Unproven attempts hold at most UNPROVEN_PER_IP of an address's slots, so only
        // proven connections can bring it to its limit: refusing there locks nobody out.
        assert_eq!(admit(false, true, load(8, 100)), Admission::Refuse);
    }

    #[test]
    fn unproven_attempts_that_cannot_retry_are_still_accepted_when_quiet() {
        assert_eq!(
            admit(false, false, load(UNPROVEN_PER_IP, 100)),
            Admission::Accept
        );
    }
}
