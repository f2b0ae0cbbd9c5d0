//! The BGP-4 session state machine of RFC 4271 section 8, sans-IO.
//!
//! [`Fsm::handle`] takes one [`Input`] (an administrative event, a TCP event, a decoded
//! message, a timer expiry) and returns the [`Output`]s the driver carries out (connect,
//! send, close, start or stop a timer) plus what happened ([`Output::StateChanged`],
//! [`Output::Established`], received UPDATEs). No clock, socket or runtime in here:
//! timers are named by [`Timer`] and the driver says when one expires.
//!
//! One `Fsm` is one peer. It may hold two TCP connections at once (one we opened, one the
//! peer opened) until connection collision detection (section 6.8) keeps one of them;
//! connections are named by the driver's [`ConnId`]. The peer's state is the most
//! advanced state of its connections, or Idle/Connect/Active when it has none.

mod backoff;
mod open;
mod types;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::packet::iana::{cease_subcode, error_code, fsm_subcode};
use crate::packet::{Message, NotificationMsg};

use backoff::Backoff;
pub use backoff::MAX_CONNECT_RETRY;
pub use types::{
    ConnId, Direction, FsmConfig, Input, LARGE_HOLD_TIME, Negotiated, Output, Reason, SessionState,
    StopReason, Timer,
};

/// One TCP connection of the peer, from OpenSent on.
#[derive(Clone, Debug)]
struct Connection {
    id: ConnId,
    direction: Direction,
    local: SocketAddr,
    remote: SocketAddr,
    /// OpenSent, OpenConfirm or Established.
    state: SessionState,
    /// Set when the peer's OPEN has been accepted.
    session: Option<Negotiated>,
}

/// The state machine of one peer.
#[derive(Debug)]
pub struct Fsm {
    config: FsmConfig,
    /// Between ManualStart and ManualStop.
    started: bool,
    /// An outgoing connection attempt is in progress.
    connecting: bool,
    /// With no connection and no attempt: Idle (refuse connections) or Active (accept).
    waiting: SessionState,
    connections: Vec<Connection>,
    backoff: Backoff,
    /// Set the Restart State bit of graceful restart until a session is Established.
    restarting: bool,
    /// The state last reported with `StateChanged`.
    reported: SessionState,
    outputs: Vec<Output>,
    reason: Option<Reason>,
}

impl Fsm {
    pub fn new(config: FsmConfig) -> Self {
        let backoff = Backoff::new(config.connect_retry, config.jitter_seed);
        Fsm {
            config,
            started: false,
            connecting: false,
            waiting: SessionState::Idle,
            connections: Vec::new(),
            backoff,
            restarting: true,
            reported: SessionState::Idle,
            outputs: Vec::new(),
            reason: None,
        }
    }

    pub fn config(&self) -> &FsmConfig {
        &self.config
    }

    /// The peer's state: that of its most advanced connection, else Connect while an
    /// attempt runs, else Active or Idle.
    pub fn state(&self) -> SessionState {
        if let Some(state) = self.connections.iter().map(|c| c.state).max() {
            state
        } else if self.connecting {
            SessionState::Connect
        } else {
            self.waiting
        }
    }

    /// The parameters of the Established session, if there is one.
    pub fn established(&self) -> Option<(ConnId, &Negotiated)> {
        self.connections
            .iter()
            .find(|c| c.state == SessionState::Established)
            .and_then(|c| c.session.as_ref().map(|s| (c.id, s)))
    }

    /// Feed one input; returns what to do, in order.
    pub fn handle(&mut self, input: Input) -> Vec<Output> {
        self.reason = None;
        match input {
            Input::ManualStart => self.manual_start(),
            Input::ManualStop(reason) => self.manual_stop(reason),
            Input::TcpConnected {
                conn,
                local,
                remote,
            } => self.tcp_connected(conn, local, remote),
            Input::TcpConnectFailed => self.tcp_connect_failed(),
            Input::TcpAccepted {
                conn,
                local,
                remote,
            } => self.tcp_accepted(conn, local, remote),
            Input::TcpClosed { conn } => self.tcp_closed(conn),
            Input::MessageReceived { conn, message } => self.message_received(conn, message),
            Input::DecodeFailed { conn, error } => {
                // RFC 4271 sections 6.1-6.3 and 8.2.2 (events 21, 22, 28): NOTIFICATION, then
                // close; RFC 7606 cases that do not reset the session never get here.
                if self.find(conn).is_some() {
                    self.fail_connection(conn, NotificationMsg::from(&error));
                }
            }
            Input::TimerExpired(Timer::ConnectRetry) => self.connect_retry_expired(),
            Input::TimerExpired(Timer::Hold(conn)) => self.hold_expired(conn),
            Input::TimerExpired(Timer::Keepalive(conn)) => self.keepalive_expired(conn),
            Input::BfdDown => self.bfd_down(),
        }
        self.report_state();
        std::mem::take(&mut self.outputs)
    }

    /// Emits `StateChanged` if the state differs from the last one reported.
    fn report_state(&mut self) {
        let now = self.state();
        if now != self.reported {
            let reason = self.reason.take();
            self.outputs.push(Output::StateChanged {
                from: self.reported,
                to: now,
                reason,
            });
            self.reported = now;
        }
    }

    // ----------------------------------------------------------- administrative ---

    /// RFC 4271 section 8.2.2, Idle state, events 1 and 5: start connecting (or, for a
    /// passive peer, start listening) and run the ConnectRetryTimer.
    fn manual_start(&mut self) {
        if self.started {
            return;
        }
        self.started = true;
        self.backoff.reset();
        self.begin_attempt();
    }

    /// RFC 4271 section 8.2.2, event 2 in every state: NOTIFICATION Cease on each
    /// connection that has sent OPEN (none before a graceful restart, RFC 4724 section
    /// 4.2), close everything, stop timers, go Idle.
    fn manual_stop(&mut self, reason: StopReason) {
        if !self.started && self.connections.is_empty() {
            return;
        }
        self.started = false;
        let cease = reason.notification();
        for conn in self.connections.iter().map(|c| c.id).collect::<Vec<_>>() {
            if let Some(cease) = &cease {
                self.send(conn, Message::Notification(cease.clone()));
            }
            self.close(conn);
        }
        if self.connecting {
            self.connecting = false;
            self.outputs.push(Output::AbortConnect);
        }
        self.outputs.push(Output::StopTimer(Timer::ConnectRetry));
        self.waiting = SessionState::Idle;
        self.backoff.reset();
        self.reason = Some(Reason::ManualStop(reason));
    }

    /// Idle -> Connect (active peer: connect now) or Active (passive peer: wait).
    fn begin_attempt(&mut self) {
        if self.config.passive {
            // A passive peer listens and never connects, so it needs no ConnectRetryTimer.
            self.waiting = SessionState::Active;
            return;
        }
        self.waiting = SessionState::Active;
        self.connecting = true;
        self.outputs.push(Output::Connect);
        let after = self.backoff.current();
        self.outputs.push(Output::StartTimer {
            timer: Timer::ConnectRetry,
            after,
        });
    }

    /// After the last connection failed. A session that had got past OpenSent goes to
    /// Idle (section 8.2.2); the automatic restart of section 8.1.1 (without the optional
    /// damping of peer oscillations) takes it on to Active at once, where it accepts the
    /// peer's connection and, unless passive, connects itself again after a backoff delay.
    /// Refusing connections during the delay would make recovery wait for the peer's own
    /// connect-retry timer (120 s by default in FRR).
    fn schedule_retry(&mut self, via: SessionState) {
        if !self.started || !self.connections.is_empty() || self.connecting {
            return;
        }
        if via == SessionState::Idle {
            self.waiting = SessionState::Idle;
            self.report_state();
        }
        self.waiting = SessionState::Active;
        if self.config.passive {
            return;
        }
        let after = self.backoff.next_after_failure();
        self.outputs.push(Output::StartTimer {
            timer: Timer::ConnectRetry,
            after,
        });
    }

    // ---------------------------------------------------------------- TCP events ---

    /// RFC 4271 section 8.2.2, Connect state, events 16/17: stop the ConnectRetryTimer,
    /// send OPEN, set the hold timer to a large value, go to OpenSent.
    fn tcp_connected(&mut self, conn: ConnId, local: SocketAddr, remote: SocketAddr) {
        if !self.connecting || !self.started {
            // An attempt we already gave up on.
            self.close(conn);
            return;
        }
        self.connecting = false;
        self.outputs.push(Output::StopTimer(Timer::ConnectRetry));
        if self
            .connections
            .iter()
            .any(|c| c.state == SessionState::Established)
        {
            // Section 6.8: a connection colliding with an Established one is dropped.
            self.send(
                conn,
                Message::Notification(cease(cease_subcode::CONNECTION_COLLISION_RESOLUTION)),
            );
            self.close(conn);
            return;
        }
        self.open_connection(conn, Direction::Outgoing, local, remote);
    }

    /// RFC 4271 section 8.2.2, Connect state, event 18: the attempt failed; keep
    /// listening in Active and retry when the ConnectRetryTimer expires.
    fn tcp_connect_failed(&mut self) {
        if !self.connecting {
            return;
        }
        self.connecting = false;
        if self.connections.is_empty() {
            self.reason = Some(Reason::ConnectFailed);
            self.schedule_retry(SessionState::Active);
        } else {
            self.outputs.push(Output::StopTimer(Timer::ConnectRetry));
        }
    }

    /// A connection from the peer. A stopped peer (Idle) refuses it (section 8.2.2, Idle state); Connect and
    /// Active take it to OpenSent (events 16/17); with a connection already open it is the
    /// second connection of a collision (section 6.8), tracked until its OPEN arrives.
    fn tcp_accepted(&mut self, conn: ConnId, local: SocketAddr, remote: SocketAddr) {
        let refuse = !self.started
            || self.state() == SessionState::Idle
            || self.connections.len() >= 2
            || self.connections.iter().any(|c| {
                c.direction == Direction::Incoming && c.state != SessionState::Established
            });
        if refuse {
            // RFC 4486 section 4: Cease/Connection Rejected for a connection we do not want.
            self.send(
                conn,
                Message::Notification(cease(cease_subcode::CONNECTION_REJECTED)),
            );
            self.close(conn);
            return;
        }
        if self.connections.is_empty() && !self.connecting {
            self.outputs.push(Output::StopTimer(Timer::ConnectRetry));
        }
        self.open_connection(conn, Direction::Incoming, local, remote);
    }

    /// Event 18 on an open connection: OpenSent goes to Active (section 8.2.2, OpenSent
    /// state), OpenConfirm and Established go to Idle.
    fn tcp_closed(&mut self, conn: ConnId) {
        let Some(state) = self.find(conn).map(|c| c.state) else {
            return;
        };
        self.remove(conn);
        self.outputs.push(Output::Close { conn });
        self.reason = Some(Reason::ConnectionClosed);
        let via = if state == SessionState::OpenSent {
            SessionState::Active
        } else {
            SessionState::Idle
        };
        self.schedule_retry(via);
    }

    fn open_connection(
        &mut self,
        conn: ConnId,
        direction: Direction,
        local: SocketAddr,
        remote: SocketAddr,
    ) {
        self.connections.push(Connection {
            id: conn,
            direction,
            local,
            remote,
            state: SessionState::OpenSent,
            session: None,
        });
        let open = open::local_open(
            &self.config,
            self.config.graceful_restart.is_some() && self.restarting,
        );
        self.send(conn, Message::Open(open));
        self.outputs.push(Output::StartTimer {
            timer: Timer::Hold(conn),
            after: LARGE_HOLD_TIME,
        });
    }

    // ------------------------------------------------------------------- timers ---

    fn connect_retry_expired(&mut self) {
        if !self.started {
            return;
        }
        if self.connecting {
            if self.connections.is_empty() {
                // Section 8.2.2, Connect state, event 9: drop the attempt, restart the
                // timer, try again.
                self.outputs.push(Output::Connect);
                let after = self.backoff.next_after_failure();
                self.outputs.push(Output::StartTimer {
                    timer: Timer::ConnectRetry,
                    after,
                });
            } else {
                // The peer's connection is already under way: stop trying ours.
                self.connecting = false;
                self.outputs.push(Output::AbortConnect);
            }
            return;
        }
        if !self.connections.is_empty() {
            return;
        }
        // Section 8.2.2, Active state event 9 (and the automatic restart out of Idle,
        // section 8.1.1): connect again.
        self.begin_attempt();
    }

    /// Section 8.2.2, event 10 in OpenSent, OpenConfirm and Established: NOTIFICATION
    /// Hold Timer Expired, close, Idle.
    fn hold_expired(&mut self, conn: ConnId) {
        if self.find(conn).is_some() {
            let expired = NotificationMsg::new(error_code::HOLD_TIMER_EXPIRED, 0, Vec::new());
            self.fail_connection(conn, expired);
        }
    }

    /// RFC 9384 with RFC 5882 section 10.2: BFD says the path to the peer is gone, so
    /// every connection ends at once with Cease/BFD Down (sent in case the path still
    /// carries it), without waiting for the hold timer. The automatic restart follows as
    /// after any error; a new session may come up before BFD is Up again, as FRR's bgpd
    /// does by default, so a peer whose BFD is broken still gets its routes.
    fn bfd_down(&mut self) {
        let connections: Vec<ConnId> = self.connections.iter().map(|c| c.id).collect();
        for conn in connections {
            self.fail_connection(conn, cease(cease_subcode::BFD_DOWN));
        }
    }

    /// Section 8.2.2, event 11 in OpenConfirm and Established: send KEEPALIVE, restart.
    fn keepalive_expired(&mut self, conn: ConnId) {
        let Some(keepalive) = self
            .find(conn)
            .filter(|c| {
                matches!(
                    c.state,
                    SessionState::OpenConfirm | SessionState::Established
                )
            })
            .and_then(|c| c.session.as_ref())
            .map(|s| s.keepalive)
        else {
            return;
        };
        if keepalive == 0 {
            return;
        }
        self.send(conn, Message::Keepalive);
        self.outputs.push(Output::StartTimer {
            timer: Timer::Keepalive(conn),
            after: secs(keepalive),
        });
    }

    // ----------------------------------------------------------------- messages ---

    fn message_received(&mut self, conn: ConnId, message: Message) {
        let Some(state) = self.find(conn).map(|c| c.state) else {
            return;
        };
        match (state, message) {
            // NOTIFICATION in any state (section 8.2.2, events 24/25): close, Idle.
            (_, Message::Notification(notification)) => {
                self.remove(conn);
                self.outputs.push(Output::Close { conn });
                self.reason = Some(Reason::NotificationReceived(notification));
                self.schedule_retry(SessionState::Idle);
            }
            // Section 8.2.2, OpenSent state, event 19: check the OPEN, resolve collisions.
            (SessionState::OpenSent, Message::Open(open)) => self.open_received(conn, &open),
            // RFC 6608 section 4: any other message in OpenSent is an FSM error.
            (SessionState::OpenSent, _) => {
                self.fail_connection(conn, fsm_error(fsm_subcode::UNEXPECTED_MESSAGE_IN_OPENSENT));
            }
            // Section 8.2.2, OpenConfirm state, event 26: the session is up.
            (SessionState::OpenConfirm, Message::Keepalive) => self.keepalive_confirms(conn),
            // RFC 6608 section 4: OPEN, UPDATE or ROUTE-REFRESH in OpenConfirm.
            (SessionState::OpenConfirm, _) => {
                self.fail_connection(
                    conn,
                    fsm_error(fsm_subcode::UNEXPECTED_MESSAGE_IN_OPENCONFIRM),
                );
            }
            // Section 8.2.2, Established state, events 26/27: restart the hold timer.
            (SessionState::Established, Message::Keepalive) => self.restart_hold_timer(conn),
            (SessionState::Established, Message::Update(update)) => {
                self.restart_hold_timer(conn);
                self.outputs.push(Output::UpdateReceived { conn, update });
            }
            // RFC 2918 section 4 (RFC 7313 section 4 for the subtype): a refresh request for
            // a negotiated family; other families and BoRR/EoRR markers are ignored.
            (SessionState::Established, Message::RouteRefresh(refresh)) => {
                self.restart_hold_timer(conn);
                let negotiated = self
                    .find(conn)
                    .and_then(|c| c.session.as_ref())
                    .is_some_and(|s| s.families.contains(&refresh.family));
                if negotiated && refresh.subtype == 0 {
                    self.outputs.push(Output::RouteRefreshRequested {
                        conn,
                        family: refresh.family,
                    });
                }
            }
            // RFC 6608 section 4: OPEN on an Established connection.
            (SessionState::Established, Message::Open(_)) => {
                self.fail_connection(
                    conn,
                    fsm_error(fsm_subcode::UNEXPECTED_MESSAGE_IN_ESTABLISHED),
                );
            }
            (SessionState::Idle | SessionState::Connect | SessionState::Active, _) => {}
        }
    }

    /// The peer's OPEN on a connection in OpenSent (section 8.2.2, event 19; section 6.2
    /// checks; section 6.8 collision detection).
    fn open_received(&mut self, conn: ConnId, open: &crate::packet::OpenMsg) {
        let Some(connection) = self.find(conn) else {
            return;
        };
        let (direction, local, remote) =
            (connection.direction, connection.local, connection.remote);
        let session = match open::negotiate(&self.config, open, local, remote, direction) {
            Ok(session) => session,
            Err(notification) => {
                self.fail_connection(conn, notification);
                return;
            }
        };

        if let Some(other) = self.connections.iter().find(|c| c.id != conn).cloned() {
            if other.state == SessionState::Established {
                let helper = other
                    .session
                    .as_ref()
                    .is_some_and(|s| s.peer_graceful_restart.is_some())
                    && self.config.graceful_restart.is_some();
                if helper {
                    // RFC 4724 section 4.2: a new OPEN while the old session is Established
                    // means the peer restarted; close the old connection, keep the new one.
                    self.remove(other.id);
                    self.outputs.push(Output::Close { conn: other.id });
                    self.reason = Some(Reason::PeerRestarted);
                } else {
                    // Section 6.8: an Established connection wins a collision.
                    self.fail_connection(
                        conn,
                        cease(cease_subcode::CONNECTION_COLLISION_RESOLUTION),
                    );
                    return;
                }
            } else {
                // Section 6.8: keep the connection opened by the side with the higher BGP
                // Identifier (RFC 6286 section 2.3: the higher AS when they are equal).
                let keep = collision_winner(
                    self.config.router_id,
                    session.peer_id,
                    self.config.local_as,
                    session.peer_as,
                );
                let loser = if direction == keep { other.id } else { conn };
                self.fail_connection(loser, cease(cease_subcode::CONNECTION_COLLISION_RESOLUTION));
                // The peer's state follows the surviving connection: the closed one is
                // not why it changes.
                self.reason = None;
                if loser == conn {
                    return;
                }
            }
        }

        // Section 8.2.2, OpenSent state, event 19: KEEPALIVE, negotiated hold timer,
        // keepalive timer, OpenConfirm.
        let (hold, keepalive) = (session.hold_time, session.keepalive);
        if let Some(connection) = self.find_mut(conn) {
            connection.state = SessionState::OpenConfirm;
            connection.session = Some(session);
        }
        self.send(conn, Message::Keepalive);
        if hold == 0 {
            self.outputs.push(Output::StopTimer(Timer::Hold(conn)));
        } else {
            self.outputs.push(Output::StartTimer {
                timer: Timer::Hold(conn),
                after: secs(hold),
            });
            self.outputs.push(Output::StartTimer {
                timer: Timer::Keepalive(conn),
                after: secs(keepalive),
            });
        }
    }

    /// Section 8.2.2, OpenConfirm state, event 26: restart the hold timer, Established.
    fn keepalive_confirms(&mut self, conn: ConnId) {
        let Some(connection) = self.find_mut(conn) else {
            return;
        };
        connection.state = SessionState::Established;
        let Some(session) = connection.session.clone() else {
            return;
        };
        self.restart_hold_timer(conn);
        self.backoff.reset();
        self.restarting = false;
        if self.connecting {
            self.connecting = false;
            self.outputs.push(Output::AbortConnect);
        }
        self.outputs.push(Output::StopTimer(Timer::ConnectRetry));
        self.outputs.push(Output::Established { conn, session });
    }

    fn restart_hold_timer(&mut self, conn: ConnId) {
        let hold = self
            .find(conn)
            .and_then(|c| c.session.as_ref())
            .map_or(0, |s| s.hold_time);
        if hold > 0 {
            self.outputs.push(Output::StartTimer {
                timer: Timer::Hold(conn),
                after: secs(hold),
            });
        }
    }

    // ------------------------------------------------------------------ helpers ---

    /// Send `notification` on `conn`, close it, and retry later if it was the last one.
    fn fail_connection(&mut self, conn: ConnId, notification: NotificationMsg) {
        self.send(conn, Message::Notification(notification.clone()));
        self.remove(conn);
        self.outputs.push(Output::Close { conn });
        self.reason = Some(Reason::NotificationSent(notification));
        self.schedule_retry(SessionState::Idle);
    }

    fn send(&mut self, conn: ConnId, message: Message) {
        self.outputs.push(Output::Send { conn, message });
    }

    fn close(&mut self, conn: ConnId) {
        self.remove(conn);
        self.outputs.push(Output::Close { conn });
    }

    /// Forget a connection and stop its timers.
    fn remove(&mut self, conn: ConnId) {
        if let Some(index) = self.connections.iter().position(|c| c.id == conn) {
            self.connections.remove(index);
            self.outputs.push(Output::StopTimer(Timer::Hold(conn)));
            self.outputs.push(Output::StopTimer(Timer::Keepalive(conn)));
        }
    }

    fn find(&self, conn: ConnId) -> Option<&Connection> {
        self.connections.iter().find(|c| c.id == conn)
    }

    fn find_mut(&mut self, conn: ConnId) -> Option<&mut Connection> {
        self.connections.iter_mut().find(|c| c.id == conn)
    }
}

/// Which connection survives a collision (RFC 4271 section 6.8): the one opened by the
/// side with the higher BGP Identifier, compared as 4-octet unsigned integers; with
/// equal identifiers (allowed for eBGP, RFC 6286 section 2.3) the side with the higher AS.
pub fn collision_winner(
    local_id: Ipv4Addr,
    peer_id: Ipv4Addr,
    local_as: u32,
    peer_as: u32,
) -> Direction {
    let local_wins = match u32::from(local_id).cmp(&u32::from(peer_id)) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => local_as > peer_as,
    };
    if local_wins {
        Direction::Outgoing
    } else {
        Direction::Incoming
    }
}

fn cease(subcode: u8) -> NotificationMsg {
    NotificationMsg::cease(subcode)
}

fn fsm_error(subcode: u8) -> NotificationMsg {
    NotificationMsg::new(error_code::FSM, subcode, Vec::new())
}

fn secs(seconds: u16) -> Duration {
    Duration::from_secs(u64::from(seconds))
}
