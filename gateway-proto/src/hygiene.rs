//! What the local proxy lets through: which of the app's headers leave the machine, and which
//! callers may use the proxy at all.
//!
//! An exit reads every header it is sent. The app's own credentials (`Authorization`,
//! `x-api-key`), its cookies and its fingerprints (`User-Agent`, the SDKs' `X-Stainless-*`,
//! forwarding headers) are nobody else's business: they are stripped before sealing unless the
//! user asks to keep one. And since any web page can make the browser send requests to
//! `127.0.0.1`, the proxy answers only requests whose `Host` names the machine itself (a
//! DNS-rebinding page sends its own name) and, from browsers, whose `Origin` is local too.

use std::net::{IpAddr, SocketAddr};

/// Headers stripped by default (lowercase names).
pub const STRIPPED: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "cookie",
    "user-agent",
    "forwarded",
    "x-real-ip",
];
/// Header name prefixes stripped by default (lowercase).
pub const STRIPPED_PREFIXES: &[&str] = &["x-stainless-", "x-forwarded-"];
/// The credential headers `forward_credentials` keeps.
pub const CREDENTIALS: &[&str] = &["authorization", "x-api-key"];

/// Which of the app's headers are sealed into the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderPolicy {
    /// Header names kept although stripped by default (any case).
    pub forward: Vec<String>,
    /// Keep `Authorization` and `x-api-key` (bring-your-own-key setups).
    pub forward_credentials: bool,
}

impl HeaderPolicy {
    /// Whether the header `name` is sealed into the request.
    #[must_use]
    pub fn keeps(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        let stripped = STRIPPED.contains(&name.as_str())
            || STRIPPED_PREFIXES.iter().any(|p| name.starts_with(p));
        !stripped
            || self.forward.iter().any(|f| f.eq_ignore_ascii_case(&name))
            || (self.forward_credentials && CREDENTIALS.contains(&name.as_str()))
    }

    /// Removes the headers this policy does not keep; returns how many went.
    pub fn strip(&self, headers: &mut Vec<(String, Vec<u8>)>) -> usize {
        let before = headers.len();
        headers.retain(|(name, _)| self.keeps(name));
        before - headers.len()
    }
}

/// Why the proxy refuses a caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Forbidden {
    /// The Host header names another machine (a DNS-rebinding page, or a misdirected request).
    #[error("host {0:?} is not this machine")]
    Host(String),
    /// A browser request from a page that is not local and not allowed.
    #[error("origin {0:?} is not allowed")]
    Origin(String),
}

/// Who may use the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerPolicy {
    /// The address the proxy listens on: its own IP is an acceptable Host too.
    pub listen: SocketAddr,
    /// Origins allowed besides local ones (`--allow-origin`), as browsers send them
    /// (`scheme://host[:port]`), compared without case.
    pub allowed_origins: Vec<String>,
}

impl CallerPolicy {
    /// Whether a request with these `Host` and `Origin` header values may be served.
    pub fn check(&self, host: Option<&str>, origin: Option<&str>) -> Result<(), Forbidden> {
        if let Some(host) = host
            && !self.is_local_host(host)
        {
            return Err(Forbidden::Host(host.to_owned()));
        }
        if let Some(origin) = origin {
            let allowed = self
                .allowed_origins
                .iter()
                .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin));
            let local = origin_host(origin).is_some_and(|h| self.is_local_host(h));
            if !(allowed || local) {
                return Err(Forbidden::Origin(origin.to_owned()));
            }
        }
        Ok(())
    }

    /// `localhost`, a loopback address, or the listen address's IP; any port.
    fn is_local_host(&self, host: &str) -> bool {
        let name = strip_port(host);
        if name.eq_ignore_ascii_case("localhost")
            || name.to_ascii_lowercase().ends_with(".localhost")
        {
            return true;
        }
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || (ip == self.listen.ip() && !ip.is_unspecified()))
    }
}

/// The host part of `scheme://host[:port][/...]`.
fn origin_host(origin: &str) -> Option<&str> {
    let (scheme, rest) = origin.split_once("://")?;
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
        return None;
    }
    Some(rest.split('/').next().unwrap_or(rest))
}

/// `host[:port]` or `[v6][:port]` without the port.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(names: &[&str]) -> Vec<(String, Vec<u8>)> {
        names
            .iter()
            .map(|n| ((*n).to_owned(), b"v".to_vec()))
            .collect()
    }

    fn names(h: &[(String, Vec<u8>)]) -> Vec<&str> {
        h.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn credentials_cookies_and_fingerprints_are_stripped_by_default() {
        let mut h = headers(&[
            "Authorization",
            "x-api-key",
            "Cookie",
            "User-Agent",
            "X-Stainless-Lang",
            "x-stainless-os",
            "Forwarded",
            "X-Forwarded-For",
            "content-type",
            "anthropic-version",
            "accept",
        ]);
        assert_eq!(HeaderPolicy::default().strip(&mut h), 8);
        assert_eq!(names(&h), ["content-type", "anthropic-version", "accept"]);
    }

    #[test]
    fn the_user_can_keep_a_header_or_the_credentials() {
        let keep_ua = HeaderPolicy {
            forward: vec!["user-agent".into()],
            ..HeaderPolicy::default()
        };
        let mut h = headers(&["User-Agent", "Authorization"]);
        keep_ua.strip(&mut h);
        assert_eq!(names(&h), ["User-Agent"]);
        let byok = HeaderPolicy {
            forward_credentials: true,
            ..HeaderPolicy::default()
        };
        let mut h = headers(&["Authorization", "X-API-Key", "Cookie"]);
        byok.strip(&mut h);
        assert_eq!(names(&h), ["Authorization", "X-API-Key"]);
    }

    fn policy() -> CallerPolicy {
        CallerPolicy {
            listen: "127.0.0.1:8080".parse().expect("addr"),
            allowed_origins: vec!["https://app.example".into()],
        }
    }

    #[test]
    fn only_this_machine_may_be_named_as_host() {
        let p = policy();
        for ok in [
            "localhost",
            "localhost:8080",
            "LOCALHOST:1",
            "api.localhost:8080",
            "127.0.0.1:8080",
            "127.1.2.3",
            "[::1]:8080",
            "[::1]",
        ] {
            assert_eq!(p.check(Some(ok), None), Ok(()), "{ok}");
        }
        assert_eq!(p.check(None, None), Ok(()));
        for bad in [
            "evil.example",
            "evil.example:8080",
            "127.0.0.1.evil.example",
            "localhost.evil.example",
            "10.0.0.5:8080",
            "[2001:db8::1]:8080",
            "",
        ] {
            assert_eq!(
                p.check(Some(bad), None),
                Err(Forbidden::Host(bad.into())),
                "{bad}"
            );
        }
        let lan = CallerPolicy {
            listen: "192.168.1.10:8080".parse().expect("addr"),
            allowed_origins: vec![],
        };
        assert_eq!(lan.check(Some("192.168.1.10:8080"), None), Ok(()));
        let any = CallerPolicy {
            listen: "0.0.0.0:8080".parse().expect("addr"),
            allowed_origins: vec![],
        };
        assert!(any.check(Some("0.0.0.0:8080"), None).is_err());
    }

    #[test]
    fn browser_pages_must_be_local_or_allowed() {
        let p = policy();
        for ok in [
            "http://localhost:3000",
            "http://127.0.0.1:8080",
            "http://[::1]:5173",
            "https://app.example",
            "HTTPS://APP.EXAMPLE",
        ] {
            assert_eq!(p.check(Some("localhost:8080"), Some(ok)), Ok(()), "{ok}");
        }
        for bad in [
            "https://evil.example",
            "null",
            "file://",
            "http://localhost.evil.example",
            "https://app.example.evil",
        ] {
            assert_eq!(
                p.check(Some("localhost:8080"), Some(bad)),
                Err(Forbidden::Origin(bad.into())),
                "{bad}"
            );
        }
    }
}
