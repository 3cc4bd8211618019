//! The two things both adapters ask of the operating system: the node's UDP socket, bound
//! with buffers large enough that a burst of datagrams waits for the node instead of being
//! dropped by the kernel, and a secret seed for the node.

use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;
use tokengo_core::Config;

/// Receive and send buffer size asked of the kernel, about 4,000 full-size datagrams; Linux
/// grants at most `net.core.rmem_max` / `wmem_max` (doubled), and a smaller buffer still works.
pub const SOCKET_BUFFER: usize = 4 << 20;

/// Binds a non-blocking UDP socket to `listen` with [`SOCKET_BUFFER`]-sized buffers. An IPv6
/// socket is IPv6 only, so that an IPv4 socket can share its port (BEP 32 dual stack) and no
/// IPv4 datagram arrives mapped on it.
pub fn bind_udp(listen: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(
        Domain::for_address(listen),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    if let Err(error) = socket.set_recv_buffer_size(SOCKET_BUFFER) {
        tracing::debug!(%error, "cannot enlarge the DHT socket's receive buffer");
    }
    if let Err(error) = socket.set_send_buffer_size(SOCKET_BUFFER) {
        tracing::debug!(%error, "cannot enlarge the DHT socket's send buffer");
    }
    if listen.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&listen.into())?;
    Ok(socket.into())
}

/// Seeds the node from the OS unless the caller chose its secret seed: the core draws no
/// randomness itself, and a seed nobody else knows keeps its tokens and transaction ids
/// unguessable.
pub fn with_os_seed(mut config: Config) -> Config {
    use ring::rand::SecureRandom;
    if config.secret_seed.is_none() {
        let mut seed = [0u8; 32];
        match ring::rand::SystemRandom::new().fill(&mut seed) {
            Ok(()) => config.secret_seed = Some(seed),
            Err(_) => tracing::warn!("no OS randomness: the node runs on its configured seed"),
        }
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::SockRef;

    #[test]
    fn bound_sockets_get_larger_buffers_than_the_default() {
        let listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let plain = std::net::UdpSocket::bind(listen).expect("bind");
        let ours = bind_udp(listen).expect("bind");
        let (plain, ours) = (SockRef::from(&plain), SockRef::from(&ours));
        for (what, default, got) in [
            ("receive", plain.recv_buffer_size(), ours.recv_buffer_size()),
            ("send", plain.send_buffer_size(), ours.send_buffer_size()),
        ] {
            let (default, got) = (default.expect("size"), got.expect("size"));
            assert!(
                got > default || default >= SOCKET_BUFFER,
                "{what} buffer {got} bytes, the default is {default}"
            );
        }
        assert!(
            ours.nonblocking().expect("flag"),
            "the runtimes need it non-blocking"
        );
    }

    #[test]
    fn an_ipv4_and_an_ipv6_socket_share_one_port() {
        let v4 = bind_udp(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
        let port = v4.local_addr().expect("addr").port();
        let v6 = bind_udp(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port))).expect("bind");
        assert!(SockRef::from(&v6).only_v6().expect("flag"));
        assert_eq!(v6.local_addr().expect("addr").port(), port);
    }
}
