//! Registering an exit by hand, as tests and benches that play an exit do: the Register frame,
//! then a proof for every challenge the relay sends. Stands alone (benches include this file).

use tokengo_gateway::frame_io::{read_frame, write_frame};
use tokengo_gateway_proto::frame::{Frame, MessageType};
use tokengo_gateway_proto::identity::Identity;
use tokengo_gateway_proto::registration::proof_message;

/// Sends `descriptor` under `target` on a new stream of `conn` and answers the relay's
/// challenge with a proof signed by `signer` (for the relay whose id is `relay_id`), or with
/// junk when there is no signer; returns the relay's last answer (an ack or a refusal).
pub async fn register_by_hand(
    conn: &quinn::Connection,
    relay_id: &[u8; 32],
    target: &str,
    descriptor: &[u8],
    signer: Option<&Identity>,
) -> Frame {
    let (mut send, mut recv) = conn.open_bi().await.expect("stream");
    let register = Frame::to_target(MessageType::Register, target, descriptor.to_vec());
    write_frame(&mut send, &register).await.expect("register");
    loop {
        let reply = read_frame(&mut recv, 4096).await.expect("reply");
        if reply.kind != MessageType::RegisterChallenge {
            return reply;
        }
        let nonce: [u8; 32] = reply.payload[..].try_into().expect("a 32-byte nonce");
        let answer = match signer {
            Some(id) => id
                .sign(&proof_message(relay_id, &nonce, descriptor))
                .expect("sign")
                .to_vec(),
            None => vec![0u8; 64],
        };
        write_frame(&mut send, &Frame::new(MessageType::RegisterProof, answer))
            .await
            .expect("proof");
    }
}
