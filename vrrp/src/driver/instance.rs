//! One virtual router on one interface: the task that owns its [`Fsm`], its sockets,
//! its timers and its addresses, and carries the state machine's outputs out.
//!
//! ```text
//!   Instance (handle) --Command::{Shutdown, Update} (mpsc)--> task --> Fsm::handle(input)
//!          ^                                                  |  <-- outputs
//!          +------------ Status (watch) ----------------------+
//!   Segment (decodes once) --Delivery (this VRID, mpsc)--> AdvertReceived --> Fsm
//!   deadlines (tokio::time) --TimerFired--> Fsm;  SendAdvert --> the segment's socket
//!   BecomeMaster --> add addresses (netlink), announce (GARP / NA burst + repeats)
//!   BecomeBackup / BecomeInitialize --> remove addresses
//! ```
//!
//! Dropping the [`Instance`] aborts the task as a crash would: its VRID leaves the
//! segment (whose socket closes with its last user), timers go
//! with it, and the addresses stay until the next start (which removes them as soon
//! as it enters Backup) or [`super::remove_stale`]. [`Instance::shutdown`] is the
//! graceful stop: priority 0, then the addresses are removed once the new master has
//! spoken (make-before-break, see `Runner::stop`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};
use tracing::{Instrument, debug, info, info_span, warn};

use super::address::InterfaceAddresses;
use super::error::DriverError;
use super::netlink::{IFA_F_TENTATIVE, Netlink, SCOPE_LINK};
use super::segment::{Delivery, Route, Segment, Shared};
use crate::fsm::{Config, ConfigError, Fsm, Input, Output, State, Timer};
use crate::packet::{Family, IPV4_MULTICAST, IPV6_MULTICAST, RejectCounts, VirtualAddresses};

/// How the master announces its addresses: `burst` rounds at once when it takes
/// over, then `repeats` more rounds `interval` apart (a round is one gratuitous ARP or
/// unsolicited NA per address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnnounceSchedule {
    pub burst: u8,
    pub repeats: u8,
    pub interval: Duration,
}

impl Default for AnnounceSchedule {
    /// Two at once, then three more a second apart.
    fn default() -> Self {
        AnnounceSchedule {
            burst: 2,
            repeats: 3,
            interval: Duration::from_secs(1),
        }
    }
}

/// Driver settings beyond RFC 5798's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Send adverts to these addresses instead of the multicast group (keepalived's
    /// `unicast_peer`). Adverts from anyone are accepted either way.
    pub unicast_peers: Vec<IpAddr>,
    pub announce: AnnounceSchedule,
}

/// What an instance reports: its state (a change notifies the watchers) and counters
/// (updated silently).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub state: State,
    /// Us when Master, the router we obey when Backup.
    pub master: Option<IpAddr>,
    /// State changes since the start.
    pub transitions: u64,
    /// Stays empty: a refused packet names no VRID for sure, so the codec's refusals
    /// are counted once per segment ([`super::SegmentStatus::rejects`]).
    pub rejects: RejectCounts,
    /// Adverts the state machine ignored, by [`crate::fsm::Discard::label`].
    pub discards: BTreeMap<&'static str, u64>,
    /// VRRPv2 adverts seen (logged, not obeyed).
    pub v2_adverts: u64,
    /// VRRPv3 adverts of this VRID received (the segment decoded them).
    pub adverts_received: u64,
    /// Adverts sent (one per destination: the group, or each unicast peer).
    pub adverts_sent: u64,
    /// Adverts listing other addresses than ours (counted, obeyed).
    pub address_mismatches: u64,
    /// Failed sends, announcements and address changes, by what failed.
    pub errors: BTreeMap<&'static str, u64>,
}

impl Status {
    fn new() -> Self {
        Status {
            state: State::Initialize,
            master: None,
            transitions: 0,
            rejects: RejectCounts::default(),
            discards: BTreeMap::new(),
            v2_adverts: 0,
            adverts_received: 0,
            adverts_sent: 0,
            address_mismatches: 0,
            errors: BTreeMap::new(),
        }
    }
}

/// The address adverts of `family` are sent from on interface `ifname`: its first
/// IPv4 address not added by Herald, or its IPv6 link-local address (RFC 5798 section
/// 5.1.2.1). Call it in the network namespace of the interface.
pub fn primary_address(ifname: &str, family: Family) -> Result<IpAddr, DriverError> {
    let netlink = Netlink::open().map_err(DriverError::netlink("open"))?;
    let link = netlink
        .link(ifname)
        .map_err(|source| DriverError::Interface {
            ifname: ifname.to_owned(),
            source,
        })?;
    let addresses = InterfaceAddresses::new(netlink, ifname, link.index);
    let label = format!("{ifname}{}", super::address::LABEL_SUFFIX);
    addresses
        .list()
        .map_err(DriverError::netlink("list addresses"))?
        .into_iter()
        .filter(|a| !super::address::is_herald(a, Some(&label)))
        .find(|a| match (family, a.address) {
            (Family::Ipv4, IpAddr::V4(_)) => true,
            (Family::Ipv6, IpAddr::V6(v6)) => {
                a.scope == SCOPE_LINK
                    && v6.is_unicast_link_local()
                    && a.flags & IFA_F_TENTATIVE == 0
            }
            _ => false,
        })
        .map(|a| a.address)
        .ok_or_else(|| DriverError::NoPrimaryAddress {
            ifname: ifname.to_owned(),
            family,
        })
}

#[derive(Debug)]
enum Command {
    Shutdown(oneshot::Sender<()>),
    Update {
        priority: u8,
        addresses: VirtualAddresses,
        reply: oneshot::Sender<Result<(), Vec<ConfigError>>>,
    },
}

/// A running virtual router. Dropping it aborts the task (see the module
/// documentation); call [`Instance::shutdown`] to stop gracefully.
#[derive(Debug)]
pub struct Instance {
    commands: mpsc::Sender<Command>,
    status: watch::Receiver<Status>,
    task: Option<JoinHandle<()>>,
}

impl Instance {
    /// Opens a segment of its own on `ifname` (see [`Segment`]) and starts the task
    /// (on the current tokio runtime, whose thread must be in the interface's network
    /// namespace). `config.primary_address` is usually [`primary_address`]'s answer.
    /// Several instances on one interface should share a [`Segment`] instead.
    pub fn start(ifname: &str, config: Config, options: Options) -> Result<Instance, DriverError> {
        Segment::open(ifname, config.primary_address)?.start_instance(config, options)
    }

    /// Starts the task on `segment`, whose primary address is `config`'s.
    pub(crate) fn start_on(
        segment: Arc<Shared>,
        config: Config,
        options: Options,
    ) -> Result<Instance, DriverError> {
        let vrid = config.vrid;
        let family = config.addresses.family();
        let fsm = Fsm::new(config).map_err(DriverError::Config)?;
        let netlink = Netlink::open().map_err(DriverError::netlink("open"))?;
        let (route, deliveries) = segment.route(vrid)?;
        let destinations = if options.unicast_peers.is_empty() {
            vec![match family {
                Family::Ipv4 => IpAddr::V4(IPV4_MULTICAST),
                Family::Ipv6 => IpAddr::V6(IPV6_MULTICAST),
            }]
        } else {
            options.unicast_peers.clone()
        };
        let (status_tx, status) = watch::channel(Status::new());
        let (commands, command_rx) = mpsc::channel(4);
        let ifname = segment.ifname.clone();
        let runner = Runner {
            fsm,
            addresses: InterfaceAddresses::new(netlink, &ifname, segment.index),
            segment,
            deliveries,
            _route: route,
            destinations,
            schedule: options.announce,
            timers: BTreeMap::new(),
            announce_at: None,
            announces_left: 0,
            handing_over: false,
            status: status_tx,
        };
        let span = info_span!("vrrp", ifname, vrid, family = %family);
        let task = tokio::spawn(runner.run(command_rx).instrument(span));
        Ok(Instance {
            commands,
            status,
            task: Some(task),
        })
    }

    /// The status channel: `changed()` wakes on every state or master change.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// Changes the priority and the virtual addresses of the running instance, without
    /// a restart ([`Input::Reconfigure`]). A Master stays Master: it adds the new
    /// addresses to the interface and announces them (gratuitous ARP / unsolicited NA),
    /// removes the dropped ones, and advertises the new list and priority at once. A
    /// Backup records them (its Master_Down_Interval follows the new priority). A
    /// Master lowered below a backup goes on until that backup preempts it (RFC 5798
    /// section 6.4.2, with Preempt_Mode on). Returns once the task has applied the
    /// change; [`DriverError::Config`] when the values are refused (out of range, or
    /// priority 255 for an instance that does not own the addresses, or the reverse),
    /// in which case the instance runs on unchanged.
    ///
    /// The returned future does not borrow the instance (it can be spawned or handed
    /// to another runtime); the change is applied when it is awaited.
    pub fn update(
        &self,
        priority: u8,
        addresses: VirtualAddresses,
    ) -> impl Future<Output = Result<(), DriverError>> + Send + 'static {
        let commands = self.commands.clone();
        async move {
            let (reply, wait) = oneshot::channel();
            commands
                .send(Command::Update {
                    priority,
                    addresses,
                    reply,
                })
                .await
                .map_err(|_| DriverError::Stopped)?;
            wait.await
                .map_err(|_| DriverError::Stopped)?
                .map_err(DriverError::Config)
        }
    }

    /// The graceful stop: a master sends priority 0 so a backup takes over after
    /// Skew_Time (RFC 5798 section 6.4.3). It keeps serving the addresses until the new
    /// master's first advert (make-before-break: no gap for clients), at most one
    /// advert interval and 50 ms when no backup answers, then removes them. Returns
    /// once they are gone.
    pub async fn shutdown(mut self) -> Result<(), DriverError> {
        let (done, wait) = oneshot::channel();
        self.commands
            .send(Command::Shutdown(done))
            .await
            .map_err(|_| DriverError::Stopped)?;
        wait.await.map_err(|_| DriverError::Stopped)?;
        if let Some(task) = self.task.take() {
            task.await.map_err(|_| DriverError::Stopped)?;
        }
        Ok(())
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The task's state.
struct Runner {
    fsm: Fsm,
    /// The shared socket adverts are sent on, and the announcer.
    segment: Arc<Shared>,
    /// This VRID's adverts, decoded by the segment.
    deliveries: mpsc::Receiver<Delivery>,
    /// Holds the VRID on the segment until the task ends.
    _route: Route,
    addresses: InterfaceAddresses,
    destinations: Vec<IpAddr>,
    schedule: AnnounceSchedule,
    /// The state machine's running timers and when each fires.
    timers: BTreeMap<Timer, Instant>,
    /// The next round of repeated announcements, while Master.
    announce_at: Option<Instant>,
    announces_left: u8,
    /// Stopping as Master: the addresses stay until the new master speaks.
    handing_over: bool,
    status: watch::Sender<Status>,
}

/// How long past one Advertisement_Interval a stopping master waits for a backup.
const HANDOVER_MARGIN: Duration = Duration::from_millis(50);
/// How long a stopping master keeps its addresses after the new master's advert.
const HANDOVER_GRACE: Duration = Duration::from_millis(20);

impl Runner {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        self.apply(Input::Startup);
        loop {
            let next = self.next_deadline();
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Update { priority, addresses, reply }) => {
                        let outcome = self.update(priority, addresses);
                        let _ = reply.send(outcome);
                    }
                    Some(Command::Shutdown(reply)) => {
                        self.stop().await;
                        let _ = reply.send(());
                        return;
                    }
                    None => {
                        self.stop().await;
                        return;
                    }
                },
                Some(delivery) = self.deliveries.recv() => self.received(delivery),
                () = sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                    self.fire_due();
                }
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.timers.values().copied().chain(self.announce_at).min()
    }

    fn fire_due(&mut self) {
        let now = Instant::now();
        let due: Vec<Timer> = self
            .timers
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(timer, _)| *timer)
            .collect();
        for timer in due {
            self.timers.remove(&timer);
            self.apply(Input::TimerFired(timer));
        }
        if self.announce_at.is_some_and(|at| at <= now) {
            self.announce_round();
            self.announces_left = self.announces_left.saturating_sub(1);
            self.announce_at = (self.announces_left > 0).then(|| now + self.schedule.interval);
        }
    }

    fn received(&mut self, delivery: Delivery) {
        match delivery {
            Delivery::V3 { from, advert } => {
                self.status.send_if_modified(|s| {
                    s.adverts_received += 1;
                    false
                });
                self.apply(Input::AdvertReceived { from, advert });
            }
            Delivery::V2 { from } => {
                debug!(%from, "VRRPv2 advert ignored");
                self.status.send_if_modified(|s| {
                    s.v2_adverts += 1;
                    false
                });
            }
        }
    }

    /// The Shutdown event, make-before-break: a Master sends priority 0 (section
    /// 6.4.3) but keeps its addresses until the new master's first advert, so clients
    /// are served by one node or the other all along; then it removes them. A backup
    /// takes over after its Skew_Time, less than one Advertisement_Interval, so the
    /// wait ends after that (and [`HANDOVER_MARGIN`]) when no backup speaks up.
    async fn stop(&mut self) {
        self.handing_over = self.fsm.state() == State::Master;
        let interval = self.fsm.config().advert_interval.as_duration();
        let vrid = self.fsm.config().vrid;
        let primary = self.fsm.config().primary_address;
        self.apply(Input::Shutdown);
        if self.handing_over {
            let deadline = Instant::now() + interval + HANDOVER_MARGIN;
            let heard = loop {
                tokio::select! {
                    delivery = self.deliveries.recv() => match delivery {
                        Some(Delivery::V3 { from, advert })
                            if advert.vrid == vrid && advert.priority > 0 && from != primary =>
                        {
                            break Some(from);
                        }
                        Some(_) => {}
                        None => break None,
                    },
                    () = sleep_until(deadline) => break None,
                }
            };
            match heard {
                Some(master) => {
                    debug!(%master, "new master heard, handing the addresses over");
                    // Its gratuitous ARP / NA leaves right after its advert.
                    tokio::time::sleep(HANDOVER_GRACE.min(interval)).await;
                }
                None => debug!("no new master heard, removing the addresses"),
            }
            self.handing_over = false;
            self.release_addresses();
        }
        info!("stopped");
    }

    /// [`Input::Reconfigure`], with the refusal handed back to the caller.
    fn update(
        &mut self,
        priority: u8,
        addresses: VirtualAddresses,
    ) -> Result<(), Vec<ConfigError>> {
        let problems = self.fsm.reconfigure_problems(priority, &addresses);
        if !problems.is_empty() {
            return Err(problems);
        }
        info!(priority, addresses = addresses.len(), "reconfigured");
        self.apply(Input::Reconfigure {
            priority,
            addresses,
        });
        Ok(())
    }

    /// Feeds one input to the state machine and carries out its outputs, in order.
    fn apply(&mut self, input: Input) {
        for output in self.fsm.handle(input) {
            match output {
                Output::AddressesChanged { added, removed } => {
                    self.change_addresses(&added, &removed);
                }
                Output::ReconfigureRejected { problems } => {
                    warn!(?problems, "reconfiguration refused");
                }
                Output::SendAdvert { priority } => self.send_advert(priority),
                Output::BecomeMaster { from, reason, .. } => {
                    info!(%from, %reason, "became Master");
                    self.take_addresses();
                    self.report_state();
                }
                Output::BecomeBackup { from, reason } => {
                    info!(%from, %reason, "became Backup");
                    self.release_addresses();
                    self.report_state();
                }
                Output::BecomeInitialize { from } => {
                    info!(%from, "became Initialize");
                    if self.handing_over {
                        self.announce_at = None;
                    } else {
                        self.release_addresses();
                    }
                    self.report_state();
                }
                Output::SetTimer { timer, after } => {
                    self.timers
                        .insert(timer, Instant::now() + after.as_duration());
                }
                Output::CancelTimer(timer) => {
                    self.timers.remove(&timer);
                }
                Output::Discarded(reason) => {
                    self.status.send_if_modified(|s| {
                        *s.discards.entry(reason.label()).or_default() += 1;
                        false
                    });
                }
                Output::AddressMismatch { from } => {
                    debug!(%from, "advert lists other addresses than ours");
                    self.status.send_if_modified(|s| {
                        s.address_mismatches += 1;
                        false
                    });
                }
            }
        }
        // A backup follows a new master without changing state.
        let master = self.fsm.master();
        self.status.send_if_modified(|s| {
            let changed = s.master != master;
            s.master = master;
            changed
        });
    }

    fn send_advert(&mut self, priority: u8) {
        let advert = self.fsm.advertisement(priority);
        for destination in self.destinations.clone() {
            let Some(header) = self.segment.socket.header_to(destination) else {
                self.count_error("send");
                continue;
            };
            let sent = advert
                .encode(&header)
                .map_err(|e| e.to_string())
                .and_then(|payload| {
                    self.segment
                        .socket
                        .send(&payload, destination)
                        .map_err(|e| e.to_string())
                });
            match sent {
                Ok(()) => {
                    self.status.send_if_modified(|s| {
                        s.adverts_sent += 1;
                        false
                    });
                }
                Err(error) => {
                    warn!(%destination, %error, "sending an advert");
                    self.count_error("send");
                }
            }
        }
    }

    fn take_addresses(&mut self) {
        let addresses = &self.fsm.config().addresses;
        match self.addresses.add(addresses.iter()) {
            Ok(added) => debug!(added, "addresses added"),
            Err(error) => {
                warn!(%error, "adding the virtual addresses");
                self.count_error("add_address");
            }
        }
        for _ in 0..self.schedule.burst {
            self.announce_round();
        }
        self.announces_left = self.schedule.repeats;
        self.announce_at =
            (self.announces_left > 0).then(|| Instant::now() + self.schedule.interval);
    }

    /// A reconfigured Master: the removed addresses go, the added ones come and are
    /// announced at once, and the repeated announcements start over for the whole list.
    fn change_addresses(&mut self, added: &[IpAddr], removed: &[IpAddr]) {
        if let Err(error) = self.addresses.remove(removed.iter().copied()) {
            warn!(%error, "removing dropped virtual addresses");
            self.count_error("remove_address");
        }
        match self.addresses.add(added.iter().copied()) {
            Ok(count) => debug!(added = count, removed = removed.len(), "addresses changed"),
            Err(error) => {
                warn!(%error, "adding new virtual addresses");
                self.count_error("add_address");
            }
        }
        for _ in 0..self.schedule.burst {
            self.announce(added.iter().copied());
        }
        if !added.is_empty() {
            self.announces_left = self.schedule.repeats;
            self.announce_at =
                (self.announces_left > 0).then(|| Instant::now() + self.schedule.interval);
        }
    }

    fn release_addresses(&mut self) {
        self.announce_at = None;
        self.announces_left = 0;
        let addresses = &self.fsm.config().addresses;
        match self.addresses.remove(addresses.iter()) {
            Ok(0) => {}
            Ok(removed) => debug!(removed, "addresses removed"),
            Err(error) => {
                warn!(%error, "removing the virtual addresses");
                self.count_error("remove_address");
            }
        }
    }

    fn announce_round(&mut self) {
        let addresses: Vec<IpAddr> = self.fsm.config().addresses.iter().collect();
        self.announce(addresses.into_iter());
    }

    fn announce(&mut self, addresses: impl Iterator<Item = IpAddr>) {
        let mut failed = false;
        for address in addresses {
            if let Err(error) = self.segment.announcer.announce(address) {
                debug!(%address, %error, "announcing");
                failed = true;
            }
        }
        if failed {
            self.count_error("announce");
        }
    }

    fn report_state(&mut self) {
        let state = self.fsm.state();
        self.status.send_modify(|s| {
            s.state = state;
            s.transitions += 1;
        });
    }

    fn count_error(&mut self, what: &'static str) {
        self.status.send_if_modified(|s| {
            *s.errors.entry(what).or_default() += 1;
            false
        });
    }
}
