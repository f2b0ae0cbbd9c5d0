//! Herald's [`bgp::Speaker`] running in the node namespace.

use super::NsRuntime;
use super::wait::wait_until;
use super::{NODE_AS, NODE4, ROUTER_AS, Topology, router_addr};
use bgp::{
    PeerConfig, PeerEvent, PeerStats, RouteAttributes, SessionState, Speaker, SpeakerConfig,
};
use ipnet::IpNet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A Speaker whose sockets live in the node namespace, plus a log of its events.
#[derive(Debug)]
pub struct Herald {
    pub speaker: Speaker,
    events: Arc<Mutex<Vec<(Instant, PeerEvent)>>>,
    /// Dropped last: stopping the runtime cancels the Speaker's tasks and closes its
    /// sockets.
    runtime: NsRuntime,
}

impl Herald {
    /// Starts a Speaker (no listener: Herald connects to the router) in `topology`'s node
    /// namespace and starts recording its events.
    pub fn start(topology: &Topology) -> Herald {
        Herald::start_with(topology, SpeakerConfig::default())
    }

    /// [`Herald::start`] with speaker-wide settings, e.g. a listener.
    pub fn start_with(topology: &Topology, config: SpeakerConfig) -> Herald {
        let runtime = NsRuntime::start(&topology.node);
        let events = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&events);
        let speaker = runtime.block_on(async move {
            let speaker = Speaker::try_new(config).expect("Speaker::try_new");
            let mut receiver = speaker.events();
            tokio::spawn(async move {
                use tokio::sync::broadcast::error::RecvError;
                loop {
                    match receiver.recv().await {
                        Ok(event) => {
                            log.lock().expect("event log").push((Instant::now(), event));
                        }
                        Err(RecvError::Lagged(n)) => eprintln!("event log lagged by {n}"),
                        Err(RecvError::Closed) => break,
                    }
                }
            });
            speaker
        });
        Herald {
            speaker,
            events,
            runtime,
        }
    }

    /// The peer config the tests start from: the router's address of the family, AS
    /// `local_as` -> [`ROUTER_AS`], router-id [`NODE4`], connect-retry 1 s so reconnect
    /// tests do not wait long.
    pub fn peer_config(v6: bool, local_as: u32) -> PeerConfig {
        let mut config = PeerConfig::new(router_addr(v6), local_as, ROUTER_AS, NODE4);
        config.connect_retry = Duration::from_secs(1);
        config
    }

    pub fn add_peer(&self, config: PeerConfig) {
        self.configure_peer(config, false);
    }

    pub fn update_peer(&self, config: PeerConfig) {
        self.configure_peer(config, true);
    }

    fn configure_peer(&self, config: PeerConfig, update: bool) {
        let speaker = self.speaker.clone();
        let address = config.address;
        let result = self.runtime.block_on(async move {
            if update {
                speaker.update_peer(config).await
            } else {
                speaker.add_peer(config).await
            }
        });
        if let Err(e) = result {
            let call = if update { "update_peer" } else { "add_peer" };
            panic!("{call}({address}) failed: {e}");
        }
    }

    /// Adds the IPv4 and the IPv6 session to the router, each adjusted by `adjust`.
    pub fn add_both_peers(&self, local_as: u32, adjust: impl Fn(&mut PeerConfig)) {
        for v6 in [false, true] {
            let mut config = Herald::peer_config(v6, local_as);
            adjust(&mut config);
            self.add_peer(config);
        }
    }

    /// Both sessions with the default node AS and settings.
    pub fn add_default_peers(&self) {
        self.add_both_peers(NODE_AS, |_| {});
    }

    pub fn announce(&self, prefix: IpNet, attributes: RouteAttributes) {
        self.speaker.announce(prefix, attributes);
    }

    pub fn withdraw(&self, prefix: IpNet) {
        self.speaker.withdraw(prefix);
    }

    pub fn stats(&self) -> Vec<PeerStats> {
        let speaker = self.speaker.clone();
        self.runtime.block_on(async move { speaker.stats().await })
    }

    pub fn peer_stats(&self, peer: IpAddr) -> PeerStats {
        self.stats()
            .into_iter()
            .find(|s| s.address == peer)
            .unwrap_or_else(|| panic!("Speaker has no stats for peer {peer}"))
    }

    /// Waits until Herald's own stats show the session with `peer` Established.
    pub fn wait_established(&self, peer: IpAddr, timeout: Duration) {
        wait_until(timeout, &format!("Herald shows {peer} Established"), || {
            (self.peer_stats(peer).state == SessionState::Established).then_some(())
        });
    }

    /// `shutdown()`: Cease/Administrative Shutdown to every peer, then stop.
    pub fn shutdown(&self) {
        let speaker = self.speaker.clone();
        self.runtime
            .block_on(async move { speaker.shutdown().await });
    }

    /// `shutdown_for_restart()`: close every session without a NOTIFICATION (RFC 4724).
    pub fn shutdown_for_restart(&self) {
        let speaker = self.speaker.clone();
        self.runtime
            .block_on(async move { speaker.shutdown_for_restart().await });
    }

    /// Every event so far, with the time it was received.
    pub fn events(&self) -> Vec<(Instant, PeerEvent)> {
        self.events.lock().expect("event log").clone()
    }

    /// Waits for the first event (recorded at or after `since`) that `matches`.
    pub fn wait_event(
        &self,
        since: Instant,
        timeout: Duration,
        what: &str,
        matches: impl Fn(&PeerEvent) -> bool,
    ) -> (Instant, PeerEvent) {
        wait_until(timeout, what, || {
            self.events()
                .into_iter()
                .find(|(at, event)| *at >= since && matches(event))
        })
    }

    /// The namespace runtime, to run other async code next to the Speaker.
    pub fn runtime(&self) -> &NsRuntime {
        &self.runtime
    }
}

impl Drop for Herald {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- Herald events ---");
            for (_, event) in self.events() {
                eprintln!("{event:?}");
            }
        }
    }
}
