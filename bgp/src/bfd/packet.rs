//! The BFD Control packet (RFC 5880 section 4.1), pure codec.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//! |                       My Discriminator                        |
//! |                      Your Discriminator                       |
//! |                    Desired Min TX Interval                    |
//! |                   Required Min RX Interval                    |
//! |                 Required Min Echo RX Interval                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! [`ControlPacket::decode`] applies the checks of section 6.8.6 that need no session
//! (version, length, multiplier, multipoint, discriminator); a packet that fails one is
//! discarded, BFD has no error reply. Authentication is not supported: a packet with the
//! A bit is refused here, as section 6.8.6 asks of a session without authentication.

use std::fmt;

/// Length of a Control packet without an authentication section.
pub const CONTROL_LEN: usize = 24;
/// The protocol version this codec speaks.
pub const VERSION: u8 = 1;

/// Session state as carried in the Sta field (section 4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    AdminDown = 0,
    Down = 1,
    Init = 2,
    Up = 3,
}

impl State {
    fn from_bits(bits: u8) -> State {
        match bits & 0b11 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The diagnostic code (section 4.1): why the sender's session last went down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Diag(pub u8);

impl Diag {
    pub const NONE: Diag = Diag(0);
    pub const CONTROL_DETECTION_TIME_EXPIRED: Diag = Diag(1);
    pub const ECHO_FUNCTION_FAILED: Diag = Diag(2);
    pub const NEIGHBOR_SIGNALED_SESSION_DOWN: Diag = Diag(3);
    pub const FORWARDING_PLANE_RESET: Diag = Diag(4);
    pub const PATH_DOWN: Diag = Diag(5);
    pub const CONCATENATED_PATH_DOWN: Diag = Diag(6);
    pub const ADMINISTRATIVELY_DOWN: Diag = Diag(7);
    pub const REVERSE_CONCATENATED_PATH_DOWN: Diag = Diag(8);

    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "No Diagnostic",
            1 => "Control Detection Time Expired",
            2 => "Echo Function Failed",
            3 => "Neighbor Signaled Session Down",
            4 => "Forwarding Plane Reset",
            5 => "Path Down",
            6 => "Concatenated Path Down",
            7 => "Administratively Down",
            8 => "Reverse Concatenated Path Down",
            _ => "Reserved",
        }
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One BFD Control packet. Intervals are in microseconds, as on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlPacket {
    pub diag: Diag,
    pub state: State,
    /// P: the sender asks for verification of a parameter change.
    pub poll: bool,
    /// F: the answer to a Poll.
    pub final_: bool,
    /// C: the sender's BFD is independent of its control plane.
    pub control_plane_independent: bool,
    /// D: the sender wants to run Demand mode.
    pub demand: bool,
    pub detect_mult: u8,
    pub my_discriminator: u32,
    pub your_discriminator: u32,
    pub desired_min_tx_us: u32,
    pub required_min_rx_us: u32,
    pub required_min_echo_rx_us: u32,
}

/// Why a received packet was discarded (RFC 5880 section 6.8.6, first checks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{len} bytes: shorter than a Control packet")]
    Truncated { len: usize },
    #[error("version {version}, not 1")]
    Version { version: u8 },
    #[error("length field {length}: below the minimum of {minimum}")]
    LengthTooSmall { length: u8, minimum: u8 },
    #[error("length field {length}: more than the {received} bytes received")]
    LengthBeyondPayload { length: u8, received: usize },
    #[error("detect multiplier 0")]
    ZeroDetectMult,
    #[error("multipoint bit set")]
    Multipoint,
    #[error("my discriminator 0")]
    ZeroMyDiscriminator,
    #[error("your discriminator 0 in state {state}")]
    ZeroYourDiscriminator { state: State },
    #[error("authentication present, not supported")]
    Authentication,
}

const FLAG_POLL: u8 = 0x20;
const FLAG_FINAL: u8 = 0x10;
const FLAG_CPI: u8 = 0x08;
const FLAG_AUTH: u8 = 0x04;
const FLAG_DEMAND: u8 = 0x02;
const FLAG_MULTIPOINT: u8 = 0x01;

impl ControlPacket {
    /// Decodes one packet (the whole UDP payload) and applies the session-independent
    /// receive checks of section 6.8.6.
    pub fn decode(bytes: &[u8]) -> Result<ControlPacket, DecodeError> {
        if bytes.len() < CONTROL_LEN {
            return Err(DecodeError::Truncated { len: bytes.len() });
        }
        let version = bytes[0] >> 5;
        if version != VERSION {
            return Err(DecodeError::Version { version });
        }
        let flags = bytes[1];
        let auth = flags & FLAG_AUTH != 0;
        let length = bytes[3];
        let minimum = if auth { 26 } else { CONTROL_LEN as u8 };
        if length < minimum {
            return Err(DecodeError::LengthTooSmall { length, minimum });
        }
        if usize::from(length) > bytes.len() {
            return Err(DecodeError::LengthBeyondPayload {
                length,
                received: bytes.len(),
            });
        }
        let state = State::from_bits(flags >> 6);
        let word = |at: usize| {
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let packet = ControlPacket {
            diag: Diag(bytes[0] & 0x1f),
            state,
            poll: flags & FLAG_POLL != 0,
            final_: flags & FLAG_FINAL != 0,
            control_plane_independent: flags & FLAG_CPI != 0,
            demand: flags & FLAG_DEMAND != 0,
            detect_mult: bytes[2],
            my_discriminator: word(4),
            your_discriminator: word(8),
            desired_min_tx_us: word(12),
            required_min_rx_us: word(16),
            required_min_echo_rx_us: word(20),
        };
        if packet.detect_mult == 0 {
            return Err(DecodeError::ZeroDetectMult);
        }
        if flags & FLAG_MULTIPOINT != 0 {
            return Err(DecodeError::Multipoint);
        }
        if packet.my_discriminator == 0 {
            return Err(DecodeError::ZeroMyDiscriminator);
        }
        if packet.your_discriminator == 0 && !matches!(state, State::Down | State::AdminDown) {
            return Err(DecodeError::ZeroYourDiscriminator { state });
        }
        if auth {
            return Err(DecodeError::Authentication);
        }
        Ok(packet)
    }

    /// The 24 bytes on the wire (no authentication section).
    pub fn encode(&self) -> [u8; CONTROL_LEN] {
        let mut out = [0u8; CONTROL_LEN];
        out[0] = (VERSION << 5) | (self.diag.0 & 0x1f);
        let mut flags = (self.state as u8) << 6;
        for (set, bit) in [
            (self.poll, FLAG_POLL),
            (self.final_, FLAG_FINAL),
            (self.control_plane_independent, FLAG_CPI),
            (self.demand, FLAG_DEMAND),
        ] {
            if set {
                flags |= bit;
            }
        }
        out[1] = flags;
        out[2] = self.detect_mult;
        out[3] = CONTROL_LEN as u8;
        out[4..8].copy_from_slice(&self.my_discriminator.to_be_bytes());
        out[8..12].copy_from_slice(&self.your_discriminator.to_be_bytes());
        out[12..16].copy_from_slice(&self.desired_min_tx_us.to_be_bytes());
        out[16..20].copy_from_slice(&self.required_min_rx_us.to_be_bytes());
        out[20..24].copy_from_slice(&self.required_min_echo_rx_us.to_be_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Up packet as FRR bfdd sends it at 100 ms x 3: version 1, no diag, Up, C bit
    /// clear, mult 3, discriminators 0x00000001 / 0x12345678, 100 ms / 100 ms / echo 50 ms.
    const UP_100MS: [u8; 24] = [
        0x20, 0xc0, 0x03, 0x18, 0x00, 0x00, 0x00, 0x01, 0x12, 0x34, 0x56, 0x78, 0x00, 0x01, 0x86,
        0xa0, 0x00, 0x01, 0x86, 0xa0, 0x00, 0x00, 0xc3, 0x50,
    ];

    fn up_100ms() -> ControlPacket {
        ControlPacket {
            diag: Diag::NONE,
            state: State::Up,
            poll: false,
            final_: false,
            control_plane_independent: false,
            demand: false,
            detect_mult: 3,
            my_discriminator: 1,
            your_discriminator: 0x1234_5678,
            desired_min_tx_us: 100_000,
            required_min_rx_us: 100_000,
            required_min_echo_rx_us: 50_000,
        }
    }

    #[test]
    fn up_packet_decodes_from_its_bytes() {
        assert_eq!(ControlPacket::decode(&UP_100MS), Ok(up_100ms()));
    }

    #[test]
    fn up_packet_encodes_to_its_bytes() {
        assert_eq!(up_100ms().encode(), UP_100MS);
    }

    #[test]
    fn down_packet_with_diag_and_poll_encodes_and_decodes() {
        let packet = ControlPacket {
            diag: Diag::CONTROL_DETECTION_TIME_EXPIRED,
            state: State::Down,
            poll: true,
            your_discriminator: 0,
            ..up_100ms()
        };
        let bytes = packet.encode();
        assert_eq!(bytes[0], 0x21);
        assert_eq!(bytes[1], 0x60);
        assert_eq!(ControlPacket::decode(&bytes), Ok(packet));
    }

    #[test]
    fn final_and_demand_bits_are_read() {
        let mut bytes = UP_100MS;
        bytes[1] |= FLAG_FINAL | FLAG_DEMAND | FLAG_CPI;
        let packet = ControlPacket::decode(&bytes).expect("decodes");
        assert!(packet.final_ && packet.demand && packet.control_plane_independent);
        assert!(!packet.poll);
    }

    #[test]
    fn trailing_bytes_beyond_the_length_field_are_ignored() {
        let mut bytes = UP_100MS.to_vec();
        bytes.extend_from_slice(&[0xff; 8]);
        assert_eq!(ControlPacket::decode(&bytes), Ok(up_100ms()));
    }

    #[test]
    fn short_packet_is_discarded() {
        assert_eq!(
            ControlPacket::decode(&UP_100MS[..23]),
            Err(DecodeError::Truncated { len: 23 })
        );
    }

    #[test]
    fn version_0_is_discarded() {
        let mut bytes = UP_100MS;
        bytes[0] &= 0x1f;
        assert_eq!(
            ControlPacket::decode(&bytes),
            Err(DecodeError::Version { version: 0 })
        );
    }

    #[test]
    fn length_field_below_24_is_discarded() {
        let mut bytes = UP_100MS;
        bytes[3] = 20;
        assert_eq!(
            ControlPacket::decode(&bytes),
            Err(DecodeError::LengthTooSmall {
                length: 20,
                minimum: 24
            })
        );
    }

    #[test]
    fn length_field_beyond_the_payload_is_discarded() {
        let mut bytes = UP_100MS;
        bytes[3] = 48;
        assert_eq!(
            ControlPacket::decode(&bytes),
            Err(DecodeError::LengthBeyondPayload {
                length: 48,
                received: 24
            })
        );
    }

    #[test]
    fn zero_detect_multiplier_is_discarded() {
        let mut bytes = UP_100MS;
        bytes[2] = 0;
        assert_eq!(
            ControlPacket::decode(&bytes),
            Err(DecodeError::ZeroDetectMult)
        );
    }

    #[test]
    fn multipoint_bit_is_discarded() {
        let mut bytes = UP_100MS;
        bytes[1] |= FLAG_MULTIPOINT;
        assert_eq!(ControlPacket::decode(&bytes), Err(DecodeError::Multipoint));
    }

    #[test]
    fn zero_my_discriminator_is_discarded() {
        let mut bytes = UP_100MS;
        bytes[4..8].fill(0);
        assert_eq!(
            ControlPacket::decode(&bytes),
            Err(DecodeError::ZeroMyDiscriminator)
        );
    }

    #[test]
    fn zero_your_discriminator_is_discarded_unless_down() {
        let mut bytes = UP_100MS;
        bytes[8..12].fill(0);
        assert_eq!(
            ControlPacket::decode(&bytes),
            Err(DecodeError::ZeroYourDiscriminator { state: State::Up })
        );
        bytes[1] = (State::Down as u8) << 6;
        assert!(ControlPacket::decode(&bytes).is_ok());
        bytes[1] = (State::AdminDown as u8) << 6;
        assert!(ControlPacket::decode(&bytes).is_ok());
    }

    #[test]
    fn authenticated_packet_is_discarded() {
        let mut bytes = UP_100MS.to_vec();
        bytes[1] |= FLAG_AUTH;
        bytes[3] = 33;
        // Simple Password: type 1, len 9, key id 1, "secret!!"[..6].
        bytes.extend_from_slice(&[1, 9, 1, b's', b'e', b'c', b'r', b'e', b't']);
        assert_eq!(
            ControlPacket::decode(&bytes),
            Err(DecodeError::Authentication)
        );
        // With the A bit the minimum length is 26.
        bytes[3] = 25;
        assert_eq!(
            ControlPacket::decode(&bytes),
            Err(DecodeError::LengthTooSmall {
                length: 25,
                minimum: 26
            })
        );
    }

    #[test]
    fn every_state_round_trips() {
        for state in [State::AdminDown, State::Down, State::Init, State::Up] {
            let packet = ControlPacket {
                state,
                ..up_100ms()
            };
            assert_eq!(ControlPacket::decode(&packet.encode()), Ok(packet));
        }
    }
}
