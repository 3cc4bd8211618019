//! Which exits a client may use: its trust policy, applied to the lists relays hand out.
//!
//! Every listed descriptor is verified (signature, validity, exit id) before anything else; a
//! relay can only carry descriptors, never vouch for one. Then, in this order:
//!
//! 1. trusted exit ids: only those exits;
//! 2. trusted network authorities (the client's own and [`BUILT_IN_AUTHORITIES`]): only exits
//!    whose descriptor carries admissions from at least the threshold of them;
//! 3. neither: only exits whose descriptor the client received identically from two relays
//!    with different relay ids and different networks (IPv4 /16, IPv6 /32), unless every such
//!    relay is on loopback or a private network;
//! 4. `insecure_any_exit`: any exit with a valid self-signed descriptor (for tests).
//!
//! An exit that signed two different descriptors with the same sequence number is refused
//! under every policy: it shows different clients different keys. Among the exits that pass,
//! the client picks uniformly at random ([`choose`]), never by an order an attacker can grind.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::address::{is_local, network};
use crate::certificate::admitting_authorities;
use crate::control::ExitKeyEntry;
use crate::descriptor::{DescriptorError, ExitDescriptor};
use crate::identity::PUBLIC_KEY_LEN;
use crate::keys::PublicKeyConfig;

/// The network authorities of the public tokengo network, compiled in and trusted by every
/// client besides its own. Empty until the network's operators publish their keys; an entry is
/// the authority's public key (its id, `tokengo keygen --type authority` prints it in hex).
pub const BUILT_IN_AUTHORITIES: &[[u8; PUBLIC_KEY_LEN]] = &[];

/// Which exits a client accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustPolicy {
    /// Only an exit whose descriptor lists a key with this pubKeyHash (case-insensitive).
    pub exit_pin: Option<String>,
    /// When not empty: only these exit ids.
    pub trusted_exits: Vec<[u8; PUBLIC_KEY_LEN]>,
    /// When not empty (and no exit is trusted by id): only exits admitted by at least
    /// `authority_threshold` of these authorities.
    pub trusted_authorities: Vec<[u8; PUBLIC_KEY_LEN]>,
    /// How many of the trusted authorities must admit an exit (at least 1).
    pub authority_threshold: usize,
    /// With no exit or authority trusted: take any exit, without corroboration.
    pub insecure_any_exit: bool,
}

/// Why the client may use an exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// Its exit id is trusted.
    TrustedExit,
    /// Enough trusted authorities admitted it.
    Admitted,
    /// Two independent relays handed out the same descriptor; nobody vouched for it.
    Corroborated,
    /// Nothing: the policy takes any exit.
    Insecure,
}

impl Basis {
    /// Its name in status output: `trusted-exit`, `authority`, `corroborated`, `insecure`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::TrustedExit => "trusted-exit",
            Basis::Admitted => "authority",
            Basis::Corroborated => "corroborated",
            Basis::Insecure => "insecure",
        }
    }
}

impl TrustPolicy {
    /// Which rule applies.
    #[must_use]
    pub fn basis(&self) -> Basis {
        if !self.trusted_exits.is_empty() {
            Basis::TrustedExit
        } else if !self.trusted_authorities.is_empty() {
            Basis::Admitted
        } else if self.insecure_any_exit {
            Basis::Insecure
        } else {
            Basis::Corroborated
        }
    }
}

/// Why a listed exit was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Untrusted {
    /// The entry's descriptor is not base64.
    #[error("its entry is unreadable")]
    Malformed,
    /// Its descriptor is refused.
    #[error(transparent)]
    Descriptor(#[from] DescriptorError),
    /// The relay lists it under another exit id than the one that signed its descriptor.
    #[error("it is listed under another exit id than its descriptor's")]
    WrongId,
    /// None of its keys is the pinned one.
    #[error("it is not the pinned exit")]
    NotPinned,
    /// Its exit id is not trusted.
    #[error("its exit id {0} is not trusted")]
    NotTrusted(String),
    /// Too few trusted authorities admit it.
    #[error("admitted by {admitted} of the trusted authorities, {needed} needed")]
    NotAdmitted {
        /// How many do.
        admitted: usize,
        /// How many must.
        needed: usize,
    },
    /// It signed different descriptors with the same sequence number.
    #[error("it signed different descriptors with the same sequence number")]
    Equivocates,
    /// Its descriptor did not come identically from two independent relays.
    #[error(
        "its descriptor came identically from {relays} relay(s); two with different ids and networks are needed"
    )]
    NotCorroborated {
        /// How many relays handed out its newest descriptor.
        relays: usize,
    },
}

/// Why no exit was chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoExit {
    /// The relays listed none.
    #[error("the relays list no exit")]
    NoneListed,
    /// None of those listed passed the trust policy.
    #[error("none of the {listed} exits listed is trusted (last: {last})")]
    NoneTrusted {
        /// How many distinct entries were listed.
        listed: usize,
        /// Why the last one was not taken.
        last: Untrusted,
    },
}

/// A listed exit whose descriptor verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedExit {
    /// Its verified descriptor.
    pub descriptor: ExitDescriptor,
    /// The descriptor's bytes, as signed.
    pub bytes: Vec<u8>,
}

impl OfferedExit {
    /// Its exit id, hex: what requests are addressed to.
    #[must_use]
    pub fn id(&self) -> String {
        self.descriptor.exit_id_hex()
    }

    /// The key to seal requests to: its descriptor's current (first) key.
    #[must_use]
    pub fn key(&self) -> &PublicKeyConfig {
        // A verified descriptor lists at least one key.
        &self.descriptor.key_configs[0]
    }
}

/// Checks one entry on its own at `now_unix`: the descriptor verifies, is valid, is listed
/// under its own exit id, matches the pin, and (policies 1 and 2) is trusted.
pub fn admit_exit(
    entry: &ExitKeyEntry,
    policy: &TrustPolicy,
    now_unix: u64,
) -> Result<OfferedExit, Untrusted> {
    let bytes = B64
        .decode(&entry.descriptor)
        .map_err(|_| Untrusted::Malformed)?;
    let descriptor = ExitDescriptor::verify(&bytes)?;
    if descriptor.exit_id_hex() != entry.exit_id.to_ascii_lowercase() {
        return Err(Untrusted::WrongId);
    }
    descriptor.check_time(now_unix)?;
    if let Some(pin) = &policy.exit_pin
        && !descriptor
            .key_configs
            .iter()
            .any(|k| k.hash().eq_ignore_ascii_case(pin))
    {
        return Err(Untrusted::NotPinned);
    }
    match policy.basis() {
        Basis::TrustedExit if !policy.trusted_exits.contains(&descriptor.exit_id) => {
            return Err(Untrusted::NotTrusted(descriptor.exit_id_hex()));
        }
        Basis::Admitted => {
            let needed = policy.authority_threshold.max(1);
            let admitted = admitting_authorities(
                &descriptor.admissions,
                &descriptor.exit_id,
                &policy.trusted_authorities,
                now_unix,
            );
            if admitted < needed {
                return Err(Untrusted::NotAdmitted { admitted, needed });
            }
        }
        _ => {}
    }
    Ok(OfferedExit { descriptor, bytes })
}

/// One relay's exit list, with who handed it out: the relay's id as its TLS key proved it,
/// and the address the client reached it at.
#[derive(Debug, Clone)]
pub struct RelayView {
    /// The relay's public key, from the connection's handshake.
    pub relay_id: [u8; PUBLIC_KEY_LEN],
    /// The relay's address.
    pub addr: IpAddr,
    /// What it listed.
    pub entries: Vec<ExitKeyEntry>,
}

/// An exit the client may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its newest descriptor.
    pub exit: OfferedExit,
    /// The relays (indices into the views, in the views' order) that hand out that descriptor.
    pub relays: Vec<usize>,
    /// Why it passed.
    pub basis: Basis,
}

/// The exits of `views` that pass `policy` at `now_unix`, ordered by exit id.
pub fn candidates(
    views: &[RelayView],
    policy: &TrustPolicy,
    now_unix: u64,
) -> Result<Vec<Candidate>, NoExit> {
    let basis = policy.basis();
    let mut last = None;
    let mut listed = HashSet::new();
    let mut offers: BTreeMap<String, Vec<(usize, OfferedExit)>> = BTreeMap::new();
    for (i, view) in views.iter().enumerate() {
        for entry in &view.entries {
            listed.insert(entry.exit_id.to_ascii_lowercase());
            match admit_exit(entry, policy, now_unix) {
                Ok(exit) => offers.entry(exit.id()).or_default().push((i, exit)),
                Err(why) => last = Some(why),
            }
        }
    }
    let mut out = Vec::new();
    for (_, offered) in offers {
        match newest_agreed(views, offered, basis) {
            Ok(candidate) => out.push(candidate),
            Err(why) => last = Some(why),
        }
    }
    if out.is_empty() {
        return Err(match last {
            None => NoExit::NoneListed,
            Some(last) => NoExit::NoneTrusted {
                listed: listed.len(),
                last,
            },
        });
    }
    Ok(out)
}

/// The newest descriptor of one exit and the relays handing it out, if the exit does not
/// equivocate and (policy 3) two independent relays agree on it.
fn newest_agreed(
    views: &[RelayView],
    offered: Vec<(usize, OfferedExit)>,
    basis: Basis,
) -> Result<Candidate, Untrusted> {
    let newest = offered
        .iter()
        .map(|(_, e)| e.descriptor.sequence)
        .max()
        .ok_or(Untrusted::Malformed)?;
    let mut current = offered
        .into_iter()
        .filter(|(_, e)| e.descriptor.sequence == newest);
    let (first_relay, exit) = current.next().ok_or(Untrusted::Malformed)?;
    let mut relays = vec![first_relay];
    for (relay, other) in current {
        if other.bytes != exit.bytes {
            return Err(Untrusted::Equivocates);
        }
        relays.push(relay);
    }
    relays.sort_unstable();
    relays.dedup();
    if basis == Basis::Corroborated && !independent(views, &relays) {
        return Err(Untrusted::NotCorroborated {
            relays: relays.len(),
        });
    }
    Ok(Candidate {
        exit,
        relays,
        basis,
    })
}

/// Whether two of `relays` have different ids and sit in different networks (or every one is
/// on loopback or a private network, where only the ids must differ).
fn independent(views: &[RelayView], relays: &[usize]) -> bool {
    let all_local = relays.iter().all(|&i| is_local(views[i].addr));
    relays.iter().enumerate().any(|(n, &a)| {
        relays[n + 1..].iter().any(|&b| {
            let (a, b) = (&views[a], &views[b]);
            a.relay_id != b.relay_id
                && (all_local || network(a.addr, 2, 4) != network(b.addr, 2, 4))
        })
    })
}

/// The exit to use: `preferred` (the one used so far) while it is among the candidates, or
/// else the one a uniformly random `pick` lands on. `None` only when there is no candidate.
#[must_use]
pub fn choose(
    mut candidates: Vec<Candidate>,
    preferred: Option<&str>,
    pick: u64,
) -> Option<Candidate> {
    if candidates.is_empty() {
        return None;
    }
    if let Some(at) = preferred.and_then(|p| candidates.iter().position(|c| c.exit.id() == p)) {
        return Some(candidates.swap_remove(at));
    }
    let at = (pick % candidates.len() as u64) as usize;
    Some(candidates.swap_remove(at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificate::{AdmissionCertificate, Role};
    use crate::identity::Identity;
    use crate::keys::OhttpKeyPair;

    const NOW: u64 = 1_800_000_000;

    fn id() -> Identity {
        Identity::generate().expect("identity")
    }

    fn key() -> PublicKeyConfig {
        OhttpKeyPair::generate().expect("key").public().clone()
    }

    fn descriptor(exit: &Identity, sequence: u64, admissions: Vec<Vec<u8>>) -> ExitDescriptor {
        ExitDescriptor {
            exit_id: exit.public_key(),
            key_configs: vec![key(), key()],
            models: vec![],
            valid_from: NOW - 60,
            valid_until: NOW + 3600,
            sequence,
            admissions,
        }
    }

    fn entry(exit: &Identity, d: &ExitDescriptor) -> ExitKeyEntry {
        ExitKeyEntry {
            exit_id: exit.id(),
            descriptor: B64.encode(d.sign(exit).expect("sign")),
        }
    }

    fn view(relay: u8, addr: &str, entries: Vec<ExitKeyEntry>) -> RelayView {
        RelayView {
            relay_id: [relay; PUBLIC_KEY_LEN],
            addr: addr.parse().expect("addr"),
            entries,
        }
    }

    fn trusting(exits: &[&Identity]) -> TrustPolicy {
        TrustPolicy {
            trusted_exits: exits.iter().map(|e| e.public_key()).collect(),
            ..TrustPolicy::default()
        }
    }

    fn refusal(views: &[RelayView], policy: &TrustPolicy) -> Untrusted {
        match candidates(views, policy, NOW) {
            Err(NoExit::NoneTrusted { last, .. }) => last,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_relay_cannot_vouch_for_an_exit_of_its_own() {
        let honest = id();
        let relay_made = id();
        let own = entry(&relay_made, &descriptor(&relay_made, 1, vec![]));
        let views = [view(1, "203.0.113.5", vec![own.clone()])];
        assert!(matches!(
            refusal(&views, &trusting(&[&honest])),
            Untrusted::NotTrusted(_)
        ));
        assert_eq!(
            refusal(&views, &TrustPolicy::default()),
            Untrusted::NotCorroborated { relays: 1 }
        );
        // Passed off under the honest exit's id, it does not match its signature.
        let mut renamed = own;
        renamed.exit_id = honest.id();
        assert_eq!(
            refusal(
                &[view(1, "203.0.113.5", vec![renamed])],
                &trusting(&[&honest])
            ),
            Untrusted::WrongId
        );
    }

    #[test]
    fn unreadable_tampered_and_expired_entries_are_refused() {
        let exit = id();
        let policy = TrustPolicy {
            insecure_any_exit: true,
            ..TrustPolicy::default()
        };
        let mut garbage = entry(&exit, &descriptor(&exit, 1, vec![]));
        garbage.descriptor = "%%%".into();
        assert_eq!(
            admit_exit(&garbage, &policy, NOW),
            Err(Untrusted::Malformed)
        );
        let mut bytes = descriptor(&exit, 1, vec![]).sign(&exit).expect("sign");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = ExitKeyEntry {
            exit_id: exit.id(),
            descriptor: B64.encode(bytes),
        };
        assert_eq!(
            admit_exit(&tampered, &policy, NOW),
            Err(Untrusted::Descriptor(DescriptorError::BadSignature))
        );
        let mut old = descriptor(&exit, 1, vec![]);
        old.valid_until = NOW - 1;
        assert!(matches!(
            admit_exit(&entry(&exit, &old), &policy, NOW),
            Err(Untrusted::Descriptor(DescriptorError::Expired { .. }))
        ));
        let good = entry(&exit, &descriptor(&exit, 1, vec![]));
        let offered = admit_exit(&good, &policy, NOW).expect("insecure takes it");
        assert_eq!(offered.id(), exit.id());
    }

    #[test]
    fn the_pin_matches_any_key_the_descriptor_lists() {
        let exit = id();
        let d = descriptor(&exit, 1, vec![]);
        let e = entry(&exit, &d);
        for k in &d.key_configs {
            let policy = TrustPolicy {
                exit_pin: Some(k.hash().to_uppercase()),
                insecure_any_exit: true,
                ..TrustPolicy::default()
            };
            assert!(admit_exit(&e, &policy, NOW).is_ok());
        }
        let policy = TrustPolicy {
            exit_pin: Some(key().hash()),
            insecure_any_exit: true,
            ..TrustPolicy::default()
        };
        assert_eq!(admit_exit(&e, &policy, NOW), Err(Untrusted::NotPinned));
    }

    fn admission(authority: &Identity, exit: &Identity, not_after: u64) -> Vec<u8> {
        AdmissionCertificate {
            subject: exit.public_key(),
            role: Role::Exit,
            not_after,
            authority: authority.public_key(),
        }
        .sign(authority)
        .expect("cert")
    }

    #[test]
    fn authorities_admit_up_to_their_threshold() {
        let (a, b, unknown) = (id(), id(), id());
        let exit = id();
        let policy = |threshold| TrustPolicy {
            trusted_authorities: vec![a.public_key(), b.public_key()],
            authority_threshold: threshold,
            ..TrustPolicy::default()
        };
        let by_a = entry(
            &exit,
            &descriptor(&exit, 1, vec![admission(&a, &exit, NOW + 60)]),
        );
        let by_both = entry(
            &exit,
            &descriptor(
                &exit,
                1,
                vec![
                    admission(&a, &exit, NOW + 60),
                    admission(&b, &exit, NOW + 60),
                ],
            ),
        );
        let expired = entry(
            &exit,
            &descriptor(&exit, 1, vec![admission(&a, &exit, NOW - 1)]),
        );
        let by_unknown = entry(
            &exit,
            &descriptor(&exit, 1, vec![admission(&unknown, &exit, NOW + 60)]),
        );
        assert!(admit_exit(&by_a, &policy(1), NOW).is_ok());
        assert_eq!(
            admit_exit(&by_a, &policy(2), NOW),
            Err(Untrusted::NotAdmitted {
                admitted: 1,
                needed: 2
            })
        );
        assert!(admit_exit(&by_both, &policy(2), NOW).is_ok());
        for refused in [expired, by_unknown] {
            assert_eq!(
                admit_exit(&refused, &policy(1), NOW),
                Err(Untrusted::NotAdmitted {
                    admitted: 0,
                    needed: 1
                })
            );
        }
        // An admission of another exit, copied into this one's descriptor, counts for nothing.
        let other = id();
        let copied = entry(
            &exit,
            &descriptor(&exit, 1, vec![admission(&a, &other, NOW + 60)]),
        );
        assert!(admit_exit(&copied, &policy(1), NOW).is_err());
    }

    #[test]
    fn without_trust_a_descriptor_needs_two_independent_relays() {
        let exit = id();
        let e = entry(&exit, &descriptor(&exit, 1, vec![]));
        let open = TrustPolicy::default();
        let passes = |views: &[RelayView]| candidates(views, &open, NOW).is_ok();
        // One relay, or one relay id reached twice.
        assert!(!passes(&[view(1, "203.0.113.5", vec![e.clone()])]));
        assert!(!passes(&[
            view(1, "203.0.113.5", vec![e.clone()]),
            view(1, "198.51.100.7", vec![e.clone()]),
        ]));
        // Two relay ids in one public /16.
        assert!(!passes(&[
            view(1, "203.0.113.5", vec![e.clone()]),
            view(2, "203.0.7.9", vec![e.clone()]),
        ]));
        // Two ids in two /16s; two ids on loopback; a private and a public relay.
        assert!(passes(&[
            view(1, "203.0.113.5", vec![e.clone()]),
            view(2, "198.51.100.7", vec![e.clone()]),
        ]));
        assert!(passes(&[
            view(1, "127.0.0.1", vec![e.clone()]),
            view(2, "127.0.0.2", vec![e.clone()]),
        ]));
        assert!(passes(&[
            view(1, "10.0.0.1", vec![e.clone()]),
            view(2, "198.51.100.7", vec![e.clone()]),
        ]));
        assert!(passes(&[
            view(1, "2001:db8::1", vec![e.clone()]),
            view(2, "2001:db9::1", vec![e.clone()]),
        ]));
        assert!(!passes(&[
            view(1, "2001:db8::1", vec![e.clone()]),
            view(2, "2001:db8:ffff::1", vec![e]),
        ]));
        let got = candidates(
            &[
                view(1, "127.0.0.1", vec![]),
                view(
                    2,
                    "127.0.0.2",
                    vec![entry(&exit, &descriptor(&exit, 1, vec![]))],
                ),
                view(
                    3,
                    "127.0.0.3",
                    vec![entry(&exit, &descriptor(&exit, 1, vec![]))],
                ),
            ],
            &open,
            NOW,
        );
        // Each signing makes new keys here, so these two descriptors differ: equivocation.
        assert_eq!(
            got,
            Err(NoExit::NoneTrusted {
                listed: 1,
                last: Untrusted::Equivocates
            })
        );
    }

    #[test]
    fn two_relays_handing_out_different_descriptors_for_one_exit_are_not_believed() {
        let exit = id();
        let (one, two) = (descriptor(&exit, 1, vec![]), descriptor(&exit, 2, vec![]));
        let split = [
            view(1, "127.0.0.1", vec![entry(&exit, &one)]),
            view(2, "127.0.0.2", vec![entry(&exit, &two)]),
        ];
        assert_eq!(
            refusal(&split, &TrustPolicy::default()),
            Untrusted::NotCorroborated { relays: 1 }
        );
        // Same sequence, different content: refused whatever the policy.
        let forked = [
            view(1, "127.0.0.1", vec![entry(&exit, &one)]),
            view(
                2,
                "127.0.0.2",
                vec![entry(&exit, &descriptor(&exit, 1, vec![]))],
            ),
        ];
        assert_eq!(
            refusal(&forked, &trusting(&[&exit])),
            Untrusted::Equivocates
        );
        // A relay lagging one rotation behind does not block two that agree on the newest.
        let lagging = [
            view(1, "127.0.0.1", vec![entry(&exit, &one)]),
            view(2, "127.0.0.2", vec![entry(&exit, &two)]),
            view(3, "127.0.0.3", vec![entry(&exit, &two)]),
        ];
        let got = candidates(&lagging, &TrustPolicy::default(), NOW).expect("agreed");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].exit.descriptor, two);
        assert_eq!(got[0].relays, [1, 2]);
        assert_eq!(got[0].basis, Basis::Corroborated);
    }

    /// SplitMix64: a fixed stream of uniform picks, so the test is the same every run.
    fn picks(mut state: u64) -> impl Iterator<Item = u64> {
        std::iter::from_fn(move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            Some(z ^ (z >> 31))
        })
    }

    #[test]
    fn a_ground_low_id_gets_no_more_than_its_share_and_the_choice_sticks() {
        let exits: Vec<Identity> = (0..20).map(|_| id()).collect();
        let lowest = exits.iter().map(Identity::id).min().expect("some");
        let entries: Vec<ExitKeyEntry> = exits
            .iter()
            .map(|e| entry(e, &descriptor(e, 1, vec![])))
            .collect();
        let views = [view(1, "127.0.0.1", entries)];
        let policy = trusting(&exits.iter().collect::<Vec<_>>());
        let all = candidates(&views, &policy, NOW).expect("twenty");
        assert_eq!(all.len(), 20);
        let mut counts = std::collections::HashMap::new();
        for pick in picks(1).take(200) {
            let chosen = choose(all.clone(), None, pick).expect("one");
            *counts.entry(chosen.exit.id()).or_insert(0u32) += 1;
        }
        // A fair share is 10 of 200. Under Binomial(200, 1/20), P(X >= 25) < 1e-4 for one exit
        // and < 2e-3 for any of 20; the picks are fixed, so the outcome is the same every run.
        let most = counts.values().copied().max().unwrap_or(0);
        assert!(most < 25, "an exit was chosen {most} times of 200");
        assert!(counts.get(&lowest).copied().unwrap_or(0) < 25);
        assert_eq!(counts.len(), 20, "every exit is chosen at some start");
        let kept = exits[7].id();
        for pick in picks(2).take(20) {
            let again = choose(all.clone(), Some(&kept), pick).expect("one");
            assert_eq!(again.exit.id(), kept);
        }
        assert_eq!(choose(Vec::new(), None, 0), None);
    }
}
