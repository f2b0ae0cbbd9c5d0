//! NOTIFICATION constructors and readable names for codes and subcodes (RFC 4271
//! section 4.5, RFC 4486 and 9003 for Cease, RFC 6608 for FSM errors, RFC 7313).

use std::fmt;

use super::iana::{cease_subcode, error_code};
use super::message::NotificationMsg;

/// The longest Shutdown Communication (RFC 9003 section 2).
pub const MAX_SHUTDOWN_COMMUNICATION: usize = 255;

impl NotificationMsg {
    pub fn new(code: u8, subcode: u8, data: Vec<u8>) -> Self {
        NotificationMsg {
            code,
            subcode,
            data,
        }
    }

    /// A Cease NOTIFICATION (RFC 4486) without data.
    pub fn cease(subcode: u8) -> Self {
        NotificationMsg::new(error_code::CEASE, subcode, Vec::new())
    }

    /// A Cease NOTIFICATION carrying a Shutdown Communication (RFC 9003): meant for
    /// Administrative Shutdown and Administrative Reset. The text is cut at a character
    /// boundary to fit 255 octets.
    pub fn cease_with_message(subcode: u8, message: &str) -> Self {
        let mut end = message.len().min(MAX_SHUTDOWN_COMMUNICATION);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let text = message.get(..end).unwrap_or_default();
        let mut data = Vec::with_capacity(1 + text.len());
        data.push(u8::try_from(text.len()).unwrap_or(u8::MAX));
        data.extend_from_slice(text.as_bytes());
        NotificationMsg::new(error_code::CEASE, subcode, data)
    }

    /// The Shutdown Communication of an Administrative Shutdown or Reset, when the data
    /// holds a well-formed one (RFC 9003 section 2).
    pub fn shutdown_communication(&self) -> Option<&str> {
        let communication = self.code == error_code::CEASE
            && (self.subcode == cease_subcode::ADMINISTRATIVE_SHUTDOWN
                || self.subcode == cease_subcode::ADMINISTRATIVE_RESET);
        if !communication {
            return None;
        }
        let (&length, text) = self.data.split_first()?;
        let text = text.get(..usize::from(length))?;
        if length == 0 {
            return None;
        }
        std::str::from_utf8(text).ok()
    }

    /// The name of the error code, e.g. "Cease".
    pub fn code_name(&self) -> Option<&'static str> {
        code_name(self.code)
    }

    /// The name of the subcode, e.g. "Administrative Shutdown".
    pub fn subcode_name(&self) -> Option<&'static str> {
        subcode_name(self.code, self.subcode)
    }
}

/// Names of the error codes (RFC 4271 section 4.5, RFC 7313).
pub fn code_name(code: u8) -> Option<&'static str> {
    Some(match code {
        error_code::MESSAGE_HEADER => "Message Header Error",
        error_code::OPEN_MESSAGE => "OPEN Message Error",
        error_code::UPDATE_MESSAGE => "UPDATE Message Error",
        error_code::HOLD_TIMER_EXPIRED => "Hold Timer Expired",
        error_code::FSM => "Finite State Machine Error",
        error_code::CEASE => "Cease",
        error_code::ROUTE_REFRESH => "ROUTE-REFRESH Message Error",
        _ => return None,
    })
}

/// Names of the subcodes of each error code, from the IANA registries.
pub fn subcode_name(code: u8, subcode: u8) -> Option<&'static str> {
    Some(match (code, subcode) {
        (error_code::MESSAGE_HEADER, 1) => "Connection Not Synchronized",
        (error_code::MESSAGE_HEADER, 2) => "Bad Message Length",
        (error_code::MESSAGE_HEADER, 3) => "Bad Message Type",
        (error_code::OPEN_MESSAGE, 0) => "Unspecific",
        (error_code::OPEN_MESSAGE, 1) => "Unsupported Version Number",
        (error_code::OPEN_MESSAGE, 2) => "Bad Peer AS",
        (error_code::OPEN_MESSAGE, 3) => "Bad BGP Identifier",
        (error_code::OPEN_MESSAGE, 4) => "Unsupported Optional Parameter",
        (error_code::OPEN_MESSAGE, 5) => "Authentication Failure",
        (error_code::OPEN_MESSAGE, 6) => "Unacceptable Hold Time",
        (error_code::OPEN_MESSAGE, 7) => "Unsupported Capability",
        (error_code::OPEN_MESSAGE, 11) => "Role Mismatch",
        (error_code::UPDATE_MESSAGE, 0) => "Unspecific",
        (error_code::UPDATE_MESSAGE, 1) => "Malformed Attribute List",
        (error_code::UPDATE_MESSAGE, 2) => "Unrecognized Well-known Attribute",
        (error_code::UPDATE_MESSAGE, 3) => "Missing Well-known Attribute",
        (error_code::UPDATE_MESSAGE, 4) => "Attribute Flags Error",
        (error_code::UPDATE_MESSAGE, 5) => "Attribute Length Error",
        (error_code::UPDATE_MESSAGE, 6) => "Invalid ORIGIN Attribute",
        (error_code::UPDATE_MESSAGE, 7) => "AS Routing Loop",
        (error_code::UPDATE_MESSAGE, 8) => "Invalid NEXT_HOP Attribute",
        (error_code::UPDATE_MESSAGE, 9) => "Optional Attribute Error",
        (error_code::UPDATE_MESSAGE, 10) => "Invalid Network Field",
        (error_code::UPDATE_MESSAGE, 11) => "Malformed AS_PATH",
        (error_code::FSM, 0) => "Unspecified Error",
        (error_code::FSM, 1) => "Receive Unexpected Message in OpenSent State",
        (error_code::FSM, 2) => "Receive Unexpected Message in OpenConfirm State",
        (error_code::FSM, 3) => "Receive Unexpected Message in Established State",
        (error_code::CEASE, 1) => "Maximum Number of Prefixes Reached",
        (error_code::CEASE, 2) => "Administrative Shutdown",
        (error_code::CEASE, 3) => "Peer De-configured",
        (error_code::CEASE, 4) => "Administrative Reset",
        (error_code::CEASE, 5) => "Connection Rejected",
        (error_code::CEASE, 6) => "Other Configuration Change",
        (error_code::CEASE, 7) => "Connection Collision Resolution",
        (error_code::CEASE, 8) => "Out of Resources",
        (error_code::CEASE, 9) => "Hard Reset",
        (error_code::CEASE, 10) => "BFD Down",
        (error_code::ROUTE_REFRESH, 1) => "Invalid Message Length",
        _ => return None,
    })
}

/// "Cease/Administrative Shutdown", "Hold Timer Expired", "UPDATE Message Error/subcode
/// 42", "error code 9/subcode 1"; a Shutdown Communication is appended in quotes.
impl fmt::Display for NotificationMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code_name() {
            Some(name) => f.write_str(name)?,
            None => write!(f, "error code {}", self.code)?,
        }
        match self.subcode_name() {
            Some(name) => write!(f, "/{name}")?,
            // Codes without subcodes (Hold Timer Expired, Cease 0) read as the code alone.
            None if self.subcode == 0 => {}
            None => write!(f, "/subcode {}", self.subcode)?,
        }
        if let Some(text) = self.shutdown_communication() {
            write!(f, ": {text:?}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::iana::{fsm_subcode, header_subcode};

    #[test]
    fn display_names_code_and_subcode() {
        let cases = [
            (
                NotificationMsg::cease(cease_subcode::ADMINISTRATIVE_SHUTDOWN),
                "Cease/Administrative Shutdown",
            ),
            (
                NotificationMsg::cease(cease_subcode::PEER_DECONFIGURED),
                "Cease/Peer De-configured",
            ),
            (
                NotificationMsg::new(error_code::HOLD_TIMER_EXPIRED, 0, vec![]),
                "Hold Timer Expired",
            ),
            (
                NotificationMsg::new(
                    error_code::MESSAGE_HEADER,
                    header_subcode::BAD_MESSAGE_LENGTH,
                    vec![0, 5],
                ),
                "Message Header Error/Bad Message Length",
            ),
            (
                NotificationMsg::new(
                    error_code::FSM,
                    fsm_subcode::UNEXPECTED_MESSAGE_IN_OPENCONFIRM,
                    vec![],
                ),
                "Finite State Machine Error/Receive Unexpected Message in OpenConfirm State",
            ),
            (
                NotificationMsg::new(error_code::ROUTE_REFRESH, 1, vec![]),
                "ROUTE-REFRESH Message Error/Invalid Message Length",
            ),
            (
                NotificationMsg::new(error_code::UPDATE_MESSAGE, 42, vec![]),
                "UPDATE Message Error/subcode 42",
            ),
            (NotificationMsg::new(9, 1, vec![]), "error code 9/subcode 1"),
        ];
        for (notification, text) in cases {
            assert_eq!(notification.to_string(), text);
        }
    }

    #[test]
    fn shutdown_communication_is_shown_and_cut_to_255_octets() {
        let n = NotificationMsg::cease_with_message(
            cease_subcode::ADMINISTRATIVE_SHUTDOWN,
            "maintenance",
        );
        assert_eq!(n.data, b"\x0bmaintenance");
        assert_eq!(
            n.to_string(),
            "Cease/Administrative Shutdown: \"maintenance\""
        );
        let long = "é".repeat(200);
        let n = NotificationMsg::cease_with_message(cease_subcode::ADMINISTRATIVE_RESET, &long);
        assert_eq!(n.data[0], 254);
        assert_eq!(n.shutdown_communication(), Some("é".repeat(127).as_str()));
    }

    #[test]
    fn shutdown_communication_longer_than_data_is_ignored() {
        let n = NotificationMsg::new(
            error_code::CEASE,
            cease_subcode::ADMINISTRATIVE_SHUTDOWN,
            vec![9, b'a'],
        );
        assert_eq!(n.shutdown_communication(), None);
        assert_eq!(n.to_string(), "Cease/Administrative Shutdown");
    }
}
