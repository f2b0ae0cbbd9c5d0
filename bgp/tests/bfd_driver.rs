//! The BFD driver over loopback: two drivers in one process with crossed ports (A listens
//! where B sends and the reverse), no root needed.
#![allow(clippy::unwrap_used)] // a panic in a test is the failure report

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use bgp::BfdTimers;
use bgp::bfd::{Bfd, Ports, SessionHandle, SessionKey, State};

/// Counts the bytes allocated and not yet freed by the whole process.
struct Counting;

static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// 20 ms x 3, or with `detect_mult` 25 (half a second) where a test counts flaps and a
/// loaded machine's stall of the test thread must not add one.
fn timers(detect_mult: u8) -> BfdTimers {
    BfdTimers {
        desired_min_tx: Duration::from_millis(20),
        required_min_rx: Duration::from_millis(20),
        detect_mult,
    }
}

fn session_with(bfd: &Bfd, local: IpAddr, peer: IpAddr, timers: BfdTimers) -> SessionHandle {
    bfd.add(
        SessionKey {
            peer,
            local: Some(local),
            multihop: false,
        },
        timers,
    )
}

fn session(bfd: &Bfd, local: IpAddr, peer: IpAddr) -> SessionHandle {
    session_with(bfd, local, peer, timers(3))
}

async fn wait_state(handle: &SessionHandle, state: State) {
    tokio::time::timeout(Duration::from_secs(20), async {
        while handle.status().state != state {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("not {state} within 20 s: {:?}", handle.status()));
}

#[tokio::test(flavor = "current_thread")]
async fn a_hundred_flaps_leave_the_drivers_memory_flat() {
    let a = Bfd::spawn_with_ports(Ports {
        listen_single_hop: 33784,
        peer_single_hop: 43784,
        ..Ports::default()
    });
    let b = Bfd::spawn_with_ports(Ports {
        listen_single_hop: 43784,
        peer_single_hop: 33784,
        ..Ports::default()
    });
    let on_a = session_with(&a, A, B, timers(25));
    let flap = |round: u64| {
        let a = &on_a;
        let b = b.clone();
        async move {
            let on_b = session_with(&b, B, A, timers(25));
            wait_state(a, State::Up).await;
            wait_state(&on_b, State::Up).await;
            // B goes away (AdminDown), A goes Down: one flap.
            drop(on_b);
            wait_state(a, State::Down).await;
            assert_eq!(a.status().flaps, round);
        }
    };
    for round in 1..=10 {
        flap(round).await;
    }
    let after_warmup = LIVE_BYTES.load(Ordering::Relaxed);
    for round in 11..=110 {
        flap(round).await;
    }
    let after = LIVE_BYTES.load(Ordering::Relaxed);
    println!("live heap after 10 flaps: {after_warmup} B, after 110: {after} B");
    assert_eq!(on_a.status().flaps, 110);
    // Each flap opened and closed a session (socket, channels, status): none of it stays.
    assert!(
        after - after_warmup < 16 * 1024,
        "the heap grew by {} B over 100 flaps",
        after - after_warmup
    );
}

#[tokio::test(flavor = "current_thread")]
async fn sessions_agree_on_the_slower_interval_and_send_with_ttl_255() {
    let a = Bfd::spawn_with_ports(Ports {
        listen_single_hop: 33785,
        peer_single_hop: 43785,
        ..Ports::default()
    });
    let b = Bfd::spawn_with_ports(Ports {
        listen_single_hop: 43785,
        peer_single_hop: 33785,
        ..Ports::default()
    });
    let on_a = session(&a, A, B);
    let on_b = b.add(
        SessionKey {
            peer: A,
            local: Some(B),
            multihop: false,
        },
        BfdTimers {
            desired_min_tx: Duration::from_millis(50),
            required_min_rx: Duration::from_millis(50),
            detect_mult: 4,
        },
    );
    // Up at all proves the TTL check passed: the receive path drops anything but 255.
    wait_state(&on_a, State::Up).await;
    wait_state(&on_b, State::Up).await;
    // The transmit interval applies at once, the receive side and the detection time with
    // B's next packet: wait for all three.
    let settled = |status: &bgp::bfd::BfdStatus| {
        status.negotiated.tx_interval == Duration::from_millis(50)
            && status.negotiated.rx_interval == Duration::from_millis(50)
            && status.negotiated.detection_time == Duration::from_millis(200)
    };
    tokio::time::timeout(Duration::from_secs(20), async {
        while !settled(&on_a.status()) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("not 50/50/200 ms within 20 s: {:?}", on_a.status()));
    let status = on_a.status();
    let port = status.local.unwrap().port();
    assert!((49152..=65535).contains(&port), "source port {port}");
}

#[tokio::test(flavor = "current_thread")]
async fn single_hop_packet_with_a_ttl_below_255_is_dropped() {
    use bgp::bfd::packet::{ControlPacket, Diag};
    let a = Bfd::spawn_with_ports(Ports {
        listen_single_hop: 33786,
        peer_single_hop: 43786,
        ..Ports::default()
    });
    let on_a = session(&a, A, B);
    // The driver has taken the session (and opened its sockets) once it shows its end.
    tokio::time::timeout(Duration::from_secs(20), async {
        while on_a.status().local.is_none() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .unwrap();
    let peer = std::net::UdpSocket::bind((B, 50_786)).unwrap();
    let send = |packet: ControlPacket, ttl: u32| {
        peer.set_ttl(ttl).unwrap();
        peer.send_to(&packet.encode(), (A, 33786)).unwrap();
    };
    let down = ControlPacket {
        diag: Diag::NONE,
        state: State::Down,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: 111,
        your_discriminator: 0,
        desired_min_tx_us: 1_000_000,
        required_min_rx_us: 20_000,
        required_min_echo_rx_us: 0,
    };
    send(down, 255);
    wait_state(&on_a, State::Init).await;
    let ours = on_a.status().local_discriminator;
    // From Init, AdminDown would take A Down, and in Down an Up packet changes nothing;
    // if the TTL 64 packet is dropped, the Up packet takes A from Init to Up.
    send(
        ControlPacket {
            state: State::AdminDown,
            your_discriminator: ours,
            ..down
        },
        64,
    );
    send(
        ControlPacket {
            state: State::Up,
            your_discriminator: ours,
            ..down
        },
        255,
    );
    wait_state(&on_a, State::Up).await;
    assert_eq!(on_a.status().flaps, 0);
}
