//! Why a relay or an exit refused a stream: a typed code on every Error frame.
//!
//! An Error frame's payload is `code (u16 BE) ‖ UTF-8 text`. Decisions (may this request be
//! sent again?) are made on the code alone; the text is for people and logs, so rewording it
//! changes nothing. A code this build does not know is kept as [`Refusal::Unknown`] and is never
//! retried.

/// The reason carried by an Error frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The relay has no exit registered under the request's target (nothing was forwarded).
    ExitNotFound,
    /// The relay knows the exit but could not open a stream to it (nothing was forwarded).
    ExitUnreachable,
    /// A request without a target address.
    MissingTarget,
    /// A frame of a type the receiver does not accept there.
    InvalidMessageType,
    /// The relay could not write the request to the exit.
    ExitWriteFailed,
    /// The exit answered with a frame it may not send.
    InvalidExitReply,
    /// Reading the exit's answer failed.
    ExitReadFailed,
    /// The exit did not answer in time.
    ExitTimedOut,
    /// The relay could not list its exits.
    ExitKeysUnavailable,
    /// The registration did not start with a Register frame.
    ExpectedRegister,
    /// The Register frame names no exit id.
    MissingExitId,
    /// The exit id the Register frame names is not the one its descriptor is signed by, or an
    /// update comes from another exit than the connection registered.
    ExitIdMismatch,
    /// The exit did not prove that it holds its identity key.
    BadProof,
    /// The relay holds as many exits as it may.
    RelayFull,
    /// The exit's signed descriptor is malformed, badly signed, or not valid now.
    BadDescriptor,
    /// The relay admits only exits an authority it trusts admitted, and this one is not.
    NotAdmitted,
    /// A heartbeat from a connection that is not (or no longer) registered.
    NotRegistered,
    /// The exit could not open the sealed request.
    Undecryptable,
    /// The exit could not seal its answer.
    SealFailed,
    /// The exit's backend body failed or went silent mid-stream.
    StreamAborted,
    /// The exit holds as many request bytes as it may and none came free in time; the request
    /// was not opened.
    ExitBusy,
    /// A code this build does not know.
    Unknown(u16),
}

impl Refusal {
    /// Every code this build knows, for tests and documentation.
    pub const KNOWN: [Refusal; 21] = [
        Refusal::ExitNotFound,
        Refusal::ExitUnreachable,
        Refusal::MissingTarget,
        Refusal::InvalidMessageType,
        Refusal::ExitWriteFailed,
        Refusal::InvalidExitReply,
        Refusal::ExitReadFailed,
        Refusal::ExitTimedOut,
        Refusal::ExitKeysUnavailable,
        Refusal::ExpectedRegister,
        Refusal::MissingExitId,
        Refusal::ExitIdMismatch,
        Refusal::BadProof,
        Refusal::RelayFull,
        Refusal::NotRegistered,
        Refusal::BadDescriptor,
        Refusal::NotAdmitted,
        Refusal::Undecryptable,
        Refusal::SealFailed,
        Refusal::StreamAborted,
        Refusal::ExitBusy,
    ];

    /// The code on the wire.
    #[must_use]
    pub fn code(self) -> u16 {
        match self {
            Refusal::ExitNotFound => 1,
            Refusal::ExitUnreachable => 2,
            Refusal::MissingTarget => 3,
            Refusal::InvalidMessageType => 4,
            Refusal::ExitWriteFailed => 5,
            Refusal::InvalidExitReply => 6,
            Refusal::ExitReadFailed => 7,
            Refusal::ExitTimedOut => 8,
            Refusal::ExitKeysUnavailable => 9,
            Refusal::ExpectedRegister => 20,
            Refusal::MissingExitId => 21,
            Refusal::ExitIdMismatch => 23,
            Refusal::BadProof => 24,
            Refusal::RelayFull => 25,
            Refusal::NotRegistered => 26,
            Refusal::BadDescriptor => 27,
            Refusal::NotAdmitted => 28,
            Refusal::Undecryptable => 40,
            Refusal::SealFailed => 41,
            Refusal::StreamAborted => 42,
            Refusal::ExitBusy => 43,
            Refusal::Unknown(code) => code,
        }
    }

    /// The refusal for a code on the wire.
    #[must_use]
    pub fn from_code(code: u16) -> Refusal {
        Refusal::KNOWN
            .into_iter()
            .find(|r| r.code() == code)
            .unwrap_or(Refusal::Unknown(code))
    }

    /// The readable text sent beside the code.
    #[must_use]
    pub fn text(self) -> &'static str {
        match self {
            Refusal::ExitNotFound => "exit not found",
            Refusal::ExitUnreachable => "exit connection failed",
            Refusal::MissingTarget => "missing target address",
            Refusal::InvalidMessageType => "invalid message type",
            Refusal::ExitWriteFailed => "write to exit failed",
            Refusal::InvalidExitReply => "invalid reply from exit",
            Refusal::ExitReadFailed => "read exit response failed",
            Refusal::ExitTimedOut => "exit timed out",
            Refusal::ExitKeysUnavailable => "failed to serialize exit keys",
            Refusal::ExpectedRegister => "expected register message",
            Refusal::MissingExitId => "missing exit id",
            Refusal::ExitIdMismatch => "exit id does not match the descriptor",
            Refusal::BadProof => "proof of identity failed",
            Refusal::RelayFull => "relay is full",
            Refusal::NotRegistered => "exit not registered",
            Refusal::BadDescriptor => "invalid exit descriptor",
            Refusal::NotAdmitted => "exit not admitted by an authority this relay trusts",
            Refusal::Undecryptable => "cannot decapsulate request",
            Refusal::SealFailed => "cannot seal response",
            Refusal::StreamAborted => "stream aborted",
            Refusal::ExitBusy => "exit busy",
            Refusal::Unknown(_) => "unknown refusal",
        }
    }

    /// Whether the request it answers never reached an exit, so sending it again (to another
    /// exit or on a fresh session) cannot run it twice.
    #[must_use]
    pub fn request_not_forwarded(self) -> bool {
        matches!(self, Refusal::ExitNotFound | Refusal::ExitUnreachable)
    }

    /// The Error frame payload: code, then text.
    #[must_use]
    pub fn encode(self) -> Vec<u8> {
        let text = self.text().as_bytes();
        let mut out = Vec::with_capacity(2 + text.len());
        out.extend_from_slice(&self.code().to_be_bytes());
        out.extend_from_slice(text);
        out
    }

    /// Reads an Error frame payload. A payload too short for a code is [`Refusal::Unknown`]
    /// with code 0; the text is returned as sent (lossily decoded), for display only.
    #[must_use]
    pub fn decode(payload: &[u8]) -> (Refusal, String) {
        match payload {
            [hi, lo, text @ ..] => (
                Refusal::from_code(u16::from_be_bytes([*hi, *lo])),
                String::from_utf8_lossy(text).into_owned(),
            ),
            _ => (
                Refusal::Unknown(0),
                String::from_utf8_lossy(payload).into_owned(),
            ),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Unknown(code) => write!(f, "unknown refusal (code {code})"),
            known => f.write_str(known.text()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_code_is_distinct_and_round_trips() {
        let mut codes: Vec<u16> = Refusal::KNOWN.iter().map(|r| r.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Refusal::KNOWN.len());
        for r in Refusal::KNOWN {
            assert_eq!(Refusal::from_code(r.code()), r);
            assert_eq!(Refusal::decode(&r.encode()), (r, r.text().to_string()));
        }
    }

    #[test]
    fn unknown_and_short_payloads_are_kept_and_never_retried() {
        let (r, text) = Refusal::decode(&[0x7f, 0x00, b'h', b'i']);
        assert_eq!((r, text.as_str()), (Refusal::Unknown(0x7f00), "hi"));
        assert!(!r.request_not_forwarded());
        assert_eq!(Refusal::decode(b"x"), (Refusal::Unknown(0), "x".into()));
        assert_eq!(Refusal::decode(b""), (Refusal::Unknown(0), String::new()));
    }

    #[test]
    fn only_refusals_before_forwarding_allow_a_resend() {
        let resend: Vec<Refusal> = Refusal::KNOWN
            .into_iter()
            .filter(|r| r.request_not_forwarded())
            .collect();
        assert_eq!(resend, [Refusal::ExitNotFound, Refusal::ExitUnreachable]);
    }

    #[test]
    fn the_decision_follows_the_code_not_the_text() {
        let mut payload = Refusal::ExitNotFound.code().to_be_bytes().to_vec();
        payload.extend_from_slice(b"reworded: no such exit here");
        assert!(Refusal::decode(&payload).0.request_not_forwarded());
        let mut payload = Refusal::ExitTimedOut.code().to_be_bytes().to_vec();
        payload.extend_from_slice(Refusal::ExitNotFound.text().as_bytes());
        assert!(!Refusal::decode(&payload).0.request_not_forwarded());
    }
}
