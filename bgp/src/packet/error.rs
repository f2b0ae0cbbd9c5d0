//! Decode errors. Each maps to the NOTIFICATION code, subcode and data that RFC 4271
//! section 6 (and RFC 5492, 7313, 7606) prescribes.
//!
//! Two kinds exist:
//! - [`DecodeError`]: the message cannot be accepted; the session sends
//!   `NotificationMsg::from(&error)` and closes (RFC 7606 "session reset");
//! - [`AttributeError`]: an UPDATE attribute problem that RFC 7606 lets the session
//!   survive ("attribute discard" or "treat-as-withdraw", see [`ErrorAction`]). The
//!   decoder applies the action itself and reports the error for logs and counters.

use super::capability::{Capability, put_capability};
use super::iana::{
    error_code, header_subcode, open_subcode, route_refresh_subcode, update_subcode,
};
use super::message::{BGP_VERSION, NotificationMsg};

/// A message that cannot be accepted: the session sends the NOTIFICATION this converts to
/// and closes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The marker is not all ones (RFC 4271 section 6.1).
    #[error("connection not synchronized (bad marker)")]
    ConnectionNotSynchronized,
    /// The length field is out of range for the message or its type, or disagrees with
    /// the bytes given (section 6.1). The NOTIFICATION carries `length`.
    #[error("bad message length {length}")]
    BadMessageLength { length: u16 },
    /// Unknown message type (section 6.1). The NOTIFICATION carries the type.
    #[error("bad message type {message_type}")]
    BadMessageType { message_type: u8 },
    /// OPEN with a version other than 4 (section 6.2). The NOTIFICATION carries the
    /// version we support.
    #[error("unsupported BGP version {version}")]
    UnsupportedVersion { version: u8 },
    /// The optional parameters of an OPEN do not add up to their length field.
    #[error("malformed OPEN optional parameters")]
    MalformedOptionalParameters,
    /// An optional parameter other than Capabilities (section 6.2, RFC 5492).
    #[error("unsupported optional parameter type {param_type}")]
    UnsupportedOptionalParameter { param_type: u8 },
    /// A capability we know whose value has the wrong size (section 6.2: a recognised
    /// but malformed optional parameter is "Unspecific").
    #[error("malformed capability {code} ({} value bytes)", value.len())]
    MalformedCapability { code: u8, value: Vec<u8> },
    /// A capability the local speaker requires and the peer did not offer (RFC 5492
    /// section 5). The codec never raises it; the FSM does, and the NOTIFICATION carries
    /// the capability.
    #[error("unsupported capability {capability:?}")]
    UnsupportedCapability { capability: Capability },
    /// Withdrawn Routes Length runs past the end of the UPDATE (RFC 7606 section 4).
    #[error("withdrawn routes length {length} overruns the UPDATE")]
    WithdrawnLengthOverrun { length: u16 },
    /// Total Path Attribute Length runs past the end of the UPDATE (RFC 7606 section 4).
    #[error("total path attribute length {length} overruns the UPDATE")]
    AttributeLengthOverrun { length: u16 },
    /// A prefix in the Withdrawn Routes or NLRI field is malformed (RFC 4271 section 6.3,
    /// RFC 7606 section 5.3).
    #[error("invalid prefix in the {field} field")]
    InvalidNetworkField { field: NlriField },
    /// A well-known attribute type we do not know (RFC 4271 section 6.3). The
    /// NOTIFICATION carries the attribute.
    #[error("unrecognized well-known attribute {type_code}")]
    UnrecognizedWellKnownAttribute { type_code: u8, attribute: Vec<u8> },
    /// An attribute error whose RFC 7606 action is "session reset".
    #[error(transparent)]
    Attribute(AttributeError),
    /// ROUTE-REFRESH whose length is not 23 (RFC 7313 section 5). The NOTIFICATION
    /// carries the whole message.
    #[error("ROUTE-REFRESH of {} bytes", message.len())]
    RouteRefreshLength { message: Vec<u8> },
}

/// Which prefix field of an UPDATE an error is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NlriField {
    Withdrawn,
    Nlri,
}

impl std::fmt::Display for NlriField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NlriField::Withdrawn => "withdrawn routes",
            NlriField::Nlri => "NLRI",
        })
    }
}

/// What RFC 7606 says to do about an attribute error, from mildest to harshest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorAction {
    /// Drop the attribute, keep the routes (RFC 7606 section 2, "attribute discard").
    Discard,
    /// Withdraw every route of the UPDATE (section 2, "treat-as-withdraw").
    TreatAsWithdraw,
    /// Send a NOTIFICATION and close (section 2, "session reset").
    SessionReset,
}

/// What is wrong with an attribute. Each maps to an UPDATE Message Error subcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttributeProblem {
    /// Optional/Transitive bits conflict with the type (subcode 4).
    Flags,
    /// Length wrong for the type (subcode 5).
    Length,
    /// ORIGIN value undefined (subcode 6).
    InvalidOrigin,
    /// NEXT_HOP not a usable host address (subcode 8).
    InvalidNextHop,
    /// AS_PATH segments malformed (subcode 11).
    MalformedAsPath,
    /// An optional attribute whose content is wrong (subcode 9), e.g. an MP_REACH_NLRI
    /// next hop of the wrong size, or AS4_PATH/AS4_AGGREGATOR between NEW speakers.
    Malformed,
    /// A prefix inside MP_REACH_NLRI / MP_UNREACH_NLRI is malformed (subcode 10).
    InvalidNetwork,
    /// The attribute appears more than once (subcode 1, RFC 7606 section 3 g).
    Duplicate,
    /// A well-known mandatory attribute is absent (subcode 3).
    Missing,
    /// The attribute header or length runs past the path attributes (subcode 1, RFC 7606
    /// section 4).
    Overrun,
}

impl AttributeProblem {
    pub fn subcode(self) -> u8 {
        match self {
            AttributeProblem::Flags => update_subcode::ATTRIBUTE_FLAGS_ERROR,
            AttributeProblem::Length => update_subcode::ATTRIBUTE_LENGTH_ERROR,
            AttributeProblem::InvalidOrigin => update_subcode::INVALID_ORIGIN_ATTRIBUTE,
            AttributeProblem::InvalidNextHop => update_subcode::INVALID_NEXT_HOP_ATTRIBUTE,
            AttributeProblem::MalformedAsPath => update_subcode::MALFORMED_AS_PATH,
            AttributeProblem::Malformed => update_subcode::OPTIONAL_ATTRIBUTE_ERROR,
            AttributeProblem::InvalidNetwork => update_subcode::INVALID_NETWORK_FIELD,
            AttributeProblem::Duplicate | AttributeProblem::Overrun => {
                update_subcode::MALFORMED_ATTRIBUTE_LIST
            }
            AttributeProblem::Missing => update_subcode::MISSING_WELL_KNOWN_ATTRIBUTE,
        }
    }
}

/// One attribute error found in an UPDATE, with the action taken.
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("path attribute {type_code}: {problem:?} ({action:?})")]
pub struct AttributeError {
    pub type_code: u8,
    pub problem: AttributeProblem,
    pub action: ErrorAction,
    /// The offending attribute as received (flags, type, length, value); empty when
    /// there is none (missing attribute) or it could not be delimited.
    pub attribute: Vec<u8>,
}

impl AttributeError {
    /// The NOTIFICATION RFC 4271 section 6.3 describes for this error: sent when the
    /// action is a session reset, otherwise useful for logs.
    pub fn notification(&self) -> NotificationMsg {
        let data = match self.problem {
            AttributeProblem::Missing => vec![self.type_code],
            AttributeProblem::MalformedAsPath
            | AttributeProblem::Duplicate
            | AttributeProblem::Overrun
            | AttributeProblem::InvalidNetwork => Vec::new(),
            _ => self.attribute.clone(),
        };
        NotificationMsg::new(error_code::UPDATE_MESSAGE, self.problem.subcode(), data)
    }
}

impl DecodeError {
    /// The NOTIFICATION to send for this error.
    pub fn notification(&self) -> NotificationMsg {
        NotificationMsg::from(self)
    }
}

impl From<&DecodeError> for NotificationMsg {
    fn from(error: &DecodeError) -> Self {
        use DecodeError as E;
        let (code, subcode, data) = match error {
            E::ConnectionNotSynchronized => (
                error_code::MESSAGE_HEADER,
                header_subcode::CONNECTION_NOT_SYNCHRONIZED,
                Vec::new(),
            ),
            E::BadMessageLength { length } => (
                error_code::MESSAGE_HEADER,
                header_subcode::BAD_MESSAGE_LENGTH,
                length.to_be_bytes().to_vec(),
            ),
            E::BadMessageType { message_type } => (
                error_code::MESSAGE_HEADER,
                header_subcode::BAD_MESSAGE_TYPE,
                vec![*message_type],
            ),
            E::UnsupportedVersion { .. } => (
                error_code::OPEN_MESSAGE,
                open_subcode::UNSUPPORTED_VERSION_NUMBER,
                u16::from(BGP_VERSION).to_be_bytes().to_vec(),
            ),
            E::MalformedOptionalParameters | E::MalformedCapability { .. } => (
                error_code::OPEN_MESSAGE,
                open_subcode::UNSPECIFIC,
                Vec::new(),
            ),
            E::UnsupportedOptionalParameter { .. } => (
                error_code::OPEN_MESSAGE,
                open_subcode::UNSUPPORTED_OPTIONAL_PARAMETER,
                Vec::new(),
            ),
            E::UnsupportedCapability { capability } => {
                let mut data = bytes::BytesMut::new();
                put_capability(&mut data, capability);
                (
                    error_code::OPEN_MESSAGE,
                    open_subcode::UNSUPPORTED_CAPABILITY,
                    data.to_vec(),
                )
            }
            E::WithdrawnLengthOverrun { .. } | E::AttributeLengthOverrun { .. } => (
                error_code::UPDATE_MESSAGE,
                update_subcode::MALFORMED_ATTRIBUTE_LIST,
                Vec::new(),
            ),
            E::InvalidNetworkField { .. } => (
                error_code::UPDATE_MESSAGE,
                update_subcode::INVALID_NETWORK_FIELD,
                Vec::new(),
            ),
            E::UnrecognizedWellKnownAttribute { attribute, .. } => (
                error_code::UPDATE_MESSAGE,
                update_subcode::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
                attribute.clone(),
            ),
            E::Attribute(error) => return error.notification(),
            E::RouteRefreshLength { message } => (
                error_code::ROUTE_REFRESH,
                route_refresh_subcode::INVALID_MESSAGE_LENGTH,
                message.clone(),
            ),
        };
        NotificationMsg::new(code, subcode, data)
    }
}
