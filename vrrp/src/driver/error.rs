//! What can stop the driver from starting or from carrying out an output.

use std::io;
use std::net::IpAddr;

use crate::fsm::ConfigError;
use crate::packet::Family;

/// A driver failure, with the metric label it is counted under.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The interface does not exist in this network namespace, or netlink could not
    /// look it up.
    #[error("interface {ifname}: {source}")]
    Interface {
        ifname: String,
        #[source]
        source: io::Error,
    },
    /// No address to send adverts from: no IPv4 address, or no usable IPv6 link-local
    /// address, on the interface.
    #[error("interface {ifname} has no {family} address to send adverts from")]
    NoPrimaryAddress { ifname: String, family: Family },
    /// Opening or setting up a socket failed (`what` names the step).
    #[error("{what}: {source}")]
    Socket {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    /// Adding, removing or listing addresses failed.
    #[error("netlink {what}: {source}")]
    Netlink {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    /// The virtual router's settings are out of range.
    #[error("invalid virtual router settings: {0:?}")]
    Config(Vec<ConfigError>),
    /// The instance task is gone (it panicked or was aborted).
    #[error("the instance task has stopped")]
    Stopped,
    /// Another instance on the segment runs this VRID.
    #[error("VRID {vrid} already runs on {ifname}")]
    VridInUse { ifname: String, vrid: u8 },
    /// The instance's primary address is not the one its segment sends from.
    #[error("primary address {instance} on a segment that sends from {segment}")]
    OtherPrimary { segment: IpAddr, instance: IpAddr },
}

impl DriverError {
    /// Every label [`DriverError::label`] can return.
    pub const LABELS: [&'static str; 8] = [
        "interface",
        "no_primary_address",
        "socket",
        "netlink",
        "config",
        "stopped",
        "vrid_in_use",
        "other_primary",
    ];

    /// The metric label; stable across releases.
    pub fn label(&self) -> &'static str {
        Self::LABELS[match self {
            DriverError::Interface { .. } => 0,
            DriverError::NoPrimaryAddress { .. } => 1,
            DriverError::Socket { .. } => 2,
            DriverError::Netlink { .. } => 3,
            DriverError::Config(_) => 4,
            DriverError::Stopped => 5,
            DriverError::VridInUse { .. } => 6,
            DriverError::OtherPrimary { .. } => 7,
        }]
    }

    pub(crate) fn socket(what: &'static str) -> impl FnOnce(io::Error) -> DriverError {
        move |source| DriverError::Socket { what, source }
    }

    pub(crate) fn netlink(what: &'static str) -> impl FnOnce(io::Error) -> DriverError {
        move |source| DriverError::Netlink { what, source }
    }
}
