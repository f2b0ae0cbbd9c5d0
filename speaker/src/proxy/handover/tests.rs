//! The handover over real Unix and TCP sockets in one process: the successor's side
//! ([`receive`]) against the predecessor's ([`HandoverServer`]), and against predecessors
//! that are gone, stale or silent.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;

/// A predecessor's listeners; records the successor's Ready.
#[derive(Debug, Default)]
struct Listening {
    sockets: Vec<(SocketAddr, Arc<TcpListener>)>,
    ready: AtomicU32,
    readies: Mutex<u32>,
}

impl Offer for Listening {
    fn sockets(&self) -> Vec<(SocketAddr, Arc<TcpListener>)> {
        self.sockets.clone()
    }

    fn ready(&self, adopted: u32) {
        self.ready.store(adopted, Ordering::SeqCst);
        *self.readies.lock().expect("lock") += 1;
    }
}

fn me() -> Identity {
    identity("node-a")
}

async fn listening(count: usize) -> Arc<Listening> {
    let mut sockets = Vec::new();
    for _ in 0..count {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        sockets.push((address, Arc::new(listener)));
    }
    Arc::new(Listening {
        sockets,
        ..Listening::default()
    })
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn without_a_socket_file_there_is_no_predecessor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inherited = receive(&dir.path().join("handover.sock"), &me(), OFFER_TIMEOUT).await;
    assert!(inherited.sockets.is_empty());
    assert!(!inherited.from_predecessor());
}

#[tokio::test]
async fn a_stale_socket_file_is_no_predecessor_and_costs_no_wait() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("handover.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
    assert!(path.exists(), "the stale file stays behind");
    let start = Instant::now();
    let inherited = receive(&path, &me(), OFFER_TIMEOUT).await;
    assert!(inherited.sockets.is_empty());
    assert!(!inherited.from_predecessor());
    assert!(start.elapsed() < OFFER_TIMEOUT, "{:?}", start.elapsed());
}

#[tokio::test]
async fn a_predecessor_that_never_answers_is_given_up_after_the_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("handover.sock");
    // Bound and listening, never accepting: the connect succeeds, nothing ever comes.
    let _silent = std::os::unix::net::UnixListener::bind(&path).expect("bind");
    let start = Instant::now();
    let inherited = receive(&path, &me(), Duration::from_millis(300)).await;
    let took = start.elapsed();
    assert!(inherited.sockets.is_empty());
    assert!(!inherited.from_predecessor());
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn a_peer_speaking_another_protocol_is_given_up_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("handover.sock");
    let other = UnixListener::bind(&path).expect("bind");
    tokio::spawn(async move {
        let (mut stream, _) = other.accept().await.expect("accept");
        let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let start = Instant::now();
    let inherited = receive(&path, &me(), OFFER_TIMEOUT).await;
    assert!(inherited.sockets.is_empty());
    assert!(start.elapsed() < OFFER_TIMEOUT, "{:?}", start.elapsed());
}

#[tokio::test]
async fn the_successor_gets_the_same_sockets_and_a_queued_connection_is_not_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("run").join("handover.sock");
    let old = listening(2).await;
    let server = HandoverServer::start(&path, me(), old.clone()).expect("serve");
    let mode = std::fs::metadata(&path)
        .expect("socket file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "only the speaker's user may ask");

    // A client connects before the handover: it waits in the accept queue, unaccepted.
    let (first, _) = &old.sockets[0];
    let mut queued = tokio::net::TcpStream::connect(first)
        .await
        .expect("connect");

    let mut inherited = receive(&path, &me(), OFFER_TIMEOUT).await;
    let addresses: Vec<SocketAddr> = inherited.sockets.keys().copied().collect();
    let mut offered: Vec<SocketAddr> = old.sockets.iter().map(|(a, _)| *a).collect();
    offered.sort();
    assert_eq!(addresses, offered);

    // The old process lets its sockets go; the queue lives on in the successor's.
    let socket = inherited.sockets.remove(first).expect("the first socket");
    drop(old.sockets.clone());
    let successor = TcpListener::from_std(socket).expect("tokio listener");
    let (mut accepted, _) = successor.accept().await.expect("the queued connection");
    queued.write_all(b"ping").await.expect("write");
    let mut answer = [0u8; 4];
    accepted.read_exact(&mut answer).await.expect("read");
    assert_eq!(&answer, b"ping");

    assert_eq!(old.ready.load(Ordering::SeqCst), 0, "no Ready yet");
    inherited
        .predecessor()
        .expect("a predecessor")
        .ready(1)
        .expect("send Ready");
    wait_for("the predecessor to see Ready", || {
        old.ready.load(Ordering::SeqCst) == 1
    })
    .await;
    server.close();
    assert!(!path.exists(), "the path was still the server's: removed");
}

#[tokio::test]
async fn more_sockets_than_one_message_carries_all_arrive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("handover.sock");
    let count = MAX_SOCKETS_PER_MESSAGE * 2 + 3;
    let old = listening(count).await;
    let _server = HandoverServer::start(&path, me(), old.clone()).expect("serve");
    let inherited = receive(&path, &me(), OFFER_TIMEOUT).await;
    assert_eq!(inherited.sockets.len(), count);
    for (address, socket) in &inherited.sockets {
        assert_eq!(socket.local_addr().expect("bound"), *address);
    }
}

#[tokio::test]
async fn a_successor_that_goes_away_without_ready_leaves_the_predecessor_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("handover.sock");
    let old = listening(1).await;
    let _server = HandoverServer::start(&path, me(), old.clone()).expect("serve");
    let mut first = receive(&path, &me(), OFFER_TIMEOUT).await;
    assert_eq!(first.sockets.len(), 1);
    drop(first.predecessor());
    // The next successor is served as well, and its Ready counts.
    let mut second = receive(&path, &me(), OFFER_TIMEOUT).await;
    assert_eq!(second.sockets.len(), 1);
    second
        .predecessor()
        .expect("a predecessor")
        .ready(1)
        .expect("send Ready");
    wait_for("Ready", || old.ready.load(Ordering::SeqCst) == 1).await;
    assert_eq!(*old.readies.lock().expect("lock"), 1);
}

#[tokio::test]
async fn a_successor_takes_over_the_path_and_the_predecessor_leaves_it_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("handover.sock");
    let old = listening(1).await;
    let old_server = HandoverServer::start(&path, me(), old.clone()).expect("serve");
    let new = listening(1).await;
    let new_server = HandoverServer::start(&path, me(), new.clone()).expect("take over the path");
    old_server.close();
    assert!(path.exists(), "the successor's socket stays");
    // The path now answers with the successor's sockets.
    let inherited = receive(&path, &me(), OFFER_TIMEOUT).await;
    let addresses: Vec<SocketAddr> = inherited.sockets.keys().copied().collect();
    assert_eq!(addresses, vec![new.sockets[0].0]);
    new_server.close();
    assert!(!path.exists());
}

#[tokio::test]
async fn a_speaker_of_another_node_is_refused_and_gets_no_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("handover.sock");
    let old = listening(1).await;
    let _server = HandoverServer::start(&path, me(), old.clone()).expect("serve");
    let inherited = receive(&path, &identity("node-b"), OFFER_TIMEOUT).await;
    assert!(inherited.sockets.is_empty());
    assert!(inherited.foreign, "the path is another speaker's");
    assert!(!inherited.from_predecessor());
    // The same node is served as before.
    assert_eq!(receive(&path, &me(), OFFER_TIMEOUT).await.sockets.len(), 1);
}

#[tokio::test]
async fn a_speaker_of_another_network_namespace_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("handover.sock");
    let old = listening(1).await;
    let _server = HandoverServer::start(&path, me(), old.clone()).expect("serve");
    let elsewhere = Identity {
        netns: me().netns + 1,
        ..me()
    };
    let inherited = receive(&path, &elsewhere, OFFER_TIMEOUT).await;
    assert!(inherited.sockets.is_empty());
    assert!(inherited.foreign);
}
