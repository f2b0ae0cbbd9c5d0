//! The vocabulary of the state machine: states, settings, inputs, outputs, timers.

use std::fmt;
use std::net::IpAddr;

use crate::Centiseconds;
use crate::packet::{Advertisement, Family, VirtualAddresses};

/// The states of RFC 5798 section 6.4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Initialize,
    Backup,
    Master,
}

impl State {
    /// A stable label for metrics and `/status`.
    pub fn label(self) -> &'static str {
        match self {
            State::Initialize => "initialize",
            State::Backup => "backup",
            State::Master => "master",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Initialize => "Initialize",
            State::Backup => "Backup",
            State::Master => "Master",
        })
    }
}

/// The settings of one virtual router (RFC 5798 section 6.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// VRID, 1..=255.
    pub vrid: u8,
    /// 1..=255; 255 means we own the addresses (section 6.1: "Priority").
    pub priority: u8,
    /// Advertisement_Interval, 1..=4095 centiseconds (default 100).
    pub advert_interval: Centiseconds,
    /// The virtual addresses: at least 1, at most 255, of the family of
    /// `primary_address`.
    pub addresses: VirtualAddresses,
    /// Our address on the segment, the source of our adverts: the interface's primary
    /// IPv4 address, or its IPv6 link-local address (section 5.1.2.1). Ties of equal
    /// priority go to the larger one (section 6.4.3).
    pub primary_address: IpAddr,
    /// Preempt_Mode: a higher-priority backup takes over from a lower-priority master
    /// (default true).
    pub preempt: bool,
    /// How long a backup that could preempt lets a lower-priority master live first
    /// (not in RFC 5798; keepalived's `preempt_delay`). Zero: preempt at once.
    pub preempt_delay: Centiseconds,
    /// Accept_Mode (section 6.1): whether a master that does not own the addresses
    /// should accept packets sent to them (default false, as in the RFC).
    ///
    /// What Herald does: its master always accepts them, whatever this says. The
    /// driver adds the addresses to the interface, so the kernel delivers traffic for
    /// them like for any local address, and Herald installs no packet filter; this is
    /// what keepalived does without `vrrp_strict`. Services on a layer-2 pool need it:
    /// the address exists to be reached. The flag only travels to
    /// [`Output::BecomeMaster`] for the record.
    pub accept: bool,
    /// Drop adverts whose address list differs from ours (section 7.1 lets a router
    /// check; dropping is then a MUST unless the sender is the owner). Off by default:
    /// while the nodes' views of the cluster differ for a moment, two speakers may list
    /// different addresses for one VRID, and dropping would make both masters. When
    /// off, a mismatch is reported ([`Output::AddressMismatch`]) and the advert counts.
    pub strict_addresses: bool,
}

impl Config {
    /// A config with RFC 5798's defaults: 1 s adverts, preemption on, no preempt delay,
    /// accept mode off, address lists not enforced.
    pub fn new(
        vrid: u8,
        priority: u8,
        primary_address: IpAddr,
        addresses: VirtualAddresses,
    ) -> Self {
        Config {
            vrid,
            priority,
            advert_interval: Centiseconds(100),
            addresses,
            primary_address,
            preempt: true,
            preempt_delay: Centiseconds::ZERO,
            accept: false,
            strict_addresses: false,
        }
    }

    /// Every problem, not just the first.
    pub fn problems(&self) -> Vec<ConfigError> {
        let mut problems = Vec::new();
        if self.vrid == 0 {
            problems.push(ConfigError::VridZero);
        }
        if self.priority == 0 {
            problems.push(ConfigError::PriorityZero);
        }
        if !(1..=crate::packet::MAX_ADVERT_INTERVAL.get()).contains(&self.advert_interval.get()) {
            problems.push(ConfigError::AdvertInterval {
                interval: self.advert_interval,
            });
        }
        match self.addresses.len() {
            0 => problems.push(ConfigError::NoAddresses),
            1..=255 => {}
            count => problems.push(ConfigError::TooManyAddresses { count }),
        }
        let primary = match self.primary_address {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        };
        if primary != self.addresses.family() {
            problems.push(ConfigError::FamilyMismatch {
                primary,
                addresses: self.addresses.family(),
            });
        }
        problems
    }
}

/// A setting out of range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("VRID 0 is reserved")]
    VridZero,
    /// Priority 0 is what a stopping master sends (section 5.2.4).
    #[error("priority 0 is reserved")]
    PriorityZero,
    #[error("advertisement interval {interval} out of 0.01s..=40.95s")]
    AdvertInterval { interval: Centiseconds },
    #[error("no virtual addresses")]
    NoAddresses,
    #[error("{count} virtual addresses, an advert carries at most 255")]
    TooManyAddresses { count: usize },
    #[error("{addresses} virtual addresses with an {primary} primary address")]
    FamilyMismatch { primary: Family, addresses: Family },
    /// A running instance cannot become or stop being the address owner (priority
    /// 255): ownership is fixed when it starts (section 6.1).
    #[error("priority {from} -> {to} changes who owns the addresses; restart the instance")]
    OwnerChange { from: u8, to: u8 },
}

/// The timers of section 6.2, plus the preempt delay. Setting a timer replaces it if it
/// runs; the driver fires each one at most once per `SetTimer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// Master_Down_Timer: a backup's wait for the master's next advert.
    MasterDown,
    /// Adver_Timer: a master's next advert.
    Advert,
    /// A backup's wait before it preempts a lower-priority master.
    PreemptDelay,
}

/// One event for the state machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The Startup event (section 6.4.1): the instance is enabled.
    Startup,
    /// The Shutdown event (sections 6.4.2, 6.4.3): the instance is disabled or the
    /// speaker stops gracefully.
    Shutdown,
    /// A decoded advert for this VRID, with the source address of its IP header.
    AdvertReceived { from: IpAddr, advert: Advertisement },
    /// A timer set with [`Output::SetTimer`] ran out.
    TimerFired(Timer),
    /// New priority and virtual addresses for the running instance (not in RFC 5798).
    /// A Master stays Master: it takes the added addresses, drops the removed ones
    /// ([`Output::AddressesChanged`]) and advertises the change at once; a Backup or
    /// Initialize only records them (a Backup's Master_Down_Interval and Skew_Time
    /// follow the new priority from the next advert on). Rejected, changing nothing,
    /// with [`Output::ReconfigureRejected`] when the values fail [`Config::problems`]
    /// or would make the owner (255) a non-owner or the reverse.
    Reconfigure {
        priority: u8,
        addresses: VirtualAddresses,
    },
}

/// One thing for the driver to do or to record, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send an advert with this priority (ours, or 0 when stopping); the rest comes
    /// from [`super::Fsm::advertisement`].
    SendAdvert { priority: u8 },
    /// Entered Master: add the virtual addresses to the interface and send a
    /// gratuitous ARP (IPv4) or an unsolicited Neighbor Advertisement with the Router
    /// flag (IPv6) for each (sections 6.4.1, 6.4.2). `accept`: accept packets sent to
    /// the addresses (owner, or Accept_Mode; section 6.4.3). Herald's driver
    /// accepts in either case (see [`Config::accept`]).
    BecomeMaster {
        from: State,
        reason: Reason,
        accept: bool,
    },
    /// Entered Backup: remove the virtual addresses if the interface has them (after a
    /// crash it may, so the driver removes whatever it finds).
    BecomeBackup { from: State, reason: Reason },
    /// Entered Initialize: remove the virtual addresses if the interface has them.
    BecomeInitialize { from: State },
    /// Start `timer`, replacing it if it runs.
    SetTimer { timer: Timer, after: Centiseconds },
    /// Stop `timer` if it runs.
    CancelTimer(Timer),
    /// An advert was ignored; count it by [`Discard::label`].
    Discarded(Discard),
    /// An advert lists other addresses than ours (section 7.1: log it, flag the
    /// misconfiguration). Emitted with `strict_addresses` off, or from the owner.
    AddressMismatch { from: IpAddr },
    /// A Master was reconfigured: add `added` to the interface and announce them
    /// (gratuitous ARP / unsolicited NA), remove `removed`. Never both empty.
    AddressesChanged {
        added: Vec<IpAddr>,
        removed: Vec<IpAddr>,
    },
    /// [`Input::Reconfigure`] was refused; the instance runs on as before.
    ReconfigureRejected { problems: Vec<ConfigError> },
}

/// Why a state changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The Startup event.
    Startup,
    /// Master_Down_Timer fired: no advert from a master for Master_Down_Interval (or
    /// Skew_Time after a priority 0 advert).
    MasterDown,
    /// An advert from a router that wins the election over us (section 6.4.3).
    Preempted { by: IpAddr, priority: u8 },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Startup => f.write_str("startup"),
            Reason::MasterDown => f.write_str("master down"),
            Reason::Preempted { by, priority } => {
                write!(f, "preempted by {by} with priority {priority}")
            }
        }
    }
}

/// Why an advert was ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Discard {
    /// The instance is in Initialize.
    NotRunning,
    /// Another VRID: the driver routed it here by mistake.
    OtherVrid { vrid: u8 },
    /// Carried over the other address family.
    OtherFamily,
    /// Our own advert looped back.
    OwnAdvert,
    /// We own the addresses (priority 255) and ignore adverts (section 7.1).
    WeAreOwner,
    /// Its address list differs from ours and `strict_addresses` is on (section 7.1).
    AddressMismatch,
    /// Lower priority (or equal, with a smaller address) than ours, while we are master
    /// or a preempting backup (sections 6.4.2, 6.4.3).
    LowerPriority { priority: u8 },
}

impl Discard {
    /// Every label [`Discard::label`] can return.
    pub const LABELS: [&'static str; 7] = [
        "not_running",
        "other_vrid",
        "other_family",
        "own_advert",
        "we_are_owner",
        "address_mismatch",
        "lower_priority",
    ];

    /// The metric label; stable across releases.
    pub fn label(self) -> &'static str {
        Self::LABELS[match self {
            Discard::NotRunning => 0,
            Discard::OtherVrid { .. } => 1,
            Discard::OtherFamily => 2,
            Discard::OwnAdvert => 3,
            Discard::WeAreOwner => 4,
            Discard::AddressMismatch => 5,
            Discard::LowerPriority { .. } => 6,
        }]
    }
}
