//! The relay's control answers: the exit list a client asks for with QueryExitKeys, and how a
//! client picks an exit from it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::certificate::admitting_authorities;
use crate::descriptor::{DescriptorError, ExitDescriptor};
use crate::identity::PUBLIC_KEY_LEN;
use crate::keys::PublicKeyConfig;

/// Largest ExitKeysResponse a client reads (a relay holds at most 1024 exits of ~100 bytes).
pub const MAX_EXIT_KEYS_PAYLOAD: usize = 4 * 1024 * 1024;

/// One entry of the QueryExitKeys answer (JSON `{"pub_key_hash": ..., "key_config": ...}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExitKeyEntry {
    /// The exit's pubKeyHash.
    pub pub_key_hash: String,
    /// Its KeyConfig, standard base64.
    pub key_config: String,
    /// Its signed descriptor, standard base64, when it registered one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub descriptor: Option<String>,
}

/// Which exits a client accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustPolicy {
    /// Only the exit with this pubKeyHash (case-insensitive).
    pub exit_pin: Option<String>,
    /// When not empty: only exits whose descriptor, signed by one of these exit ids and valid
    /// now, lists the key the relay offers for them. Keys then never come from the relay alone.
    pub trusted_exits: Vec<[u8; PUBLIC_KEY_LEN]>,
    /// When not empty (and no exit is trusted by id): only exits whose signed descriptor
    /// carries admissions from at least `authority_threshold` of these authorities.
    pub trusted_authorities: Vec<[u8; PUBLIC_KEY_LEN]>,
    /// How many of the trusted authorities must admit an exit (at least 1).
    pub authority_threshold: usize,
}

/// Why an exit the relay listed was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Untrusted {
    /// Its key config does not parse or does not hash to the pubKeyHash it is listed under.
    #[error("its key config does not match its pubKeyHash")]
    BadKey,
    /// It is not the pinned exit.
    #[error("it is not the pinned exit")]
    NotPinned,
    /// It came without a signed descriptor.
    #[error("it has no signed descriptor")]
    NoDescriptor,
    /// Its descriptor is refused.
    #[error(transparent)]
    Descriptor(#[from] DescriptorError),
    /// Its descriptor is signed by an exit id the client does not trust.
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
    /// Its descriptor does not list the key the relay offers for it.
    #[error("its descriptor does not list the key the relay offers")]
    KeyNotListed,
}

/// Why no exit was chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoExit {
    /// The relay listed none.
    #[error("the relay lists no exit")]
    NoneListed,
    /// None of those listed passed the trust policy.
    #[error("none of the {listed} exits listed is trusted (last: {last})")]
    NoneTrusted {
        /// How many were listed.
        listed: usize,
        /// Why the last one was not taken.
        last: Untrusted,
    },
}

/// Whether one listed exit passes `policy` at `now_unix`; its key when it does.
pub fn admit_exit(
    entry: &ExitKeyEntry,
    policy: &TrustPolicy,
    now_unix: u64,
) -> Result<PublicKeyConfig, Untrusted> {
    let key = PublicKeyConfig::from_base64(&entry.key_config).map_err(|_| Untrusted::BadKey)?;
    if key.hash() != entry.pub_key_hash {
        return Err(Untrusted::BadKey);
    }
    if let Some(pin) = &policy.exit_pin
        && !key.hash().eq_ignore_ascii_case(pin)
    {
        return Err(Untrusted::NotPinned);
    }
    if policy.trusted_exits.is_empty() && policy.trusted_authorities.is_empty() {
        return Ok(key);
    }
    let bytes = entry
        .descriptor
        .as_deref()
        .and_then(|d| B64.decode(d).ok())
        .ok_or(Untrusted::NoDescriptor)?;
    let descriptor = ExitDescriptor::verify(&bytes)?;
    if !policy.trusted_exits.is_empty() {
        if !policy.trusted_exits.contains(&descriptor.exit_id) {
            return Err(Untrusted::NotTrusted(descriptor.exit_id_hex()));
        }
    } else {
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
    descriptor.check_time(now_unix)?;
    if !descriptor.accepts(&key) {
        return Err(Untrusted::KeyNotListed);
    }
    Ok(key)
}

/// Why an exit list could not be read.
#[derive(Debug, thiserror::Error)]
#[error("bad exit keys: {0}")]
pub struct ExitKeysError(#[from] serde_json::Error);

/// The JSON payload of an ExitKeysResponse.
pub fn encode_exit_keys(entries: &[ExitKeyEntry]) -> Result<Vec<u8>, ExitKeysError> {
    Ok(serde_json::to_vec(entries)?)
}

/// Parses an ExitKeysResponse payload.
pub fn decode_exit_keys(payload: &[u8]) -> Result<Vec<ExitKeyEntry>, ExitKeysError> {
    Ok(serde_json::from_slice(payload)?)
}

/// Among the listed exits that pass `policy` at `now_unix`, the one `pick` (a uniformly
/// random number the caller draws) lands on. Never by an order an attacker can grind, such as
/// hash order: a key with a low hash gains nothing.
pub fn choose_exit(
    entries: &[ExitKeyEntry],
    policy: &TrustPolicy,
    now_unix: u64,
    pick: u64,
) -> Result<PublicKeyConfig, NoExit> {
    let mut last = None;
    let mut valid: Vec<PublicKeyConfig> = entries
        .iter()
        .filter_map(|e| match admit_exit(e, policy, now_unix) {
            Ok(key) => Some(key),
            Err(why) => {
                last = Some(why);
                None
            }
        })
        .collect();
    // Sorted first, so the pick alone decides, whatever order the relay listed them in.
    valid.sort_by_key(|k| k.hash());
    valid.dedup();
    if valid.is_empty() {
        return Err(match last {
            None => NoExit::NoneListed,
            Some(last) => NoExit::NoneTrusted {
                listed: entries.len(),
                last,
            },
        });
    }
    let len = valid.len() as u64;
    Ok(valid.swap_remove((pick % len) as usize))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::keys::OhttpKeyPair;

    fn entry(k: &PublicKeyConfig) -> ExitKeyEntry {
        ExitKeyEntry {
            pub_key_hash: k.hash(),
            key_config: k.to_base64(),
            descriptor: None,
        }
    }

    const NOW: u64 = 1_800_000_000;

    fn any() -> TrustPolicy {
        TrustPolicy::default()
    }

    fn pinned(hash: &str) -> TrustPolicy {
        TrustPolicy {
            exit_pin: Some(hash.into()),
            ..TrustPolicy::default()
        }
    }

    #[test]
    fn entries_whose_hash_lies_are_dropped_and_the_pin_wins() {
        let a = OhttpKeyPair::generate().expect("a").public().clone();
        let b = OhttpKeyPair::generate().expect("b").public().clone();
        let mut lying = entry(&a);
        lying.pub_key_hash = b.hash();
        assert_eq!(
            choose_exit(&[lying.clone()], &any(), NOW, 0),
            Err(NoExit::NoneTrusted {
                listed: 1,
                last: Untrusted::BadKey
            })
        );
        assert_eq!(choose_exit(&[], &any(), NOW, 0), Err(NoExit::NoneListed));
        let list = [lying, entry(&a), entry(&b)];
        let picked: Vec<_> = (0..4)
            .filter_map(|p| choose_exit(&list, &any(), NOW, p).ok())
            .collect();
        assert!(
            picked.contains(&a) && picked.contains(&b),
            "both valid exits can be picked"
        );
        let pin = b.hash().to_uppercase();
        assert_eq!(choose_exit(&list, &pinned(&pin), NOW, 0), Ok(b.clone()));
        assert_eq!(choose_exit(&list, &pinned(&pin), NOW, 1), Ok(b.clone()));
        assert!(choose_exit(&list, &pinned("00"), NOW, 0).is_err());
        let json = encode_exit_keys(&list).expect("json");
        assert_eq!(decode_exit_keys(&json).expect("back"), list);
        assert!(decode_exit_keys(b"[1]").is_err());
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
    fn a_ground_low_hash_key_gets_no_more_than_its_share() {
        // Twenty exits; the attacker's key is the one with the lowest hash, as if ground.
        let keys: Vec<PublicKeyConfig> = (0..20)
            .map(|_| OhttpKeyPair::generate().expect("key").public().clone())
            .collect();
        let lowest = keys.iter().min_by_key(|k| k.hash()).expect("some").clone();
        let list: Vec<ExitKeyEntry> = keys.iter().map(entry).collect();
        let starts = 200;
        let mut counts = std::collections::HashMap::new();
        for pick in picks(1).take(starts) {
            let chosen = choose_exit(&list, &any(), NOW, pick).expect("an exit");
            *counts.entry(chosen.hash()).or_insert(0u32) += 1;
        }
        // A fair share is 200 / 20 = 10. For one exit, P(X >= 25) under Binomial(200, 1/20) is
        // below 1e-4, and for any of the 20 below 2e-3; the picks are fixed, so this is exact.
        let most = counts.values().copied().max().unwrap_or(0);
        assert!(most < 25, "an exit was chosen {most} times of {starts}");
        assert!(counts.get(&lowest.hash()).copied().unwrap_or(0) < 25);
        assert_eq!(counts.len(), 20, "every exit is chosen at some start");
    }

    fn described(id: &Identity, key: &PublicKeyConfig, until: u64) -> ExitKeyEntry {
        let d = ExitDescriptor {
            exit_id: id.public_key(),
            key_configs: vec![key.clone()],
            models: vec![],
            valid_from: NOW - 60,
            valid_until: until,
            sequence: 1,
            admissions: vec![],
        };
        ExitKeyEntry {
            descriptor: Some(B64.encode(d.sign(id).expect("sign"))),
            ..entry(key)
        }
    }

    #[test]
    fn with_trusted_exits_only_their_signed_keys_are_taken() {
        let honest = Identity::generate().expect("id");
        let relay_made = Identity::generate().expect("id");
        let honest_key = OhttpKeyPair::generate().expect("k").public().clone();
        let relay_key = OhttpKeyPair::generate().expect("k").public().clone();
        let policy = TrustPolicy {
            trusted_exits: vec![honest.public_key()],
            ..TrustPolicy::default()
        };
        let refused = |e: ExitKeyEntry| admit_exit(&e, &policy, NOW).expect_err("refused");
        // The relay's own key: bare, under its own identity, or passed off as the honest exit's.
        assert_eq!(refused(entry(&relay_key)), Untrusted::NoDescriptor);
        assert!(matches!(
            refused(described(&relay_made, &relay_key, NOW + 60)),
            Untrusted::NotTrusted(_)
        ));
        let mut swapped = described(&honest, &honest_key, NOW + 60);
        swapped.pub_key_hash = relay_key.hash();
        swapped.key_config = relay_key.to_base64();
        assert_eq!(refused(swapped), Untrusted::KeyNotListed);
        assert!(matches!(
            refused(described(&honest, &honest_key, NOW - 1)),
            Untrusted::Descriptor(DescriptorError::Expired { .. })
        ));
        let list = [
            entry(&relay_key),
            described(&relay_made, &relay_key, NOW + 60),
            described(&honest, &honest_key, NOW + 60),
        ];
        for pick in 0..10 {
            assert_eq!(
                choose_exit(&list, &policy, NOW, pick),
                Ok(honest_key.clone())
            );
        }
        assert!(matches!(
            choose_exit(&list[..2], &policy, NOW, 0),
            Err(NoExit::NoneTrusted { listed: 2, .. })
        ));
    }
}
