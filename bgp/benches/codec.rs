//! Encode and decode of UPDATEs carrying 1 and 500 host routes: IPv4 /32s in the NLRI
//! field (500 fit one UPDATE) and IPv6 /128s in MP_REACH_NLRI (500 take three UPDATEs,
//! as `pack_announce_v6` splits them). Encoding reuses one buffer, as the session
//! driver does.
//!
//! Run: `cargo bench -p bgp --bench codec`
#![allow(clippy::unwrap_used)] // a panic in a test or benchmark is the failure report

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use bgp::packet::*;
use bgp::rib::{pack_announce_v4, pack_announce_v6};
use bytes::BytesMut;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ipnet::{Ipv4Net, Ipv6Net};

const CX: CodecContext = CodecContext {
    four_octet_as: true,
    extended_message: false,
};

fn attributes() -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::sequence([64500])),
        next_hop: Some(Ipv4Addr::new(172, 30, 0, 11)),
        communities: vec![Community::new(64500, 1)],
        large_communities: vec![LargeCommunity {
            global_admin: 64500,
            local_data1: 1,
            local_data2: 2,
        }],
        ..PathAttributes::default()
    }
}

fn updates_v4(count: u32) -> Vec<Message> {
    let prefixes: Vec<Ipv4Net> = (0..count)
        .map(|i| Ipv4Net::new(Ipv4Addr::from(0x0A00_0000 + i), 32).unwrap())
        .collect();
    pack_announce_v4(&attributes(), &prefixes, &CX)
        .into_iter()
        .map(Message::Update)
        .collect()
}

fn updates_v6(count: u32) -> Vec<Message> {
    let prefixes: Vec<Ipv6Net> = (0..count)
        .map(|i| Ipv6Net::new(Ipv6Addr::from(0xfd00_0099_u128 << 96 | u128::from(i)), 128).unwrap())
        .collect();
    let next_hop = MpNextHop {
        global: "fd00:30::11".parse().unwrap(),
        link_local: None,
    };
    pack_announce_v6(&attributes(), next_hop, &prefixes, &CX)
        .into_iter()
        .map(Message::Update)
        .collect()
}

/// Builds the UPDATEs announcing that many host routes.
type Build = fn(u32) -> Vec<Message>;

fn codec(c: &mut Criterion) {
    let families: [(&str, Build); 2] = [("v4", updates_v4), ("v6", updates_v6)];
    for (family, build) in families {
        let mut group = c.benchmark_group(format!("update_{family}"));
        for count in [1u32, 500] {
            let messages = build(count);
            let mut wire = BytesMut::new();
            for message in &messages {
                message.encode(&CX, &mut wire);
            }
            let frames: Vec<&[u8]> = {
                let mut frames = Vec::new();
                let mut rest = &wire[..];
                while let Ok(Some(len)) = frame_len(rest, &CX) {
                    frames.push(&rest[..len]);
                    rest = &rest[len..];
                }
                frames
            };
            println!(
                "update_{family}/{count}: {} message(s), {} octets",
                messages.len(),
                wire.len()
            );
            group.throughput(Throughput::Elements(u64::from(count)));
            let mut out = BytesMut::with_capacity(3 * MAX_MESSAGE_LEN);
            group.bench_function(BenchmarkId::new("encode", count), |b| {
                b.iter(|| {
                    out.clear();
                    for message in black_box(&messages) {
                        message.encode(&CX, &mut out);
                    }
                    black_box(out.len())
                })
            });
            group.bench_function(BenchmarkId::new("decode", count), |b| {
                b.iter(|| {
                    for frame in black_box(&frames) {
                        black_box(Message::decode(frame, &CX).unwrap());
                    }
                })
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = codec
}
criterion_main!(benches);
