//! The driver: carries the state machine's outputs out on a real interface (tokio,
//! Linux).
//!
//! - `sockopt`: the one `unsafe` spot, a link-layer socket address for ARP;
//! - `netlink`: a minimal rtnetlink client (links, addresses);
//! - [`address`](remove_stale): the virtual addresses on the interface, marked as
//!   Herald's;
//! - `socket`: the raw protocol-112 socket, multicast group joined on the interface;
//! - [`Segment`]: one such socket per (interface, family), each advert decoded once and
//!   handed to the instance of its VRID;
//! - `announce`: gratuitous ARP and unsolicited Neighbor Advertisements;
//! - [`Instance`]: one virtual router's task (see its module for the channels).

mod address;
mod announce;
mod error;
mod instance;
mod netlink;
mod segment;
mod socket;
mod sockopt;

pub use address::{ADDRESS_PROTO, LABEL_SUFFIX, remove_stale};
pub use error::DriverError;
pub use instance::{AnnounceSchedule, Instance, Options, Status, primary_address};
pub use segment::{Segment, SegmentStatus};
