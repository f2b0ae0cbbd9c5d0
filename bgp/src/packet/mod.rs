//! The BGP-4 wire format: messages, path attributes, capabilities, and the errors
//! that decoding them can raise, each mapped to the NOTIFICATION it calls for.
//!
//! Contract used by the FSM and the driver:
//! - [`frame_len`] finds message boundaries in a byte stream and checks the header;
//! - [`Message::decode`] decodes one whole message (header included);
//! - [`Message::encode`] appends one message to a buffer;
//! - `NotificationMsg::from(&DecodeError)` is the NOTIFICATION to send for a decode error;
//! - `attributes_len`, `v4_wire_len` and `v6_wire_len` are the wire sizes that packing
//!   many prefixes into UPDATEs ([`crate::rib`]) needs.
//!
//! UPDATE errors follow RFC 7606: attribute errors that call for "attribute discard" drop
//! the attribute, "treat-as-withdraw" turns every route of the UPDATE into a withdrawal,
//! and only the rest are a `DecodeError` (session reset).

mod as_path;
pub mod attribute;
mod attribute_decode;
mod attribute_encode;
mod capability;
mod codec;
pub mod error;
pub mod iana;
pub mod message;
mod notification;
mod open;
mod prefix;
mod reader;
mod update;

pub use attribute::*;
pub use attribute_decode::malformed_action;
pub(crate) use attribute_encode::attributes_len;
pub use codec::frame_len;
pub use error::{AttributeError, AttributeProblem, DecodeError, ErrorAction, NlriField};
pub use iana::{Afi, AfiSafi, Safi};
pub use message::*;
pub use notification::{MAX_SHUTDOWN_COMMUNICATION, code_name, subcode_name};
pub(crate) use prefix::{v4_wire_len, v6_wire_len};

/// What decoding and encoding depend on, as negotiated for a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodecContext {
    /// Both sides sent the 4-octet AS capability (RFC 6793): AS_PATH carries 4-octet ASNs.
    pub four_octet_as: bool,
    /// Both sides sent the Extended Message capability (RFC 8654): UPDATE, NOTIFICATION
    /// and ROUTE-REFRESH may be up to 65535 octets. OPEN stays within 4096 and
    /// KEEPALIVE is 19 octets either way.
    pub extended_message: bool,
}

impl CodecContext {
    /// The largest UPDATE, NOTIFICATION or ROUTE-REFRESH this session may carry.
    pub const fn max_message_len(&self) -> usize {
        if self.extended_message {
            MAX_EXTENDED_MESSAGE_LEN
        } else {
            MAX_MESSAGE_LEN
        }
    }
}

/// Before the OPEN exchange: 4-octet ASNs, messages of at most 4096 octets.
impl Default for CodecContext {
    fn default() -> Self {
        CodecContext {
            four_octet_as: true,
            extended_message: false,
        }
    }
}
