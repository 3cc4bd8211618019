//! The exit registration exchange, as a state machine for each side.
//!
//! ```text
//! exit                                   relay
//!  | Register(target = hash, key config)  |   checks the hash against the key config
//!  |------------------------------------->|
//!  |  RegisterChallenge(nonce sealed to   |   a random nonce, sealed to the key (RFC 9458)
//!  |<-------------------------------------|
//!  | RegisterProof(nonce)                 |   only the key's holder can open the challenge
//!  |------------------------------------->|
//!  |  RegisterAck, or Error(Refusal)      |   the relay's table may still be full
//!  |<-------------------------------------|
//! ```
//!
//! Both machines follow the same contract: feed received frames to `handle_frame`, call
//! `handle_timeout` once `poll_timeout` has passed, and after every call send what
//! `poll_transmit` yields and check `poll_outcome`. Time is passed in; nothing here reads a
//! clock, touches a socket or draws randomness (the relay's nonce is an argument).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::certificate::admitting_authorities;
use crate::descriptor::ExitDescriptor;
use crate::frame::{Frame, MessageType};
use crate::identity::PUBLIC_KEY_LEN;
use crate::keys::{OhttpKeyPair, PublicKeyConfig};
use crate::refusal::Refusal;

/// Largest payload of a registration or heartbeat frame (a key config is about 43 bytes, a
/// descriptor at most [`MAX_DESCRIPTOR_LEN`](crate::descriptor::MAX_DESCRIPTOR_LEN)).
pub const MAX_CONTROL_PAYLOAD: usize = 20 * 1024;
/// Length of the relay's challenge nonce.
pub const NONCE_LEN: usize = 32;
/// What every challenge's plaintext starts with. An exit answers only a challenge that opens
/// to this prefix and a nonce, so a relay cannot use the exit to open a captured client request
/// (whose plaintext is a Binary HTTP message) by passing it off as a challenge.
pub const CHALLENGE_PREFIX: &[u8] = b"tokengo register challenge v1\0";

/// The plaintext a challenge with `nonce` seals, and its proof.
fn challenge_plaintext(nonce: &[u8; NONCE_LEN]) -> Vec<u8> {
    [CHALLENGE_PREFIX, nonce].concat()
}

/// Why a registration ended without success.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    /// The other side refused, or this side refused the other (the refusal was sent).
    #[error("registration refused: {0}")]
    Refused(Refusal),
    /// The other side sent a frame that has no place at this point of the exchange.
    #[error("unexpected {0:?} frame during registration")]
    Unexpected(MessageType),
    /// The exit could not open the relay's challenge with its key.
    #[error("cannot open the relay's challenge")]
    BadChallenge,
    /// The relay could not seal a challenge to the key.
    #[error("cannot seal a challenge to the key")]
    SealFailed,
    /// The exchange did not finish before its deadline.
    #[error("registration timed out")]
    TimedOut,
}

/// One registration exchange, on the side `S` ([`RelaySide`] or [`ExitSide`]): a deadline
/// while frames are awaited, frames to send, and one outcome.
#[derive(Debug)]
pub struct Registration<S: Side> {
    side: S,
    deadline: Instant,
    waiting: bool,
    transmits: VecDeque<Frame>,
    outcome: Option<Result<S::Outcome, RegistrationError>>,
}

/// A side of the exchange: what its outcome carries.
pub trait Side: std::fmt::Debug {
    /// What a successful exchange yields on this side.
    type Outcome;
}

/// The relay's side of one registration.
pub type RelayRegistration = Registration<RelaySide>;
/// The exit's side of one registration.
pub type ExitRegistration = Registration<ExitSide>;

impl<S: Side> Registration<S> {
    fn start(side: S, now: Instant, timeout: Duration) -> Self {
        Self {
            side,
            deadline: now + timeout,
            waiting: true,
            transmits: VecDeque::new(),
            outcome: None,
        }
    }

    fn end(&mut self, result: Result<S::Outcome, RegistrationError>) {
        self.waiting = false;
        self.outcome = Some(result);
    }

    /// Ends the exchange when its deadline has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.waiting && now >= self.deadline {
            self.end(Err(RegistrationError::TimedOut));
        }
    }

    /// The next frame to send to the other side.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Frame> {
        self.transmits.pop_front()
    }

    /// When to call [`Registration::handle_timeout`], while frames are awaited.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.waiting.then_some(self.deadline)
    }

    /// The result, once. On the relay: the exit's pubKeyHash and key once it proved
    /// possession (then call [`RelayRegistration::accept`] or [`RelayRegistration::refuse`]).
    /// On the exit: registered. Or why the exchange failed.
    #[must_use]
    pub fn poll_outcome(&mut self) -> Option<Result<S::Outcome, RegistrationError>> {
        self.outcome.take()
    }
}

/// The relay's state in the exchange.
#[derive(Debug)]
pub struct RelaySide {
    state: RelayState,
    nonce: [u8; NONCE_LEN],
    now_unix: u64,
    required_authorities: Vec<[u8; PUBLIC_KEY_LEN]>,
}

impl Side for RelaySide {
    type Outcome = Registered;
}

/// An exit that proved it holds its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// Its pubKeyHash.
    pub hash: String,
    /// Its OHTTP key config.
    pub key: PublicKeyConfig,
    /// Its signed descriptor (checked: the signature verifies, it is valid now, and it lists
    /// the key), when it sent one.
    pub descriptor: Option<Vec<u8>>,
}

/// Splits a Register payload into its key config and the signed descriptor after it (empty
/// when the exit sent none). The key config's length follows from its own suite length field.
pub fn split_register_payload(payload: &[u8]) -> Option<(&[u8], &[u8])> {
    let suites = payload.get(35..37)?;
    let len = 37 + usize::from(u16::from_be_bytes([suites[0], suites[1]]));
    (payload.len() >= len).then(|| payload.split_at(len))
}

#[derive(Debug)]
enum RelayState {
    AwaitRegister,
    AwaitProof(Registered),
    /// Proven; waiting for the shell to say whether its table takes the exit.
    Proven,
    Done,
}

impl Registration<RelaySide> {
    /// Starts waiting for an exit's Register frame until `now + timeout`. `nonce` must be fresh
    /// random bytes; `now_unix` (Unix seconds) is when a descriptor must be valid.
    #[must_use]
    pub fn new(now: Instant, now_unix: u64, timeout: Duration, nonce: [u8; NONCE_LEN]) -> Self {
        let side = RelaySide {
            state: RelayState::AwaitRegister,
            nonce,
            now_unix,
            required_authorities: Vec::new(),
        };
        Self::start(side, now, timeout)
    }

    /// Admits only exits whose descriptor carries an admission from one of `authorities`
    /// (a relay started with `--trust-authority`); others are refused with
    /// [`Refusal::NotAdmitted`].
    #[must_use]
    pub fn requiring_admission(mut self, authorities: Vec<[u8; PUBLIC_KEY_LEN]>) -> Self {
        self.side.required_authorities = authorities;
        self
    }

    /// A frame from the exit.
    pub fn handle_frame(&mut self, _now: Instant, frame: Frame) {
        if !self.waiting {
            return;
        }
        match std::mem::replace(&mut self.side.state, RelayState::Done) {
            RelayState::AwaitRegister => self.on_register(frame),
            RelayState::AwaitProof(registered) => {
                let expected = challenge_plaintext(&self.side.nonce);
                if frame.kind == MessageType::RegisterProof && frame.payload == expected {
                    self.side.state = RelayState::Proven;
                    self.end(Ok(registered));
                } else {
                    self.fail(Refusal::BadProof);
                }
            }
            state @ (RelayState::Proven | RelayState::Done) => self.side.state = state,
        }
    }

    fn on_register(&mut self, frame: Frame) {
        if frame.kind != MessageType::Register {
            return self.fail(Refusal::ExpectedRegister);
        }
        if frame.target.is_empty() {
            return self.fail(Refusal::MissingKeyHash);
        }
        let Some((config, descriptor)) = split_register_payload(&frame.payload) else {
            return self.fail(Refusal::InvalidKeyConfig);
        };
        let key = match PublicKeyConfig::parse(config) {
            Ok(key) => key,
            Err(_) => return self.fail(Refusal::InvalidKeyConfig),
        };
        if key.hash() != frame.target {
            return self.fail(Refusal::KeyHashMismatch);
        }
        let descriptor = if descriptor.is_empty() {
            None
        } else {
            let checked = ExitDescriptor::verify(descriptor).and_then(|d| {
                d.check_time(self.side.now_unix)?;
                Ok(d)
            });
            match checked {
                Ok(d) if d.accepts(&key) => Some((d, descriptor.to_vec())),
                _ => return self.fail(Refusal::BadDescriptor),
            }
        };
        let required = &self.side.required_authorities;
        let admitted = descriptor.as_ref().is_some_and(|(d, _)| {
            admitting_authorities(&d.admissions, &d.exit_id, required, self.side.now_unix) > 0
        });
        if !required.is_empty() && !admitted {
            return self.fail(Refusal::NotAdmitted);
        }
        let descriptor = descriptor.map(|(_, bytes)| bytes);
        let sealed = key
            .to_ohttp()
            .ok()
            .and_then(|mut config| ohttp::ClientRequest::from_config(&mut config).ok())
            .and_then(|client| {
                client
                    .encapsulate(&challenge_plaintext(&self.side.nonce))
                    .ok()
            });
        match sealed {
            Some((challenge, _)) => {
                self.transmits
                    .push_back(Frame::new(MessageType::RegisterChallenge, challenge));
                self.side.state = RelayState::AwaitProof(Registered {
                    hash: frame.target,
                    key,
                    descriptor,
                });
            }
            None => self.end(Err(RegistrationError::SealFailed)),
        }
    }

    /// The exit proved its key and the relay's table took it: sends the acknowledgement.
    pub fn accept(&mut self) {
        if matches!(self.side.state, RelayState::Proven) {
            self.side.state = RelayState::Done;
            self.transmits
                .push_back(Frame::new(MessageType::RegisterAck, Vec::new()));
        }
    }

    /// Refuses the exit (also after a proof, when the relay's table is full): sends the
    /// refusal and ends the exchange.
    pub fn refuse(&mut self, refusal: Refusal) {
        if self.waiting || matches!(self.side.state, RelayState::Proven) {
            self.fail(refusal);
        }
    }

    fn fail(&mut self, refusal: Refusal) {
        self.side.state = RelayState::Done;
        self.transmits.push_back(Frame::refusal(refusal));
        self.end(Err(RegistrationError::Refused(refusal)));
    }
}

/// The exit's state in the exchange: the key that opens the relay's challenge.
#[derive(Debug)]
pub struct ExitSide {
    server: Option<ohttp::Server>,
}

impl Side for ExitSide {
    type Outcome = ();
}

impl Registration<ExitSide> {
    /// Starts registering `key`, with the exit's signed `descriptor` when it has one: the
    /// Register frame is the first transmit.
    #[must_use]
    pub fn new(
        now: Instant,
        timeout: Duration,
        key: &OhttpKeyPair,
        descriptor: Option<&[u8]>,
    ) -> Self {
        let server = key
            .server_config()
            .ok()
            .and_then(|config| ohttp::Server::new(config).ok());
        let mut exchange = Self::start(ExitSide { server }, now, timeout);
        let public = key.public();
        exchange.transmits.push_back(Frame::to_target(
            MessageType::Register,
            public.hash(),
            [&public.encoded[..], descriptor.unwrap_or_default()].concat(),
        ));
        exchange
    }

    /// A frame from the relay.
    pub fn handle_frame(&mut self, _now: Instant, frame: Frame) {
        if !self.waiting {
            return;
        }
        let result = match frame.kind {
            MessageType::RegisterChallenge => {
                let opened = self
                    .side
                    .server
                    .as_ref()
                    .and_then(|s| s.decapsulate(&frame.payload).ok())
                    .map(|(plain, _)| plain)
                    .filter(|plain| {
                        plain.len() == CHALLENGE_PREFIX.len() + NONCE_LEN
                            && plain.starts_with(CHALLENGE_PREFIX)
                    });
                match opened {
                    Some(plain) => {
                        self.transmits
                            .push_back(Frame::new(MessageType::RegisterProof, plain));
                        return;
                    }
                    None => Err(RegistrationError::BadChallenge),
                }
            }
            MessageType::RegisterAck => Ok(()),
            MessageType::Error => Err(RegistrationError::Refused(
                Refusal::decode(&frame.payload).0,
            )),
            other => Err(RegistrationError::Unexpected(other)),
        };
        self.end(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    const T: Duration = Duration::from_secs(10);
    const NOW_UNIX: u64 = 1_800_000_000;

    fn key() -> OhttpKeyPair {
        OhttpKeyPair::generate().expect("key")
    }

    /// Passes frames between the two machines until neither has anything to send.
    fn run(exit: &mut ExitRegistration, relay: &mut RelayRegistration, now: Instant) {
        loop {
            let mut moved = false;
            while let Some(f) = exit.poll_transmit() {
                relay.handle_frame(now, f);
                moved = true;
            }
            while let Some(f) = relay.poll_transmit() {
                exit.handle_frame(now, f);
                moved = true;
            }
            if !moved {
                return;
            }
        }
    }

    #[test]
    fn an_exit_holding_its_key_registers() {
        let now = Instant::now();
        let k = key();
        let mut exit = ExitRegistration::new(now, T, &k, None);
        let mut relay = RelayRegistration::new(now, NOW_UNIX, T, [7; NONCE_LEN]);
        run(&mut exit, &mut relay, now);
        let got = relay.poll_outcome().expect("outcome").expect("proven");
        assert_eq!(
            (got.hash.as_str(), &got.key),
            (k.public().hash().as_str(), k.public())
        );
        assert_eq!(got.descriptor, None);
        assert_eq!(exit.poll_outcome(), None, "no ack yet");
        relay.accept();
        run(&mut exit, &mut relay, now);
        assert_eq!(exit.poll_outcome(), Some(Ok(())));
        assert_eq!(exit.poll_timeout(), None);
        assert_eq!(relay.poll_timeout(), None);
    }

    fn signed(id: &Identity, key: &OhttpKeyPair, from: u64, until: u64) -> Vec<u8> {
        ExitDescriptor {
            exit_id: id.public_key(),
            key_configs: vec![key.public().clone()],
            models: vec![],
            valid_from: from,
            valid_until: until,
            sequence: 1,
            admissions: vec![],
        }
        .sign(id)
        .expect("sign")
    }

    #[test]
    fn the_relay_keeps_a_valid_descriptor_and_refuses_a_bad_one() {
        let now = Instant::now();
        let id = Identity::generate().expect("id");
        let k = key();
        let good = signed(&id, &k, NOW_UNIX - 60, NOW_UNIX + 3600);
        let mut exit = ExitRegistration::new(now, T, &k, Some(&good));
        let mut relay = RelayRegistration::new(now, NOW_UNIX, T, [5; NONCE_LEN]);
        run(&mut exit, &mut relay, now);
        let got = relay.poll_outcome().expect("outcome").expect("proven");
        assert_eq!(got.descriptor.as_deref(), Some(&good[..]));

        let expired = signed(&id, &k, NOW_UNIX - 7200, NOW_UNIX - 3600);
        let other_key = signed(&id, &key(), NOW_UNIX - 60, NOW_UNIX + 3600);
        let mut tampered = good.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        for bad in [expired, other_key, tampered, vec![1, 2, 3]] {
            let mut exit = ExitRegistration::new(now, T, &k, Some(&bad));
            let mut relay = RelayRegistration::new(now, NOW_UNIX, T, [5; NONCE_LEN]);
            run(&mut exit, &mut relay, now);
            assert_eq!(
                relay.poll_outcome(),
                Some(Err(RegistrationError::Refused(Refusal::BadDescriptor)))
            );
        }
    }

    #[test]
    fn a_relay_requiring_admission_refuses_exits_without_it() {
        use crate::certificate::{AdmissionCertificate, Role};
        let now = Instant::now();
        let authority = Identity::generate().expect("authority");
        let id = Identity::generate().expect("id");
        let k = key();
        let cert = AdmissionCertificate {
            subject: id.public_key(),
            role: Role::Exit,
            not_after: NOW_UNIX + 3600,
            authority: authority.public_key(),
        }
        .sign(&authority)
        .expect("cert");
        let mut admitted = ExitDescriptor::verify(&signed(&id, &k, NOW_UNIX - 60, NOW_UNIX + 60))
            .expect("descriptor");
        admitted.admissions = vec![cert];
        let with_cert = admitted.sign(&id).expect("sign");
        let without = signed(&id, &k, NOW_UNIX - 60, NOW_UNIX + 60);
        for (descriptor, ok) in [
            (Some(&with_cert[..]), true),
            (Some(&without[..]), false),
            (None, false),
        ] {
            let mut exit = ExitRegistration::new(now, T, &k, descriptor);
            let mut relay = RelayRegistration::new(now, NOW_UNIX, T, [5; NONCE_LEN])
                .requiring_admission(vec![authority.public_key()]);
            run(&mut exit, &mut relay, now);
            let outcome = relay.poll_outcome().expect("outcome");
            if ok {
                assert!(outcome.is_ok(), "{outcome:?}");
            } else {
                assert_eq!(
                    outcome,
                    Err(RegistrationError::Refused(Refusal::NotAdmitted))
                );
            }
        }
    }

    #[test]
    fn a_full_relay_refuses_after_the_proof() {
        let now = Instant::now();
        let mut exit = ExitRegistration::new(now, T, &key(), None);
        let mut relay = RelayRegistration::new(now, NOW_UNIX, T, [1; NONCE_LEN]);
        run(&mut exit, &mut relay, now);
        assert!(matches!(relay.poll_outcome(), Some(Ok(_))));
        relay.refuse(Refusal::RelayFull);
        run(&mut exit, &mut relay, now);
        assert_eq!(
            exit.poll_outcome(),
            Some(Err(RegistrationError::Refused(Refusal::RelayFull)))
        );
    }

    #[test]
    fn a_key_that_is_not_held_cannot_be_registered() {
        // The attacker copies an honest exit's Register frame but holds another key.
        let now = Instant::now();
        let honest = key();
        let mut relay = RelayRegistration::new(now, NOW_UNIX, T, [3; NONCE_LEN]);
        relay.handle_frame(
            now,
            Frame::to_target(
                MessageType::Register,
                honest.public().hash(),
                honest.public().encoded.clone(),
            ),
        );
        let challenge = relay.poll_transmit().expect("challenge");
        assert_eq!(challenge.kind, MessageType::RegisterChallenge);
        let mut attacker = ExitRegistration::new(now, T, &key(), None);
        let _ = attacker.poll_transmit();
        attacker.handle_frame(now, challenge);
        assert_eq!(
            attacker.poll_outcome(),
            Some(Err(RegistrationError::BadChallenge))
        );
        // Guessing the proof fails too.
        relay.handle_frame(now, Frame::new(MessageType::RegisterProof, vec![0; 32]));
        assert_eq!(
            relay.poll_outcome(),
            Some(Err(RegistrationError::Refused(Refusal::BadProof)))
        );
        let refusal = relay.poll_transmit().expect("refusal frame");
        assert_eq!(Refusal::decode(&refusal.payload).0, Refusal::BadProof);
    }

    #[test]
    fn a_captured_client_request_passed_off_as_a_challenge_opens_nothing() {
        let now = Instant::now();
        let k = key();
        let request = crate::http_message::InnerRequest {
            method: "POST".into(),
            path_and_query: "/v1/chat/completions".into(),
            headers: vec![],
            body: b"the user's secret prompt".to_vec(),
        };
        let (captured, _) = crate::envelope::seal_single(k.public(), &request).expect("seal");
        let mut exit = ExitRegistration::new(now, T, &k, None);
        let _register = exit.poll_transmit();
        exit.handle_frame(now, Frame::new(MessageType::RegisterChallenge, captured));
        assert_eq!(
            exit.poll_transmit(),
            None,
            "the exit must send no plaintext back"
        );
        assert_eq!(
            exit.poll_outcome(),
            Some(Err(RegistrationError::BadChallenge))
        );
    }

    #[test]
    fn malformed_registers_are_refused_with_their_code() {
        let now = Instant::now();
        let k = key();
        let good = k.public().encoded.clone();
        let cases = [
            (
                Frame::new(MessageType::Heartbeat, vec![]),
                Refusal::ExpectedRegister,
            ),
            (
                Frame::new(MessageType::Register, good.clone()),
                Refusal::MissingKeyHash,
            ),
            (
                Frame::to_target(MessageType::Register, k.public().hash(), vec![1, 2]),
                Refusal::InvalidKeyConfig,
            ),
            (
                Frame::to_target(MessageType::Register, "00".repeat(16), good),
                Refusal::KeyHashMismatch,
            ),
        ];
        for (frame, want) in cases {
            let mut relay = RelayRegistration::new(now, NOW_UNIX, T, [0; NONCE_LEN]);
            relay.handle_frame(now, frame);
            assert_eq!(
                relay.poll_outcome(),
                Some(Err(RegistrationError::Refused(want)))
            );
            let sent = relay.poll_transmit().expect("refusal");
            assert_eq!(Refusal::decode(&sent.payload).0, want);
            assert_eq!(relay.poll_transmit(), None);
        }
    }

    #[test]
    fn silence_ends_both_sides_at_their_deadline() {
        let now = Instant::now();
        let mut relay = RelayRegistration::new(now, NOW_UNIX, T, [0; NONCE_LEN]);
        let mut exit = ExitRegistration::new(now, T, &key(), None);
        assert_eq!(relay.poll_timeout(), Some(now + T));
        relay.handle_timeout(now + T - Duration::from_millis(1));
        exit.handle_timeout(now + T - Duration::from_millis(1));
        assert_eq!((relay.poll_outcome(), exit.poll_outcome()), (None, None));
        relay.handle_timeout(now + T);
        exit.handle_timeout(now + T);
        assert_eq!(relay.poll_outcome(), Some(Err(RegistrationError::TimedOut)));
        assert_eq!(exit.poll_outcome(), Some(Err(RegistrationError::TimedOut)));
    }

    #[test]
    fn an_exit_reports_refusals_and_strange_frames() {
        let now = Instant::now();
        let mut exit = ExitRegistration::new(now, T, &key(), None);
        exit.handle_frame(now, Frame::refusal(Refusal::RelayFull));
        assert_eq!(
            exit.poll_outcome(),
            Some(Err(RegistrationError::Refused(Refusal::RelayFull)))
        );
        let mut exit = ExitRegistration::new(now, T, &key(), None);
        exit.handle_frame(now, Frame::new(MessageType::StreamChunk, vec![]));
        assert_eq!(
            exit.poll_outcome(),
            Some(Err(RegistrationError::Unexpected(MessageType::StreamChunk)))
        );
    }
}
