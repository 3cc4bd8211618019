//! Padding of everything sealed, so that a relay sees sizes from a small set instead of each
//! request's, response's and streamed piece's own length.
//!
//! Lengths are rounded up with Padmé (Nikitin et al., "Reducing Metadata Leakage from Encrypted
//! Files and Communication with PURBs", PETS 2019): a length `L` keeps only its top
//! `⌊log2 ⌊log2 L⌋⌋ + 1` bits, so at most `O(log log L)` bits of it leak and the overhead stays
//! under 12 %, with nothing below a floor. Known-length Binary HTTP messages are padded with
//! zero bytes after the message (RFC 9292 §3.8); streamed response pieces are [`record`]s.
//!
//! ```
//! use tokengo_gateway_proto::padding::padded_len;
//!
//! assert_eq!(padded_len(10, 512), 512);
//! assert_eq!(padded_len(1000, 512), 1024);
//! assert_eq!(padded_len(9000, 512), 9216);
//! ```

/// The floor for requests and single responses: smaller ones all look alike.
pub const MIN_MESSAGE: usize = 1024;
/// The floor for a streamed response piece: a token's event and a sentence's look alike.
pub const MIN_RECORD: usize = 512;
/// Bytes before each streamed record's data: its data length and its padding length (u32 BE).
pub const RECORD_HEADER: usize = 8;

/// `len` rounded up by Padmé, at least `floor`.
#[must_use]
pub fn padded_len(len: usize, floor: usize) -> usize {
    if len <= floor {
        return floor;
    }
    let e = usize::BITS - 1 - len.leading_zeros(); // ⌊log2 len⌋, at least 1 here
    let s = usize::BITS - (e as usize).leading_zeros(); // ⌊log2 e⌋ + 1
    let low = e.saturating_sub(s); // bits cleared at the bottom
    let mask = (1usize << low) - 1;
    len.checked_add(mask).map_or(usize::MAX, |l| l & !mask)
}

/// Appends zero bytes to a known-length Binary HTTP message, up to [`padded_len`] with the
/// [`MIN_MESSAGE`] floor, but never past `max`.
pub fn pad_message(message: &mut Vec<u8>, max: usize) {
    let target = padded_len(message.len(), MIN_MESSAGE).min(max.max(message.len()));
    message.resize(target, 0);
}

/// Whether `rest`, what follows a known-length message, is only padding.
#[must_use]
pub fn is_padding(rest: &[u8]) -> bool {
    rest.iter().all(|b| *b == 0)
}

/// One streamed piece as sealed: `data length ‖ padding length ‖ data ‖ zeros`, its whole
/// length [`padded_len`] with the [`MIN_RECORD`] floor.
#[must_use]
pub fn record(data: &[u8]) -> Vec<u8> {
    let whole = padded_len(RECORD_HEADER + data.len(), MIN_RECORD);
    let pad = whole - RECORD_HEADER - data.len();
    let (Ok(data_len), Ok(pad_len)) = (u32::try_from(data.len()), u32::try_from(pad)) else {
        // Pieces are at most a frame (16 MiB); a larger one goes unpadded in several records.
        let mut out = Vec::with_capacity(data.len() + RECORD_HEADER * 2);
        for piece in data.chunks(u32::MAX as usize / 2) {
            out.extend(record(piece));
        }
        return out;
    };
    let mut out = Vec::with_capacity(whole);
    out.extend_from_slice(&data_len.to_be_bytes());
    out.extend_from_slice(&pad_len.to_be_bytes());
    out.extend_from_slice(data);
    out.resize(whole, 0);
    out
}

/// A record's header: its data length and its padding length.
#[must_use]
pub fn record_header(bytes: [u8; RECORD_HEADER]) -> (usize, usize) {
    let [a, b, c, d, e, f, g, h] = bytes;
    (
        u32::from_be_bytes([a, b, c, d]) as usize,
        u32::from_be_bytes([e, f, g, h]) as usize,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padme_rounds_up_within_twelve_percent_and_keeps_few_distinct_sizes() {
        let mut sizes = std::collections::BTreeSet::new();
        for len in 1..=1 << 20 {
            let p = padded_len(len, 512);
            assert!(p >= len);
            if len > 512 {
                assert!(p - len <= len / 8, "{len} -> {p}");
            }
            sizes.insert(p);
        }
        // A million lengths fall into a few hundred sizes.
        assert!(sizes.len() < 400, "{}", sizes.len());
        assert_eq!(padded_len(usize::MAX, 512), usize::MAX);
    }

    #[test]
    fn a_record_carries_its_data_and_padding_lengths() {
        for n in [0, 1, 100, 504, 505, 5000, 70_000] {
            let data = vec![7u8; n];
            let r = record(&data);
            assert_eq!(r.len(), padded_len(RECORD_HEADER + n, MIN_RECORD));
            let (len, pad) = record_header(r[..RECORD_HEADER].try_into().expect("8"));
            assert_eq!(len, n);
            assert_eq!(RECORD_HEADER + len + pad, r.len());
            assert_eq!(&r[RECORD_HEADER..RECORD_HEADER + n], &data[..]);
            assert!(is_padding(&r[RECORD_HEADER + n..]));
        }
    }

    #[test]
    fn a_message_is_padded_but_never_past_the_limit() {
        let mut m = vec![1u8; 3000];
        pad_message(&mut m, usize::MAX);
        assert_eq!(m.len(), padded_len(3000, MIN_MESSAGE));
        let mut m = vec![1u8; 3000];
        pad_message(&mut m, 3050);
        assert_eq!(m.len(), 3050);
        let mut m = vec![1u8; 3000];
        pad_message(&mut m, 10);
        assert_eq!(m.len(), 3000);
    }
}
