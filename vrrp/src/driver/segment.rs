//! One segment: the interface and address family a set of virtual routers share, with
//! the one raw socket they receive adverts on.
//!
//! ```text
//!   raw socket (proto 112, ifname, family) --datagram--> segment task: decode once
//!        |  Err: rejects += 1           V2 / V3 by VRID: routes[vrid] --Delivery (mpsc)--> Runner
//!        |  VRID nobody runs: unknown_vrids += 1                                         (one per VRID)
//!        +<--- Runner::send_advert (shared socket, same primary address)
//!   Announcer (GARP / NA socket) shared the same way
//!   SegmentStatus (watch, counters updated silently)
//! ```
//!
//! With 255 virtual routers on an interface, one socket per router would receive and
//! decode every advert 255 times; the segment decodes each once and hands it to the
//! one router of its VRID. The segment lives as long as its [`Segment`] handle or any
//! instance started on it; its task stops when the last goes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{Instrument, debug, info_span, warn};

use super::announce::Announcer;
use super::error::DriverError;
use super::instance::{Instance, Options};
use super::netlink::Netlink;
use super::socket::{AdvertSocket, Datagram};
use crate::fsm::Config;
use crate::packet::{Advertisement, Family, Packet, RejectCounts, decode};

/// Adverts queued for one instance before the segment drops them (counted as
/// `overflows`): a burst of 64 for one VRID means the instance task is stuck.
const QUEUE: usize = 64;

/// What the segment hands an instance: a decoded advert of its VRID.
#[derive(Debug)]
pub(crate) enum Delivery {
    V3 {
        from: IpAddr,
        advert: Advertisement,
    },
    /// A VRRPv2 advert for our VRID: logged and counted, not obeyed.
    V2 {
        from: IpAddr,
    },
}

/// Counters of a segment's receive path (each packet counted once, whatever the
/// number of instances).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SegmentStatus {
    /// Datagrams read from the socket.
    pub received: u64,
    /// Packets the codec refused, by [`crate::packet::DecodeError::label`].
    pub rejects: RejectCounts,
    /// VRRPv2 adverts (logged, not obeyed; also counted by the instance of their VRID).
    pub v2_adverts: u64,
    /// Adverts for a VRID no instance on this segment runs (another router's).
    pub unknown_vrids: u64,
    /// Adverts dropped because their instance's queue was full.
    pub overflows: u64,
    /// Failed reads from the socket.
    pub receive_errors: u64,
    /// Instances running on the segment.
    pub instances: usize,
}

type Routes = Arc<Mutex<HashMap<u8, mpsc::Sender<Delivery>>>>;

/// What a segment's handle and its instances share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) ifname: String,
    pub(crate) index: u32,
    pub(crate) primary: IpAddr,
    pub(crate) socket: Arc<AdvertSocket>,
    pub(crate) announcer: Announcer,
    routes: Routes,
    status_tx: Arc<watch::Sender<SegmentStatus>>,
    status: watch::Receiver<SegmentStatus>,
    task: JoinHandle<()>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An instance's place in the routing table; leaving it frees the VRID.
#[derive(Debug)]
pub(crate) struct Route {
    routes: Routes,
    status: Arc<watch::Sender<SegmentStatus>>,
    vrid: u8,
    /// Our channel, so that we never remove a successor's entry.
    sender: mpsc::Sender<Delivery>,
}

impl Drop for Route {
    fn drop(&mut self) {
        let mut routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        if routes
            .get(&self.vrid)
            .is_some_and(|sender| sender.same_channel(&self.sender))
        {
            routes.remove(&self.vrid);
        }
        let count = routes.len();
        self.status.send_if_modified(|s| {
            s.instances = count;
            false
        });
    }
}

/// The receive socket of one (interface, family), shared by the virtual routers
/// started on it with [`Segment::start_instance`]. Cloning the handle is cheap.
#[derive(Clone, Debug)]
pub struct Segment {
    shared: Arc<Shared>,
}

impl Segment {
    /// Opens the raw socket on `ifname` for the family of `primary` and starts the
    /// receive task (on the current tokio runtime, whose thread must be in the
    /// interface's network namespace). `primary` is the address adverts are sent
    /// from, usually [`super::primary_address`]'s answer; every instance started on
    /// the segment must have it as its `primary_address`.
    pub fn open(ifname: &str, primary: IpAddr) -> Result<Segment, DriverError> {
        let netlink = Netlink::open().map_err(DriverError::netlink("open"))?;
        let link = netlink
            .link(ifname)
            .map_err(|source| DriverError::Interface {
                ifname: ifname.to_owned(),
                source,
            })?;
        let mac = link.mac.ok_or_else(|| DriverError::Interface {
            ifname: ifname.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::Unsupported, "no MAC address"),
        })?;
        let socket = Arc::new(AdvertSocket::open(ifname, link.index, primary)?);
        let announcer = Announcer::open(ifname, link.index, mac, primary.is_ipv6())?;
        let routes: Routes = Arc::new(Mutex::new(HashMap::new()));
        let (status_tx, status) = watch::channel(SegmentStatus::default());
        let status_tx = Arc::new(status_tx);
        let family = family_of(primary);
        let span = info_span!("vrrp_segment", ifname, family = %family);
        let task = tokio::spawn(
            receive(
                Arc::clone(&socket),
                Arc::clone(&routes),
                Arc::clone(&status_tx),
            )
            .instrument(span),
        );
        Ok(Segment {
            shared: Arc::new(Shared {
                ifname: ifname.to_owned(),
                index: link.index,
                primary,
                socket,
                announcer,
                routes,
                status_tx,
                status,
                task,
            }),
        })
    }

    /// Starts a virtual router on the segment. Fails with
    /// [`DriverError::VridInUse`] when an instance of this segment runs that VRID,
    /// and [`DriverError::OtherPrimary`] when `config.primary_address` is not the
    /// segment's. A VRID is free again once [`Instance::shutdown`] has returned (a
    /// dropped instance frees it when its aborted task is gone, a moment later).
    pub fn start_instance(
        &self,
        config: Config,
        options: Options,
    ) -> Result<Instance, DriverError> {
        if config.primary_address != self.shared.primary {
            return Err(DriverError::OtherPrimary {
                segment: self.shared.primary,
                instance: config.primary_address,
            });
        }
        Instance::start_on(Arc::clone(&self.shared), config, options)
    }

    /// The address adverts are sent from.
    pub fn primary(&self) -> IpAddr {
        self.shared.primary
    }

    pub fn family(&self) -> Family {
        family_of(self.shared.primary)
    }

    /// The counters; they change silently (`borrow()` for a snapshot).
    pub fn status(&self) -> watch::Receiver<SegmentStatus> {
        self.shared.status.clone()
    }
}

impl Shared {
    /// Claims `vrid` for a new instance; its adverts arrive on the receiver.
    pub(crate) fn route(&self, vrid: u8) -> Result<(Route, mpsc::Receiver<Delivery>), DriverError> {
        let mut routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        if routes.get(&vrid).is_some_and(|sender| !sender.is_closed()) {
            return Err(DriverError::VridInUse {
                ifname: self.ifname.clone(),
                vrid,
            });
        }
        let (sender, receiver) = mpsc::channel(QUEUE);
        routes.insert(vrid, sender.clone());
        let count = routes.len();
        self.status_tx.send_if_modified(|s| {
            s.instances = count;
            false
        });
        let route = Route {
            routes: Arc::clone(&self.routes),
            status: Arc::clone(&self.status_tx),
            vrid,
            sender,
        };
        Ok((route, receiver))
    }
}

fn family_of(address: IpAddr) -> Family {
    match address {
        IpAddr::V4(_) => Family::Ipv4,
        IpAddr::V6(_) => Family::Ipv6,
    }
}

/// The segment task: read, decode once, hand over by VRID.
async fn receive(
    socket: Arc<AdvertSocket>,
    routes: Routes,
    status: Arc<watch::Sender<SegmentStatus>>,
) {
    loop {
        match socket.recv().await {
            Ok(datagram) => dispatch(&datagram, &routes, &status),
            Err(error) => {
                warn!(%error, "receiving adverts");
                status.send_if_modified(|s| {
                    s.receive_errors += 1;
                    false
                });
            }
        }
    }
}

/// What became of a decoded advert.
enum Handed {
    Delivered,
    NoInstance,
    QueueFull,
}

fn dispatch(datagram: &Datagram, routes: &Routes, status: &watch::Sender<SegmentStatus>) {
    let from = datagram.header.source();
    let (vrid, delivery) = match decode(&datagram.payload, &datagram.header, datagram.hop_limit) {
        Ok(Packet::V3(advert)) => (advert.vrid, Delivery::V3 { from, advert }),
        Ok(Packet::V2(advert)) => {
            status.send_if_modified(|s| {
                s.v2_adverts += 1;
                false
            });
            (advert.vrid, Delivery::V2 { from })
        }
        Err(error) => {
            debug!(%from, %error, "advert refused");
            status.send_if_modified(|s| {
                s.received += 1;
                s.rejects.record(&error);
                false
            });
            return;
        }
    };
    let sender = routes
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&vrid)
        .cloned();
    let handed = match sender.map(|sender| sender.try_send(delivery)) {
        Some(Ok(())) => Handed::Delivered,
        Some(Err(mpsc::error::TrySendError::Full(_))) => Handed::QueueFull,
        None | Some(Err(mpsc::error::TrySendError::Closed(_))) => Handed::NoInstance,
    };
    status.send_if_modified(|s| {
        s.received += 1;
        match handed {
            Handed::Delivered => {}
            Handed::NoInstance => s.unknown_vrids += 1,
            Handed::QueueFull => s.overflows += 1,
        }
        false
    });
}
