//! Replay protection at the exit: every sealed request carries the time it was sealed, and an
//! exit refuses one outside its window or one it has already seen.
//!
//! The client adds [`DATE_HEADER`] (Unix seconds) to the inner request before sealing it, so
//! only the exit can read it and nobody on the way can change it. The exit takes the header off
//! (the backend never sees it) and asks its [`ReplayGuard`], which remembers the encapsulated
//! key of every request inside the window: a relay that sends a sealed request again, now or
//! later, is refused before the backend runs it twice.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use crate::http_message::InnerRequest;

/// The inner header carrying the time the client sealed the request, in Unix seconds.
pub const DATE_HEADER: &str = "tokengo-date";
/// How far a request's date may be from the exit's clock, either way.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(5 * 60);
/// Bound: requests remembered at once. At 16 bytes of key each this is about 24 MiB at most;
/// it holds ten minutes of 870 requests a second (more, as most are dated close to now). When
/// it is full of live entries, new requests are refused rather than let through unchecked.
pub const MAX_SEEN: usize = 1 << 19;
/// Bytes of the OHTTP request header before the encapsulated key: key id, KEM, KDF, AEAD.
const ENC_OFFSET: usize = 1 + 2 + 2 + 2;
/// Bytes of the encapsulated key remembered (of 32, uniformly random for honest clients).
pub const REQUEST_ID_LEN: usize = 16;

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The request carries no readable date.
    #[error("request has no date")]
    MissingDate,
    /// The date is outside the window.
    #[error("request dated {skew_secs} s from the exit's clock")]
    OutsideWindow {
        /// How far off, in seconds.
        skew_secs: u64,
    },
    /// The same sealed request was seen before.
    #[error("request replayed")]
    Replayed,
    /// The guard is full of requests still inside the window.
    #[error("too many requests to remember")]
    Full,
    /// The sealed request is too short to carry an encapsulated key.
    #[error("sealed request too short")]
    Malformed,
}

/// Adds the date header (replacing any the app set) before a request is sealed.
pub fn stamp(request: &mut InnerRequest, now_unix: u64) {
    request
        .headers
        .retain(|(name, _)| !name.eq_ignore_ascii_case(DATE_HEADER));
    request
        .headers
        .push((DATE_HEADER.to_string(), now_unix.to_string().into_bytes()));
}

/// Removes every date header from an opened request; returns the date when there was exactly
/// one and it is a plain decimal number.
pub fn take_date(request: &mut InnerRequest) -> Option<u64> {
    let mut dates = Vec::new();
    request.headers.retain(|(name, value)| {
        let is_date = name.eq_ignore_ascii_case(DATE_HEADER);
        if is_date {
            dates.push(value.clone());
        }
        !is_date
    });
    match dates.as_slice() {
        [one] if !one.is_empty() && one.len() <= 20 && one.iter().all(u8::is_ascii_digit) => {
            std::str::from_utf8(one).ok()?.parse().ok()
        }
        _ => None,
    }
}

/// What names a sealed request: the start of its encapsulated key.
pub fn request_id(sealed: &[u8]) -> Option<[u8; REQUEST_ID_LEN]> {
    sealed
        .get(ENC_OFFSET..ENC_OFFSET + REQUEST_ID_LEN)?
        .try_into()
        .ok()
}

/// The requests an exit has seen inside its window.
#[derive(Debug)]
pub struct ReplayGuard {
    window_secs: u64,
    max: usize,
    seen: HashSet<[u8; REQUEST_ID_LEN]>,
    /// (when the entry may go, id), in arrival order.
    expiries: VecDeque<(u64, [u8; REQUEST_ID_LEN])>,
}

impl ReplayGuard {
    /// A guard accepting dates within `window` of the exit's clock, remembering at most `max`.
    #[must_use]
    pub fn new(window: Duration, max: usize) -> Self {
        Self {
            window_secs: window.as_secs(),
            max,
            seen: HashSet::new(),
            expiries: VecDeque::new(),
        }
    }

    /// Checks a request sealed as `sealed`, dated `date` (from [`take_date`]), at `now_unix`;
    /// remembers it when it passes.
    pub fn check(
        &mut self,
        now_unix: u64,
        date: Option<u64>,
        sealed: &[u8],
    ) -> Result<(), ReplayError> {
        let id = request_id(sealed).ok_or(ReplayError::Malformed)?;
        let date = date.ok_or(ReplayError::MissingDate)?;
        let skew_secs = now_unix.abs_diff(date);
        if skew_secs > self.window_secs {
            return Err(ReplayError::OutsideWindow { skew_secs });
        }
        self.forget_expired(now_unix);
        if self.seen.contains(&id) {
            return Err(ReplayError::Replayed);
        }
        if self.seen.len() >= self.max {
            return Err(ReplayError::Full);
        }
        // Past `date + window` the date alone refuses it, so it need not be remembered longer.
        self.seen.insert(id);
        self.expiries
            .push_back((date.saturating_add(self.window_secs), id));
        Ok(())
    }

    fn forget_expired(&mut self, now_unix: u64) {
        while let Some(&(expiry, id)) = self.expiries.front() {
            if expiry >= now_unix {
                break;
            }
            self.expiries.pop_front();
            self.seen.remove(&id);
        }
    }

    /// How many requests are remembered now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether none is.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(n: u8) -> Vec<u8> {
        let mut s = vec![0u8; ENC_OFFSET];
        s.extend([n; 32]);
        s.extend([9; 40]);
        s
    }

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn a_request_passes_once_and_its_replay_is_refused() {
        let mut g = ReplayGuard::new(DEFAULT_WINDOW, 16);
        assert_eq!(g.check(NOW, Some(NOW), &sealed(1)), Ok(()));
        assert_eq!(
            g.check(NOW + 1, Some(NOW), &sealed(1)),
            Err(ReplayError::Replayed)
        );
        assert_eq!(g.check(NOW + 1, Some(NOW), &sealed(2)), Ok(()));
        // Much later the date alone refuses it.
        assert_eq!(
            g.check(NOW + 3600, Some(NOW), &sealed(1)),
            Err(ReplayError::OutsideWindow { skew_secs: 3600 })
        );
    }

    #[test]
    fn dates_outside_the_window_and_missing_dates_are_refused() {
        let mut g = ReplayGuard::new(DEFAULT_WINDOW, 16);
        assert_eq!(
            g.check(NOW, Some(NOW - 600), &sealed(1)),
            Err(ReplayError::OutsideWindow { skew_secs: 600 })
        );
        assert_eq!(
            g.check(NOW, Some(NOW + 301), &sealed(1)),
            Err(ReplayError::OutsideWindow { skew_secs: 301 })
        );
        assert_eq!(g.check(NOW, Some(NOW + 300), &sealed(1)), Ok(()));
        assert_eq!(
            g.check(NOW, None, &sealed(2)),
            Err(ReplayError::MissingDate)
        );
        assert_eq!(
            g.check(NOW, Some(NOW), &[0; 10]),
            Err(ReplayError::Malformed)
        );
    }

    #[test]
    fn the_guard_stays_bounded_and_forgets_what_the_window_refuses_anyway() {
        let mut g = ReplayGuard::new(Duration::from_secs(10), 4);
        for n in 0..4 {
            assert_eq!(g.check(NOW, Some(NOW), &sealed(n)), Ok(()));
        }
        assert_eq!(g.check(NOW, Some(NOW), &sealed(9)), Err(ReplayError::Full));
        assert_eq!(g.len(), 4);
        // Eleven seconds on, the old entries may go: their dates are out of the window now.
        assert_eq!(g.check(NOW + 11, Some(NOW + 11), &sealed(9)), Ok(()));
        assert_eq!(g.len(), 1);
        assert_eq!(
            g.check(NOW + 11, Some(NOW), &sealed(0)),
            Err(ReplayError::OutsideWindow { skew_secs: 11 })
        );
    }

    #[test]
    fn the_date_header_is_set_once_and_taken_off() {
        let mut req = InnerRequest {
            method: "POST".into(),
            path_and_query: "/".into(),
            headers: vec![("Tokengo-Date".into(), b"1".to_vec())],
            body: vec![],
        };
        stamp(&mut req, NOW);
        assert_eq!(take_date(&mut req), Some(NOW));
        assert!(req.headers.is_empty());
        req.headers.push((DATE_HEADER.into(), b"1".to_vec()));
        req.headers.push((DATE_HEADER.into(), b"2".to_vec()));
        assert_eq!(take_date(&mut req), None, "two dates");
        req.headers.push((DATE_HEADER.into(), b"+5".to_vec()));
        assert_eq!(take_date(&mut req), None);
        assert!(req.headers.is_empty());
    }
}
