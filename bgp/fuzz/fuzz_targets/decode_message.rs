//! Feeds arbitrary bytes to `frame_len` and `Message::decode` in the 4-octet and the
//! 2-octet AS context. Decoding must never panic, and whatever decodes must re-encode
//! to bytes that decode again.
#![no_main]

use bgp::packet::{CodecContext, Message, frame_len};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for four_octet_as in [true, false] {
        let cx = CodecContext { four_octet_as };
        // As a stream: frame after frame until one is incomplete or refused.
        let mut rest = data;
        while let Ok(Some(len)) = frame_len(rest) {
            let Some((frame, tail)) = rest.split_at_checked(len) else { break };
            if let Ok(message) = Message::decode(frame, &cx) {
                let again = message.to_bytes(&cx);
                assert!(Message::decode(&again, &cx).is_ok(), "{message:?} does not survive re-encoding");
            }
            rest = tail;
        }
        // As one frame.
        let _ = Message::decode(data, &cx);
    }
});
