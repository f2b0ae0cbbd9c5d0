//! Feeds arbitrary bytes to the BFD Control packet decoder, and what decodes to a BFD
//! session. Neither may panic; whatever decodes must re-encode to a packet that decodes
//! to the same value.
#![no_main]

use std::time::{Duration, Instant};

use bgp::bfd::fsm::{Session, Timers};
use bgp::bfd::packet::ControlPacket;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = ControlPacket::decode(data) else {
        return;
    };
    let again = ControlPacket::decode(&packet.encode());
    assert_eq!(again, Ok(packet), "{packet:?} does not survive re-encoding");
    let now = Instant::now();
    let mut session = Session::new(Timers::default(), 1, 7, now);
    let _ = session.receive(&packet, now);
    let _ = session.on_timer(now + Duration::from_secs(5));
});
