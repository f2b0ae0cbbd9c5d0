//! The BFD codec and session against arbitrary input: never a panic, and what decodes
//! survives re-encoding.
#![allow(clippy::unwrap_used)] // a panic in a test is the failure report

use std::time::{Duration, Instant};

use bgp::bfd::fsm::{Session, Timers};
use bgp::bfd::packet::ControlPacket;
use proptest::prelude::*;

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_what_decodes_round_trips(
        data in proptest::collection::vec(any::<u8>(), 0..64)
    ) {
        if let Ok(packet) = ControlPacket::decode(&data) {
            prop_assert_eq!(ControlPacket::decode(&packet.encode()), Ok(packet));
            let now = Instant::now();
            let mut session = Session::new(Timers::default(), 1, 7, now);
            let _ = session.receive(&packet, now);
            let _ = session.on_timer(now + Duration::from_secs(5));
        }
    }

    #[test]
    fn mutated_valid_packets_never_panic(
        flips in proptest::collection::vec((0usize..24, any::<u8>()), 1..6),
        extra in proptest::collection::vec(any::<u8>(), 0..8),
    ) {
        // An Up packet at 100 ms x 3, then a few bytes changed and some appended.
        let mut data = vec![
            0x20, 0xc0, 0x03, 0x18, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0,
            0, 0, 0, 0,
        ];
        for (at, value) in flips {
            data[at] = value;
        }
        data.extend(extra);
        if let Ok(packet) = ControlPacket::decode(&data) {
            let now = Instant::now();
            let mut session = Session::new(Timers::default(), 1, 7, now);
            let _ = session.receive(&packet, now);
            prop_assert_eq!(ControlPacket::decode(&packet.encode()), Ok(packet));
        }
    }
}
