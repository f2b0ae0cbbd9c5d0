//! Decode errors. Each maps to the NOTIFICATION code and subcode RFC 4271 section 6
//! (and RFC 5492, 6608, 7606, 7313) prescribes.

use super::message::NotificationMsg;

/// A message that cannot be accepted: the session sends the NOTIFICATION this converts to
/// and closes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("connection not synchronized (bad marker)")]
    ConnectionNotSynchronized,
}

impl From<&DecodeError> for NotificationMsg {
    fn from(error: &DecodeError) -> Self {
        match error {
            DecodeError::ConnectionNotSynchronized => NotificationMsg {
                code: super::iana::error_code::MESSAGE_HEADER,
                subcode: super::iana::header_subcode::CONNECTION_NOT_SYNCHRONIZED,
                data: Vec::new(),
            },
        }
    }
}
