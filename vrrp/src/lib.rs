//! `vrrp`: VRRPv3 (RFC 5798) for IPv4 and IPv6, interoperable with keepalived.
//!
//! Herald's speakers hold layer-2 pool addresses with it: the master of a virtual
//! router adds the addresses to its interface and announces them with gratuitous ARP /
//! unsolicited NA; a backup takes over within Master_Down_Interval when the master goes
//! quiet, or after Skew_Time when it stops gracefully and sends priority 0.
//!
//! Modules, from the wire up; each uses only those before it:
//! - [`Centiseconds`]: the unit of every interval and timer (VRRPv3 counts hundredths
//!   of a second, so 10-100 ms adverts are exact);
//! - [`packet`]: the codec, pure. VRRPv3 adverts over IPv4 and IPv6 with the
//!   pseudo-header checksum, VRRPv2 adverts decoded for the logs, and a typed
//!   [`packet::DecodeError`] with a metric label for every refused packet;
//! - [`fsm`]: the RFC 5798 section 6 state machine of one virtual router, sans-IO:
//!   inputs in (Startup, Shutdown, a received advert, a fired timer), outputs out
//!   (send an advert, become Master or Backup, set or cancel a timer).
//! - [`driver`]: the I/O: raw sockets for protocol 112, timers, the virtual addresses on
//!   the interface (netlink), gratuitous ARP / unsolicited NA. One [`driver::Instance`]
//!   task per virtual router owns one [`fsm::Fsm`]; the instances on one interface and
//!   family share a [`driver::Segment`], whose one socket decodes each advert once.
//!   Nothing before it does I/O.
//!
//! Accept mode: a Herald master accepts traffic sent to its virtual addresses whether
//! or not [`fsm::Config::accept`] is set, because it adds them to the interface and
//! filters nothing, as keepalived does without `vrrp_strict`. Live changes of priority
//! and addresses go through [`driver::Instance::update`] ([`fsm::Input::Reconfigure`]).

mod centiseconds;
pub mod driver;
pub mod fsm;
pub mod packet;

pub use centiseconds::Centiseconds;
