//! The exit registration exchange, as a state machine for each side.
//!
//! ```text
//! exit                                   relay
//!  | Register(target = exit id,           |   checks the descriptor: signature, validity,
//!  |          signed descriptor)          |   admission when the relay requires one
//!  |------------------------------------->|
//!  |  RegisterChallenge(nonce)            |   32 fresh random bytes
//!  |<-------------------------------------|
//!  | RegisterProof(signature)             |   Ed25519 by the exit id over the context, the
//!  |------------------------------------->|   relay's id, the nonce and the descriptor's hash
//!  |  RegisterAck, or Error(Refusal)      |   the relay's table may still be full
//!  |<-------------------------------------|
//! ```
//!
//! The exit proves that it holds its identity key by signing; it never decrypts bytes the relay
//! chose, so registration is no decryption oracle. The signed message names the relay's id
//! (which the exit read from the relay's TLS key), so a relay cannot pass another relay's
//! challenge on and register the exit there as itself. A registered exit sends a new Register
//! on a fresh stream of the same connection to publish a new descriptor (after a key rotation);
//! the relay runs the same exchange and keeps the connection.
//!
//! Both machines follow the same contract: feed received frames to `handle_frame`, call
//! `handle_timeout` once `poll_timeout` has passed, and after every call send what
//! `poll_transmit` yields and check `poll_outcome`. Time is passed in; nothing here reads a
//! clock, touches a socket or draws randomness (the relay's nonce is an argument).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ring::signature::{ED25519, UnparsedPublicKey};
use sha2::{Digest as _, Sha256};

use crate::certificate::admitting_authorities;
use crate::descriptor::{ExitDescriptor, MAX_DESCRIPTOR_LEN};
use crate::frame::{Frame, MessageType};
use crate::identity::{Identity, PUBLIC_KEY_LEN};
use crate::refusal::Refusal;

/// Largest payload of a registration or heartbeat frame (a descriptor is at most
/// [`MAX_DESCRIPTOR_LEN`]).
pub const MAX_CONTROL_PAYLOAD: usize = MAX_DESCRIPTOR_LEN + 4 * 1024;
/// Length of the relay's challenge nonce.
pub const NONCE_LEN: usize = 32;
/// Length of the exit's proof: an Ed25519 signature.
pub const PROOF_LEN: usize = 64;
/// What every proof's signed message starts with. No descriptor or certificate starts so, so a
/// proof can never be replayed as either (nor either as a proof).
pub const PROOF_CONTEXT: &[u8] = b"tokengo register proof v2\0";

/// The message an exit signs to register `descriptor` with the relay `relay_id`, answering
/// `nonce`.
#[must_use]
pub fn proof_message(
    relay_id: &[u8; PUBLIC_KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    descriptor: &[u8],
) -> Vec<u8> {
    let digest = Sha256::digest(descriptor);
    [PROOF_CONTEXT, relay_id, nonce, &digest[..]].concat()
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
    /// The relay's challenge is not a nonce of [`NONCE_LEN`] bytes.
    #[error("the relay's challenge is malformed")]
    BadChallenge,
    /// The exit's identity key could not sign.
    #[error("cannot sign the proof")]
    SignFailed,
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

    /// The result, once. On the relay: the exit's checked descriptor once it proved its
    /// identity (then call [`RelayRegistration::accept`] or [`RelayRegistration::refuse`]).
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
    relay_id: [u8; PUBLIC_KEY_LEN],
    nonce: [u8; NONCE_LEN],
    now_unix: u64,
    required_authorities: Vec<[u8; PUBLIC_KEY_LEN]>,
}

impl Side for RelaySide {
    type Outcome = Registered;
}

/// An exit that proved it holds its identity key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// Its checked descriptor: the signature verifies, it is valid now, and it carries the
    /// admissions the relay requires.
    pub descriptor: ExitDescriptor,
    /// The descriptor's bytes, as the exit signed them (what clients are handed).
    pub bytes: Vec<u8>,
}

impl Registered {
    /// The exit id (hex of its identity key), as clients address the exit.
    #[must_use]
    pub fn exit_id(&self) -> String {
        self.descriptor.exit_id_hex()
    }
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
    /// Starts waiting for an exit's Register frame until `now + timeout`. `relay_id` is this
    /// relay's public key (the one its TLS certificate carries), `nonce` fresh random bytes, and
    /// `now_unix` (Unix seconds) when the descriptor must be valid.
    #[must_use]
    pub fn new(
        now: Instant,
        now_unix: u64,
        timeout: Duration,
        relay_id: [u8; PUBLIC_KEY_LEN],
        nonce: [u8; NONCE_LEN],
    ) -> Self {
        let side = RelaySide {
            state: RelayState::AwaitRegister,
            relay_id,
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
                let message =
                    proof_message(&self.side.relay_id, &self.side.nonce, &registered.bytes);
                let proven = frame.kind == MessageType::RegisterProof
                    && frame.payload.len() == PROOF_LEN
                    && UnparsedPublicKey::new(&ED25519, registered.descriptor.exit_id)
                        .verify(&message, &frame.payload)
                        .is_ok();
                if proven {
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
            return self.fail(Refusal::MissingExitId);
        }
        let checked = ExitDescriptor::verify(&frame.payload).and_then(|d| {
            d.check_time(self.side.now_unix)?;
            Ok(d)
        });
        let Ok(descriptor) = checked else {
            return self.fail(Refusal::BadDescriptor);
        };
        if descriptor.exit_id_hex() != frame.target {
            return self.fail(Refusal::ExitIdMismatch);
        }
        let required = &self.side.required_authorities;
        if !required.is_empty()
            && admitting_authorities(
                &descriptor.admissions,
                &descriptor.exit_id,
                required,
                self.side.now_unix,
            ) == 0
        {
            return self.fail(Refusal::NotAdmitted);
        }
        self.transmits.push_back(Frame::new(
            MessageType::RegisterChallenge,
            self.side.nonce.to_vec(),
        ));
        self.side.state = RelayState::AwaitProof(Registered {
            descriptor,
            bytes: frame.payload,
        });
    }

    /// The exit proved its identity and the relay's table took it: sends the acknowledgement.
    pub fn accept(&mut self) {
        if matches!(self.side.state, RelayState::Proven) {
            self.side.state = RelayState::Done;
            self.transmits
                .push_back(Frame::new(MessageType::RegisterAck, Vec::new()));
        }
    }

    /// Refuses the exit (also after a proof, when the relay's table is full or the update
    /// names another exit): sends the refusal and ends the exchange.
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

/// The exit's state in the exchange: the identity that signs, and what it signs about.
#[derive(Debug)]
pub struct ExitSide {
    identity: Identity,
    relay_id: [u8; PUBLIC_KEY_LEN],
    descriptor: Vec<u8>,
    proved: bool,
}

impl Side for ExitSide {
    type Outcome = ();
}

impl Registration<ExitSide> {
    /// Starts registering the exit's signed `descriptor` with the relay whose id (its TLS
    /// public key) is `relay_id`: the Register frame is the first transmit.
    #[must_use]
    pub fn new(
        now: Instant,
        timeout: Duration,
        identity: &Identity,
        relay_id: [u8; PUBLIC_KEY_LEN],
        descriptor: &[u8],
    ) -> Self {
        let side = ExitSide {
            identity: identity.clone(),
            relay_id,
            descriptor: descriptor.to_vec(),
            proved: false,
        };
        let mut exchange = Self::start(side, now, timeout);
        exchange.transmits.push_back(Frame::to_target(
            MessageType::Register,
            identity.id(),
            descriptor.to_vec(),
        ));
        exchange
    }

    /// A frame from the relay.
    pub fn handle_frame(&mut self, _now: Instant, frame: Frame) {
        if !self.waiting {
            return;
        }
        let result = match frame.kind {
            MessageType::RegisterChallenge if !self.side.proved => {
                let Ok(nonce) = <[u8; NONCE_LEN]>::try_from(&frame.payload[..]) else {
                    return self.end(Err(RegistrationError::BadChallenge));
                };
                let message = proof_message(&self.side.relay_id, &nonce, &self.side.descriptor);
                match self.side.identity.sign(&message) {
                    Some(signature) => {
                        self.side.proved = true;
                        self.transmits
                            .push_back(Frame::new(MessageType::RegisterProof, signature.to_vec()));
                        return;
                    }
                    None => Err(RegistrationError::SignFailed),
                }
            }
            MessageType::RegisterAck if self.side.proved => Ok(()),
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
    use crate::keys::OhttpKeyPair;

    const T: Duration = Duration::from_secs(10);
    const NOW_UNIX: u64 = 1_800_000_000;
    const RELAY: [u8; PUBLIC_KEY_LEN] = [9; PUBLIC_KEY_LEN];

    fn identity() -> Identity {
        Identity::generate().expect("identity")
    }

    fn signed(id: &Identity, from: u64, until: u64) -> Vec<u8> {
        ExitDescriptor {
            exit_id: id.public_key(),
            key_configs: vec![OhttpKeyPair::generate().expect("key").public().clone()],
            models: vec![],
            valid_from: from,
            valid_until: until,
            sequence: 1,
            admissions: vec![],
        }
        .sign(id)
        .expect("sign")
    }

    fn valid(id: &Identity) -> Vec<u8> {
        signed(id, NOW_UNIX - 60, NOW_UNIX + 3600)
    }

    fn relay(nonce: u8) -> RelayRegistration {
        RelayRegistration::new(Instant::now(), NOW_UNIX, T, RELAY, [nonce; NONCE_LEN])
    }

    fn exit(id: &Identity, descriptor: &[u8]) -> ExitRegistration {
        ExitRegistration::new(Instant::now(), T, id, RELAY, descriptor)
    }

    /// Passes frames between the two machines until neither has anything to send.
    fn run(exit: &mut ExitRegistration, relay: &mut RelayRegistration) {
        let now = Instant::now();
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
    fn an_exit_holding_its_identity_registers_its_descriptor() {
        let id = identity();
        let descriptor = valid(&id);
        let (mut exit, mut relay) = (exit(&id, &descriptor), relay(7));
        run(&mut exit, &mut relay);
        let got = relay.poll_outcome().expect("outcome").expect("proven");
        assert_eq!(got.exit_id(), id.id());
        assert_eq!(got.bytes, descriptor);
        assert_eq!(exit.poll_outcome(), None, "no ack yet");
        relay.accept();
        run(&mut exit, &mut relay);
        assert_eq!(exit.poll_outcome(), Some(Ok(())));
        assert_eq!(exit.poll_timeout(), None);
        assert_eq!(relay.poll_timeout(), None);
    }

    #[test]
    fn the_relay_refuses_a_descriptor_that_is_expired_tampered_or_garbage() {
        let id = identity();
        let expired = signed(&id, NOW_UNIX - 7200, NOW_UNIX - 3600);
        let mut tampered = valid(&id);
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        for bad in [expired, tampered, vec![1, 2, 3], Vec::new()] {
            let (mut exit, mut relay) = (exit(&id, &bad), relay(5));
            run(&mut exit, &mut relay);
            assert_eq!(
                relay.poll_outcome(),
                Some(Err(RegistrationError::Refused(Refusal::BadDescriptor)))
            );
            assert_eq!(
                exit.poll_outcome(),
                Some(Err(RegistrationError::Refused(Refusal::BadDescriptor)))
            );
        }
    }

    #[test]
    fn a_relay_requiring_admission_refuses_exits_without_it() {
        use crate::certificate::{AdmissionCertificate, Role};
        let authority = identity();
        let id = identity();
        let cert = AdmissionCertificate {
            subject: id.public_key(),
            role: Role::Exit,
            not_after: NOW_UNIX + 3600,
            authority: authority.public_key(),
        }
        .sign(&authority)
        .expect("cert");
        let mut admitted = ExitDescriptor::verify(&valid(&id)).expect("descriptor");
        admitted.admissions = vec![cert];
        let with_cert = admitted.sign(&id).expect("sign");
        for (descriptor, ok) in [(with_cert, true), (valid(&id), false)] {
            let mut exit = exit(&id, &descriptor);
            let mut relay = relay(5).requiring_admission(vec![authority.public_key()]);
            run(&mut exit, &mut relay);
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
        let id = identity();
        let (mut exit, mut relay) = (exit(&id, &valid(&id)), relay(1));
        run(&mut exit, &mut relay);
        assert!(matches!(relay.poll_outcome(), Some(Ok(_))));
        relay.refuse(Refusal::RelayFull);
        run(&mut exit, &mut relay);
        assert_eq!(
            exit.poll_outcome(),
            Some(Err(RegistrationError::Refused(Refusal::RelayFull)))
        );
    }

    #[test]
    fn an_exit_id_that_is_not_held_cannot_be_registered() {
        // The attacker replays an honest exit's Register frame (its descriptor) but holds
        // another identity key.
        let honest = identity();
        let descriptor = valid(&honest);
        let mut relay = relay(3);
        relay.handle_frame(
            Instant::now(),
            Frame::to_target(MessageType::Register, honest.id(), descriptor.clone()),
        );
        let challenge = relay.poll_transmit().expect("challenge");
        assert_eq!(challenge.kind, MessageType::RegisterChallenge);
        let mut attacker = exit(&identity(), &descriptor);
        let _ = attacker.poll_transmit();
        attacker.handle_frame(Instant::now(), challenge);
        let forged = attacker.poll_transmit().expect("a proof, by the wrong key");
        relay.handle_frame(Instant::now(), forged);
        assert_eq!(
            relay.poll_outcome(),
            Some(Err(RegistrationError::Refused(Refusal::BadProof)))
        );
        let refusal = relay.poll_transmit().expect("refusal frame");
        assert_eq!(Refusal::decode(&refusal.payload).0, Refusal::BadProof);
    }

    #[test]
    fn a_proof_made_for_another_relay_is_refused() {
        // A relay that passes another relay's challenge on to the exit gets a proof bound to
        // its own id, which the other relay does not accept.
        let id = identity();
        let descriptor = valid(&id);
        let mut honest_relay = relay(4);
        let mut via_other =
            ExitRegistration::new(Instant::now(), T, &id, [1; PUBLIC_KEY_LEN], &descriptor);
        run(&mut via_other, &mut honest_relay);
        assert_eq!(
            honest_relay.poll_outcome(),
            Some(Err(RegistrationError::Refused(Refusal::BadProof)))
        );
    }

    #[test]
    fn a_captured_client_request_passed_off_as_a_challenge_opens_nothing() {
        let id = identity();
        let key = OhttpKeyPair::generate().expect("key");
        let request = crate::http_message::InnerRequest {
            method: "POST".into(),
            path_and_query: "/v1/chat/completions".into(),
            headers: vec![],
            body: b"the user's secret prompt".to_vec(),
        };
        let (captured, _) = crate::envelope::seal_single(key.public(), &request).expect("seal");
        let mut exit = exit(&id, &valid(&id));
        let _register = exit.poll_transmit();
        exit.handle_frame(
            Instant::now(),
            Frame::new(MessageType::RegisterChallenge, captured),
        );
        assert_eq!(
            exit.poll_transmit(),
            None,
            "the exit must send nothing back"
        );
        assert_eq!(
            exit.poll_outcome(),
            Some(Err(RegistrationError::BadChallenge))
        );
    }

    #[test]
    fn a_proof_signs_only_the_proof_context_never_the_challenge_alone() {
        // Whatever 32 bytes a relay sends, what the exit signs starts with the proof context,
        // so a relay cannot obtain the exit's signature over a message of its choice.
        let id = identity();
        let descriptor = valid(&id);
        let mut exit = exit(&id, &descriptor);
        let _register = exit.poll_transmit();
        let chosen = [0xAB; NONCE_LEN];
        exit.handle_frame(
            Instant::now(),
            Frame::new(MessageType::RegisterChallenge, chosen.to_vec()),
        );
        let proof = exit.poll_transmit().expect("proof");
        let key = UnparsedPublicKey::new(&ED25519, id.public_key());
        assert!(key.verify(&chosen, &proof.payload).is_err());
        assert!(
            key.verify(&proof_message(&RELAY, &chosen, &descriptor), &proof.payload)
                .is_ok()
        );
    }

    #[test]
    fn malformed_registers_are_refused_with_their_code() {
        let id = identity();
        let good = valid(&id);
        let cases = [
            (
                Frame::new(MessageType::Heartbeat, vec![]),
                Refusal::ExpectedRegister,
            ),
            (
                Frame::new(MessageType::Register, good.clone()),
                Refusal::MissingExitId,
            ),
            (
                Frame::to_target(MessageType::Register, id.id(), vec![1, 2]),
                Refusal::BadDescriptor,
            ),
            (
                Frame::to_target(MessageType::Register, identity().id(), good.clone()),
                Refusal::ExitIdMismatch,
            ),
            (
                Frame::to_target(MessageType::Register, id.id().to_uppercase(), good),
                Refusal::ExitIdMismatch,
            ),
        ];
        for (frame, want) in cases {
            let mut relay = relay(0);
            relay.handle_frame(Instant::now(), frame);
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
        let id = identity();
        let mut relay = RelayRegistration::new(now, NOW_UNIX, T, RELAY, [0; NONCE_LEN]);
        let mut exit = ExitRegistration::new(now, T, &id, RELAY, &valid(&id));
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
        let id = identity();
        let descriptor = valid(&id);
        let mut e = exit(&id, &descriptor);
        e.handle_frame(Instant::now(), Frame::refusal(Refusal::RelayFull));
        assert_eq!(
            e.poll_outcome(),
            Some(Err(RegistrationError::Refused(Refusal::RelayFull)))
        );
        for kind in [MessageType::StreamChunk, MessageType::RegisterAck] {
            let mut e = exit(&id, &descriptor);
            e.handle_frame(Instant::now(), Frame::new(kind, vec![]));
            assert_eq!(
                e.poll_outcome(),
                Some(Err(RegistrationError::Unexpected(kind))),
                "an ack before any proof is no registration"
            );
        }
    }
}
