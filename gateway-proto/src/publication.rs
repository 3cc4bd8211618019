//! What an exit publishes about itself over time: its OHTTP keys, rotated on a schedule with
//! the previous key still accepted, and the signed descriptor that lists them.
//!
//! The descriptor lists the current key first and the previous one after it, so a client that
//! fetched the descriptor before a rotation keeps working until the next one. It is signed once
//! and handed unchanged to every relay (clients without a trusted authority compare the copies
//! from different relays), and signed again only at a rotation or when half its validity has
//! passed. Time is passed in as Unix seconds; the caller draws the new keys.
//!
//! ```
//! use tokengo_gateway_proto::identity::Identity;
//! use tokengo_gateway_proto::keys::OhttpKeyPair;
//! use tokengo_gateway_proto::publication::{Due, Publication, PublicationSettings};
//!
//! let identity = Identity::generate().unwrap();
//! let settings = PublicationSettings { rotate_every: Some(3600), ..Default::default() };
//! let now = 1_800_000_000;
//! let mut exit = Publication::new(&identity, OhttpKeyPair::generate().unwrap(), settings, now).unwrap();
//! let later = exit.poll_timeout();
//! assert_eq!(exit.due(later), Due::Rotate);
//! let fresh = OhttpKeyPair::generate_with_id(exit.next_key_id()).unwrap();
//! exit.rotate(&identity, fresh, later).unwrap();
//! assert_eq!(exit.keys().count(), 2); // the previous key is still accepted
//! ```

use crate::descriptor::{DescriptorError, ExitDescriptor, MAX_VALIDITY};
use crate::identity::Identity;
use crate::keys::{KeyError, OhttpKeyPair};

/// How many keys an exit accepts at once: the current one and the one before it.
pub const KEPT_KEYS: usize = 2;
/// How far back a descriptor's validity starts, for clients whose clocks run a little slow.
pub const CLOCK_SLACK: u64 = 60;

/// What an exit says beside its keys, and how often it rotates them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicationSettings {
    /// Seconds between key rotations; `None` keeps one key for the exit's lifetime.
    pub rotate_every: Option<u64>,
    /// The models the exit serves.
    pub models: Vec<String>,
    /// Admission certificates from network authorities.
    pub admissions: Vec<Vec<u8>>,
}

/// Why the publication could not be made or changed.
#[derive(Debug, thiserror::Error)]
pub enum PublicationError {
    /// The descriptor could not be signed.
    #[error(transparent)]
    Descriptor(#[from] DescriptorError),
    /// A key could not be used.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The new key's id is that of a key still accepted.
    #[error("key id {0} is already in use")]
    KeyIdInUse(u8),
}

/// What is due at some time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Nothing yet.
    Nothing,
    /// A new key: call [`Publication::rotate`].
    Rotate,
    /// The descriptor is past half its validity: call [`Publication::resign`].
    Resign,
}

/// A key the exit accepts, with its server config.
#[derive(Debug, Clone)]
struct Accepted {
    pair: OhttpKeyPair,
    config: ohttp::KeyConfig,
}

/// An exit's keys and its signed descriptor.
#[derive(Debug, Clone)]
pub struct Publication {
    keys: Vec<Accepted>,
    settings: PublicationSettings,
    rotated_at: u64,
    signed_at: u64,
    sequence: u64,
    descriptor: Vec<u8>,
}

impl Publication {
    /// Starts with `key` and a descriptor signed at `now_unix`.
    pub fn new(
        identity: &Identity,
        key: OhttpKeyPair,
        settings: PublicationSettings,
        now_unix: u64,
    ) -> Result<Self, PublicationError> {
        let config = key.server_config()?;
        let mut publication = Self {
            keys: vec![Accepted { pair: key, config }],
            settings,
            rotated_at: now_unix,
            signed_at: now_unix,
            sequence: 0,
            descriptor: Vec::new(),
        };
        publication.resign(identity, now_unix)?;
        Ok(publication)
    }

    /// The signed descriptor, as relays are to carry it.
    #[must_use]
    pub fn descriptor(&self) -> &[u8] {
        &self.descriptor
    }

    /// The descriptor's sequence number.
    #[must_use]
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// The keys accepted now, the current one first.
    pub fn keys(&self) -> impl Iterator<Item = &OhttpKeyPair> {
        self.keys.iter().map(|k| &k.pair)
    }

    /// The server config of the key a sealed request is addressed to (by its first byte, the
    /// key id), if that key is still accepted.
    #[must_use]
    pub fn key_for(&self, sealed: &[u8]) -> Option<&ohttp::KeyConfig> {
        let id = *sealed.first()?;
        self.keys
            .iter()
            .find(|k| k.pair.key_id() == id)
            .map(|k| &k.config)
    }

    /// A key id no accepted key uses, for the next key.
    #[must_use]
    pub fn next_key_id(&self) -> u8 {
        let mut id = self.keys[0].pair.key_id().wrapping_add(1);
        while self.keys.iter().any(|k| k.pair.key_id() == id) {
            id = id.wrapping_add(1);
        }
        id
    }

    /// The Unix second at which the next rotation or re-signing is due.
    #[must_use]
    pub fn poll_timeout(&self) -> u64 {
        let resign = self.signed_at.saturating_add(MAX_VALIDITY / 2);
        match self.settings.rotate_every {
            Some(every) => resign.min(self.rotated_at.saturating_add(every.max(1))),
            None => resign,
        }
    }

    /// What is due at `now_unix`.
    #[must_use]
    pub fn due(&self, now_unix: u64) -> Due {
        if let Some(every) = self.settings.rotate_every
            && now_unix >= self.rotated_at.saturating_add(every.max(1))
        {
            return Due::Rotate;
        }
        if now_unix >= self.signed_at.saturating_add(MAX_VALIDITY / 2) {
            return Due::Resign;
        }
        Due::Nothing
    }

    /// Makes `key` the current key, keeps the previous one, drops any older, and signs a new
    /// descriptor.
    pub fn rotate(
        &mut self,
        identity: &Identity,
        key: OhttpKeyPair,
        now_unix: u64,
    ) -> Result<(), PublicationError> {
        if self.keys.iter().any(|k| k.pair.key_id() == key.key_id()) {
            return Err(PublicationError::KeyIdInUse(key.key_id()));
        }
        let config = key.server_config()?;
        let mut keys = self.keys.clone();
        keys.insert(0, Accepted { pair: key, config });
        keys.truncate(KEPT_KEYS);
        let previous = std::mem::replace(&mut self.keys, keys);
        if let Err(e) = self.resign(identity, now_unix) {
            self.keys = previous;
            return Err(e);
        }
        self.rotated_at = now_unix;
        Ok(())
    }

    /// The models listed in the descriptor.
    #[must_use]
    pub fn models(&self) -> &[String] {
        &self.settings.models
    }

    /// Lists `models` instead and signs a new descriptor, when they differ from the listed
    /// ones; returns whether it did.
    pub fn set_models(
        &mut self,
        identity: &Identity,
        models: Vec<String>,
        now_unix: u64,
    ) -> Result<bool, PublicationError> {
        if models == self.settings.models {
            return Ok(false);
        }
        let previous = std::mem::replace(&mut self.settings.models, models);
        if let Err(e) = self.resign(identity, now_unix) {
            self.settings.models = previous;
            return Err(e);
        }
        Ok(true)
    }

    /// Signs a new descriptor for the current keys, valid from shortly before `now_unix` for
    /// the longest validity allowed.
    pub fn resign(&mut self, identity: &Identity, now_unix: u64) -> Result<(), PublicationError> {
        let valid_from = now_unix.saturating_sub(CLOCK_SLACK);
        let sequence = now_unix.max(self.sequence.saturating_add(1));
        self.descriptor = ExitDescriptor {
            exit_id: identity.public_key(),
            key_configs: self.keys.iter().map(|k| k.pair.public().clone()).collect(),
            models: self.settings.models.clone(),
            valid_from,
            valid_until: valid_from.saturating_add(MAX_VALIDITY),
            sequence,
            admissions: self.settings.admissions.clone(),
        }
        .sign(identity)?;
        self.sequence = sequence;
        self.signed_at = now_unix;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn hour() -> PublicationSettings {
        PublicationSettings {
            rotate_every: Some(3600),
            ..PublicationSettings::default()
        }
    }

    #[test]
    fn new_models_are_signed_into_a_newer_descriptor_and_the_same_ones_change_nothing() {
        let identity = Identity::generate().expect("id");
        let key = OhttpKeyPair::generate().expect("key");
        let mut p = Publication::new(&identity, key, hour(), NOW).expect("new");
        let before = p.descriptor().to_vec();
        assert!(!p.set_models(&identity, vec![], NOW + 1).expect("same"));
        assert_eq!(p.descriptor(), before);
        assert!(
            p.set_models(&identity, vec!["a".into()], NOW + 1)
                .expect("new")
        );
        let d = ExitDescriptor::verify(p.descriptor()).expect("signed");
        assert_eq!(d.models, ["a"]);
        assert!(d.sequence > ExitDescriptor::verify(&before).expect("old").sequence);
        assert_eq!(p.models(), ["a"]);
    }

    #[test]
    fn a_rotation_keeps_the_previous_key_and_drops_the_one_before() {
        let identity = Identity::generate().expect("id");
        let first = OhttpKeyPair::generate().expect("key");
        let mut p = Publication::new(&identity, first.clone(), hour(), NOW).expect("new");
        let d0 = ExitDescriptor::verify(p.descriptor()).expect("signed");
        assert_eq!(d0.key_configs, [first.public().clone()]);
        assert_eq!(p.due(NOW + 3599), Due::Nothing);
        assert_eq!(p.poll_timeout(), NOW + 3600);
        assert_eq!(p.due(NOW + 3600), Due::Rotate);

        let second = OhttpKeyPair::generate_with_id(p.next_key_id()).expect("key");
        p.rotate(&identity, second.clone(), NOW + 3600)
            .expect("rotate");
        let d1 = ExitDescriptor::verify(p.descriptor()).expect("signed");
        assert_eq!(
            d1.key_configs,
            [second.public().clone(), first.public().clone()]
        );
        assert!(d1.sequence > d0.sequence);
        assert_eq!(p.due(NOW + 3601), Due::Nothing);

        let third = OhttpKeyPair::generate_with_id(p.next_key_id()).expect("key");
        p.rotate(&identity, third.clone(), NOW + 7200)
            .expect("rotate");
        let ids: Vec<u8> = p.keys().map(OhttpKeyPair::key_id).collect();
        assert_eq!(ids, [third.key_id(), second.key_id()]);
        assert!(
            p.keys().all(|k| k.public() != first.public()),
            "the oldest key is gone"
        );
    }

    #[test]
    fn requests_find_their_key_by_its_id_and_unknown_ids_find_none() {
        let identity = Identity::generate().expect("id");
        let first = OhttpKeyPair::generate().expect("key");
        let mut p = Publication::new(&identity, first.clone(), hour(), NOW).expect("new");
        let second = OhttpKeyPair::generate_with_id(p.next_key_id()).expect("key");
        p.rotate(&identity, second.clone(), NOW + 3600)
            .expect("rotate");
        for key in [&first, &second] {
            let (sealed, _) = crate::envelope::seal_single(
                key.public(),
                &crate::http_message::InnerRequest {
                    method: "GET".into(),
                    path_and_query: "/".into(),
                    headers: vec![],
                    body: vec![],
                },
            )
            .expect("seal");
            let config = p.key_for(&sealed).expect("accepted");
            let server = ohttp::Server::new(config.clone()).expect("server");
            assert!(crate::envelope::open_single(&server, &sealed).is_ok());
        }
        let unused = (0..=255u8)
            .find(|id| p.keys().all(|k| k.key_id() != *id))
            .expect("a free id");
        assert!(p.key_for(&[unused, 0, 0]).is_none());
        assert!(p.key_for(&[]).is_none());
        let clash = OhttpKeyPair::generate_with_id(second.key_id()).expect("key");
        assert!(matches!(
            p.rotate(&identity, clash, NOW + 7200),
            Err(PublicationError::KeyIdInUse(_))
        ));
        assert_eq!(p.keys().count(), 2, "a refused rotation changes nothing");
    }

    #[test]
    fn without_rotation_the_descriptor_is_signed_again_at_half_its_validity() {
        let identity = Identity::generate().expect("id");
        let settings = PublicationSettings {
            models: vec!["m".into()],
            ..PublicationSettings::default()
        };
        let mut p = Publication::new(
            &identity,
            OhttpKeyPair::generate().expect("key"),
            settings,
            NOW,
        )
        .expect("new");
        let half = NOW + MAX_VALIDITY / 2;
        assert_eq!(p.poll_timeout(), half);
        assert_eq!(p.due(half - 1), Due::Nothing);
        assert_eq!(p.due(half), Due::Resign);
        let before = p.descriptor().to_vec();
        p.resign(&identity, half).expect("resign");
        assert_ne!(p.descriptor(), &before[..]);
        let d = ExitDescriptor::verify(p.descriptor()).expect("signed");
        assert_eq!(d.models, ["m"]);
        assert!(d.check_time(half + MAX_VALIDITY / 2).is_ok());
        assert_eq!(p.due(half + 1), Due::Nothing);
    }
}
