//! The handover protocol's messages and their wire form. Pure: bytes in, messages out; the
//! listening sockets themselves travel beside the bytes as SCM_RIGHTS file descriptors
//! (see [`super`]), one per address of a [`Message::Listeners`], in order.
//!
//! Every message is a frame:
//!
//! ```text
//!  0        4        5        6                 8
//!  +--------+--------+--------+-----------------+----------------+
//!  | "HRLD" | version| kind   | body length (BE)| body ...       |
//!  +--------+--------+--------+-----------------+----------------+
//!  kind 1 Hello      body: pid u32, network namespace  successor -> predecessor
//!                          u64 (inode, 0 unknown), node
//!                          name length u8 + UTF-8
//!  kind 2 Listeners  body: count u16, per socket:      predecessor -> successor
//!                          family u8 (4|6), address (4|16 octets), port u16
//!                          + `count` descriptors attached (SCM_RIGHTS)
//!  kind 3 Done       body: total u32 (sockets sent)    predecessor -> successor
//!  kind 4 Ready      body: adopted u32 (sockets used)  successor -> predecessor
//!  kind 5 Refuse     body: reason u8 (1 another        predecessor -> successor
//!                          network namespace, 2 another node)
//! ```
//!
//! A speaker hands its sockets only to a successor of the same node in the same network
//! namespace ([`refusal`]): a listening socket of another namespace would accept that
//! namespace's connections, and a path shared by mistake (several speakers on one host,
//! as in a lab) must not move sockets between them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The frame's first four octets.
pub const MAGIC: [u8; 4] = *b"HRLD";
/// The protocol version this speaker speaks.
pub const VERSION: u8 = 1;
/// Octets before the body.
pub const HEADER_LEN: usize = 8;
/// At most this many sockets (and descriptors) per [`Message::Listeners`]: well below the
/// kernel's limit of descriptors per message (SCM_MAX_FD, 253).
pub const MAX_SOCKETS_PER_MESSAGE: usize = 64;

const HELLO: u8 = 1;
const LISTENERS: u8 = 2;
const DONE: u8 = 3;
const READY: u8 = 4;
const REFUSE: u8 = 5;

/// One message of the handover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// The successor asks for the listening sockets.
    Hello { pid: u32, identity: Identity },
    /// Some of the predecessor's listening sockets, their descriptors attached in order.
    Listeners { sockets: Vec<SocketAddr> },
    /// Every socket was sent.
    Done { total: u32 },
    /// The successor accepts on the sockets it uses: the predecessor stops accepting.
    Ready { adopted: u32 },
    /// The predecessor does not hand its sockets to this successor.
    Refuse { reason: RefuseReason },
}

/// Which speaker a process is: its node and its network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The inode of the network namespace (`/proc/self/ns/net`); 0 if unknown.
    pub netns: u64,
    /// The node name (at most 255 octets are sent).
    pub node: String,
}

/// Why a predecessor refuses a successor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RefuseReason {
    #[error("the speaker serving the handover socket runs in another network namespace")]
    OtherNetworkNamespace,
    #[error("the speaker serving the handover socket runs for another node")]
    OtherNode,
}

impl RefuseReason {
    fn code(self) -> u8 {
        match self {
            Self::OtherNetworkNamespace => 1,
            Self::OtherNode => 2,
        }
    }
}

/// Whether a predecessor (`ours`) refuses a successor (`theirs`): another network
/// namespace (when both are known) or another node.
pub fn refusal(ours: &Identity, theirs: &Identity) -> Option<RefuseReason> {
    if ours.netns != 0 && theirs.netns != 0 && ours.netns != theirs.netns {
        return Some(RefuseReason::OtherNetworkNamespace);
    }
    (ours.node != theirs.node).then_some(RefuseReason::OtherNode)
}

/// Why bytes are not a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not a handover message (bad magic)")]
    BadMagic,
    #[error("handover protocol version {0} is not supported (this speaker speaks {VERSION})")]
    UnsupportedVersion(u8),
    #[error("unknown handover message kind {0}")]
    UnknownKind(u8),
    #[error("handover message kind {kind} has a body of {length} octets, which it cannot have")]
    BadLength { kind: u8, length: usize },
    #[error("unknown address family {0} in a handover message")]
    BadFamily(u8),
    #[error("{0} sockets in one handover message (at most {MAX_SOCKETS_PER_MESSAGE})")]
    TooManySockets(usize),
    #[error("the node name in a handover message is not UTF-8")]
    NodeName,
    #[error("unknown refusal reason {0} in a handover message")]
    BadReason(u8),
}

impl Message {
    /// The frame of this message.
    ///
    /// # Panics
    /// A `Listeners` message with more than [`MAX_SOCKETS_PER_MESSAGE`] sockets (a bug
    /// of the sender: it splits them).
    pub fn encode(&self) -> Vec<u8> {
        let (kind, body) = match self {
            Self::Hello { pid, identity } => {
                let mut node = identity.node.as_bytes();
                while node.len() > 255 {
                    // Cut on a character boundary: the name stays UTF-8.
                    let mut end = 255;
                    while !identity.node.is_char_boundary(end) {
                        end -= 1;
                    }
                    node = &node[..end];
                }
                let mut body = Vec::with_capacity(13 + node.len());
                body.extend_from_slice(&pid.to_be_bytes());
                body.extend_from_slice(&identity.netns.to_be_bytes());
                body.push(node.len() as u8);
                body.extend_from_slice(node);
                (HELLO, body)
            }
            Self::Listeners { sockets } => {
                assert!(
                    sockets.len() <= MAX_SOCKETS_PER_MESSAGE,
                    "too many sockets in one message"
                );
                let mut body = Vec::with_capacity(2 + sockets.len() * 19);
                body.extend_from_slice(&(sockets.len() as u16).to_be_bytes());
                for socket in sockets {
                    match socket.ip() {
                        IpAddr::V4(v4) => {
                            body.push(4);
                            body.extend_from_slice(&v4.octets());
                        }
                        IpAddr::V6(v6) => {
                            body.push(6);
                            body.extend_from_slice(&v6.octets());
                        }
                    }
                    body.extend_from_slice(&socket.port().to_be_bytes());
                }
                (LISTENERS, body)
            }
            Self::Done { total } => (DONE, total.to_be_bytes().to_vec()),
            Self::Ready { adopted } => (READY, adopted.to_be_bytes().to_vec()),
            Self::Refuse { reason } => (REFUSE, vec![reason.code()]),
        };
        let mut frame = Vec::with_capacity(HEADER_LEN + body.len());
        frame.extend_from_slice(&MAGIC);
        frame.push(VERSION);
        frame.push(kind);
        frame.extend_from_slice(&(body.len() as u16).to_be_bytes());
        frame.extend_from_slice(&body);
        frame
    }

    /// The first message in `bytes` and the octets it took; `Ok(None)` while the frame is
    /// incomplete (read more). The header is checked as soon as it is there.
    pub fn decode(bytes: &[u8]) -> Result<Option<(Message, usize)>, DecodeError> {
        let magic = &bytes[..bytes.len().min(MAGIC.len())];
        if magic != &MAGIC[..magic.len()] {
            return Err(DecodeError::BadMagic);
        }
        if bytes.len() < HEADER_LEN {
            return Ok(None);
        }
        if bytes[4] != VERSION {
            return Err(DecodeError::UnsupportedVersion(bytes[4]));
        }
        let kind = bytes[5];
        let length = usize::from(u16::from_be_bytes([bytes[6], bytes[7]]));
        let fixed = |wanted: usize| {
            if length == wanted {
                Ok(())
            } else {
                Err(DecodeError::BadLength { kind, length })
            }
        };
        match kind {
            DONE | READY => fixed(4)?,
            REFUSE => fixed(1)?,
            HELLO if length < 13 => return Err(DecodeError::BadLength { kind, length }),
            HELLO => {}
            LISTENERS if length < 2 => return Err(DecodeError::BadLength { kind, length }),
            LISTENERS => {}
            other => return Err(DecodeError::UnknownKind(other)),
        }
        let Some(body) = bytes.get(HEADER_LEN..HEADER_LEN + length) else {
            return Ok(None);
        };
        let word = || u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        let message = match kind {
            HELLO => decode_hello(kind, body)?,
            REFUSE => Message::Refuse {
                reason: match body[0] {
                    1 => RefuseReason::OtherNetworkNamespace,
                    2 => RefuseReason::OtherNode,
                    other => return Err(DecodeError::BadReason(other)),
                },
            },
            DONE => Message::Done { total: word() },
            READY => Message::Ready { adopted: word() },
            _ => Message::Listeners {
                sockets: decode_sockets(kind, body)?,
            },
        };
        Ok(Some((message, HEADER_LEN + length)))
    }
}

fn decode_hello(kind: u8, body: &[u8]) -> Result<Message, DecodeError> {
    let pid = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
    let mut netns = [0u8; 8];
    netns.copy_from_slice(&body[4..12]);
    let name = &body[13..];
    if name.len() != usize::from(body[12]) {
        return Err(DecodeError::BadLength {
            kind,
            length: body.len(),
        });
    }
    let node = std::str::from_utf8(name)
        .map_err(|_| DecodeError::NodeName)?
        .to_owned();
    Ok(Message::Hello {
        pid,
        identity: Identity {
            netns: u64::from_be_bytes(netns),
            node,
        },
    })
}

fn decode_sockets(kind: u8, body: &[u8]) -> Result<Vec<SocketAddr>, DecodeError> {
    let bad_length = DecodeError::BadLength {
        kind,
        length: body.len(),
    };
    let count = usize::from(u16::from_be_bytes([body[0], body[1]]));
    if count > MAX_SOCKETS_PER_MESSAGE {
        return Err(DecodeError::TooManySockets(count));
    }
    let mut sockets = Vec::with_capacity(count);
    let mut rest = &body[2..];
    for _ in 0..count {
        let (&family, after) = rest.split_first().ok_or(bad_length)?;
        let (ip, after) = match family {
            4 => {
                let (octets, after) = after.split_first_chunk::<4>().ok_or(bad_length)?;
                (IpAddr::V4(Ipv4Addr::from(*octets)), after)
            }
            6 => {
                let (octets, after) = after.split_first_chunk::<16>().ok_or(bad_length)?;
                (IpAddr::V6(Ipv6Addr::from(*octets)), after)
            }
            other => return Err(DecodeError::BadFamily(other)),
        };
        let (port, after) = after.split_first_chunk::<2>().ok_or(bad_length)?;
        sockets.push(SocketAddr::new(ip, u16::from_be_bytes(*port)));
        rest = after;
    }
    if !rest.is_empty() {
        return Err(bad_length);
    }
    Ok(sockets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sock(text: &str) -> SocketAddr {
        text.parse().expect("socket address")
    }

    fn hello(node: &str) -> Message {
        Message::Hello {
            pid: 0x0102_0304,
            identity: Identity {
                netns: 0x1122_3344_5566_7788,
                node: node.to_owned(),
            },
        }
    }

    #[test]
    fn hello_is_encoded_as_its_frame() {
        let frame = hello("n1").encode();
        assert_eq!(
            frame,
            b"HRLD\x01\x01\x00\x0f\x01\x02\x03\x04\x11\x22\x33\x44\x55\x66\x77\x88\x02n1"
        );
        assert_eq!(Message::decode(&frame), Ok(Some((hello("n1"), 23))));
    }

    #[test]
    fn a_node_name_longer_than_255_octets_is_cut_on_a_character_boundary() {
        let long = "é".repeat(200);
        let Some((Message::Hello { identity, .. }, _)) =
            Message::decode(&hello(&long).encode()).expect("decodes")
        else {
            panic!("not a Hello");
        };
        assert_eq!(identity.node, "é".repeat(127));
    }

    #[test]
    fn a_hello_whose_name_length_disagrees_with_its_body_is_refused() {
        let mut frame = hello("n1").encode();
        frame[20] = 3;
        assert_eq!(
            Message::decode(&frame),
            Err(DecodeError::BadLength {
                kind: 1,
                length: 15
            })
        );
    }

    #[test]
    fn a_hello_with_a_node_name_that_is_not_utf8_is_refused() {
        let mut frame = hello("n1").encode();
        frame[21] = 0xff;
        assert_eq!(Message::decode(&frame), Err(DecodeError::NodeName));
    }

    #[test]
    fn refuse_round_trips_and_an_unknown_reason_is_refused() {
        for reason in [RefuseReason::OtherNetworkNamespace, RefuseReason::OtherNode] {
            let message = Message::Refuse { reason };
            let frame = message.encode();
            assert_eq!(frame.len(), 9);
            assert_eq!(Message::decode(&frame), Ok(Some((message, 9))));
        }
        assert_eq!(
            Message::decode(b"HRLD\x01\x05\x00\x01\x07"),
            Err(DecodeError::BadReason(7))
        );
    }

    fn identity(netns: u64, node: &str) -> Identity {
        Identity {
            netns,
            node: node.to_owned(),
        }
    }

    #[test]
    fn the_same_node_in_the_same_namespace_is_not_refused() {
        assert_eq!(refusal(&identity(7, "n1"), &identity(7, "n1")), None);
    }

    #[test]
    fn another_network_namespace_is_refused() {
        assert_eq!(
            refusal(&identity(7, "n1"), &identity(8, "n1")),
            Some(RefuseReason::OtherNetworkNamespace)
        );
    }

    #[test]
    fn another_node_is_refused_also_when_a_namespace_is_unknown() {
        assert_eq!(
            refusal(&identity(7, "n1"), &identity(7, "n2")),
            Some(RefuseReason::OtherNode)
        );
        assert_eq!(refusal(&identity(0, "n1"), &identity(8, "n1")), None);
        assert_eq!(
            refusal(&identity(0, "n1"), &identity(8, "n2")),
            Some(RefuseReason::OtherNode)
        );
    }

    #[test]
    fn listeners_of_both_families_are_encoded_as_their_frame() {
        let message = Message::Listeners {
            sockets: vec![sock("10.0.0.1:443"), sock("[fd00::1]:80")],
        };
        let frame = message.encode();
        let mut expected = b"HRLD\x01\x02\x00\x1c\x00\x02".to_vec();
        expected.extend_from_slice(&[4, 10, 0, 0, 1, 0x01, 0xbb]);
        expected.push(6);
        expected.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        expected.extend_from_slice(&[0, 80]);
        assert_eq!(frame, expected);
        assert_eq!(Message::decode(&frame), Ok(Some((message, expected.len()))));
    }

    #[test]
    fn done_and_ready_round_trip() {
        for message in [Message::Done { total: 3 }, Message::Ready { adopted: 2 }] {
            let frame = message.encode();
            assert_eq!(frame.len(), 12);
            assert_eq!(Message::decode(&frame), Ok(Some((message, 12))));
        }
    }

    #[test]
    fn an_empty_listener_list_round_trips() {
        let message = Message::Listeners { sockets: vec![] };
        let frame = message.encode();
        assert_eq!(Message::decode(&frame), Ok(Some((message, 10))));
    }

    #[test]
    fn an_incomplete_frame_asks_for_more_at_every_length() {
        let frame = Message::Listeners {
            sockets: vec![sock("10.0.0.1:443")],
        }
        .encode();
        for end in 0..frame.len() {
            assert_eq!(Message::decode(&frame[..end]), Ok(None), "{end} octets");
        }
    }

    #[test]
    fn two_frames_in_a_row_decode_one_at_a_time() {
        let mut bytes = Message::Done { total: 1 }.encode();
        bytes.extend(Message::Ready { adopted: 1 }.encode());
        let (first, used) = Message::decode(&bytes).expect("decodes").expect("complete");
        assert_eq!(first, Message::Done { total: 1 });
        let (second, _) = Message::decode(&bytes[used..])
            .expect("decodes")
            .expect("complete");
        assert_eq!(second, Message::Ready { adopted: 1 });
    }

    #[test]
    fn a_wrong_magic_is_refused_from_its_first_octet() {
        assert_eq!(Message::decode(b"G"), Err(DecodeError::BadMagic));
        assert_eq!(
            Message::decode(b"GET / HTTP/1.1\r\n"),
            Err(DecodeError::BadMagic)
        );
    }

    #[test]
    fn another_version_is_refused() {
        let mut frame = hello("n1").encode();
        frame[4] = 2;
        assert_eq!(
            Message::decode(&frame),
            Err(DecodeError::UnsupportedVersion(2))
        );
    }

    #[test]
    fn an_unknown_kind_is_refused() {
        let mut frame = hello("n1").encode();
        frame[5] = 9;
        assert_eq!(Message::decode(&frame), Err(DecodeError::UnknownKind(9)));
    }

    #[test]
    fn a_fixed_size_message_with_another_length_is_refused() {
        let frame = b"HRLD\x01\x04\x00\x05\x00\x00\x00\x01\x00";
        assert_eq!(
            Message::decode(frame),
            Err(DecodeError::BadLength { kind: 4, length: 5 })
        );
    }

    #[test]
    fn a_listener_list_shorter_than_its_count_is_refused() {
        // Count 2, one IPv4 socket.
        let frame = b"HRLD\x01\x02\x00\x09\x00\x02\x04\x0a\x00\x00\x01\x00\x50";
        assert_eq!(
            Message::decode(frame),
            Err(DecodeError::BadLength { kind: 2, length: 9 })
        );
    }

    #[test]
    fn a_listener_list_with_octets_after_its_count_is_refused() {
        let frame = b"HRLD\x01\x02\x00\x0a\x00\x01\x04\x0a\x00\x00\x01\x00\x50\xff";
        assert_eq!(
            Message::decode(frame),
            Err(DecodeError::BadLength {
                kind: 2,
                length: 10
            })
        );
    }

    #[test]
    fn an_unknown_family_is_refused() {
        let frame = b"HRLD\x01\x02\x00\x09\x00\x01\x05\x0a\x00\x00\x01\x00\x50";
        assert_eq!(Message::decode(frame), Err(DecodeError::BadFamily(5)));
    }

    #[test]
    fn more_sockets_than_one_message_may_carry_are_refused() {
        let frame = b"HRLD\x01\x02\x00\x02\x00\x41";
        assert_eq!(Message::decode(frame), Err(DecodeError::TooManySockets(65)));
    }

    #[test]
    fn a_listener_list_without_its_count_is_refused() {
        assert_eq!(
            Message::decode(b"HRLD\x01\x02\x00\x01\x00"),
            Err(DecodeError::BadLength { kind: 2, length: 1 })
        );
    }
}
