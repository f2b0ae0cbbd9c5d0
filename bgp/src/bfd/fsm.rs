//! One BFD session in asynchronous mode (RFC 5880 section 6), sans-IO.
//!
//! The driver feeds a [`Session`] with received packets ([`Session::receive`]) and wakes
//! it at [`Session::next_deadline`] ([`Session::on_timer`]); both take the time as an
//! input and return an [`Output`]: at most one packet to send now and at most one state
//! change. No clock, socket or runtime in here, and no allocation: a session is a fixed
//! size value however often it flaps.
//!
//! Demand mode and the Echo function are not used (we advertise a Required Min Echo RX
//! Interval of 0 and never set D). Authentication is not supported.

use std::time::{Duration, Instant};

use super::packet::{ControlPacket, Diag, State};

/// Section 6.8.3: while the session is not Up, transmit no faster than once a second.
pub const SLOW_TX: Duration = Duration::from_secs(1);

/// The timers one side asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timers {
    /// bfd.DesiredMinTxInterval once Up.
    pub desired_min_tx: Duration,
    /// bfd.RequiredMinRxInterval.
    pub required_min_rx: Duration,
    /// bfd.DetectMult.
    pub detect_mult: u8,
}

impl Default for Timers {
    /// FRR's defaults: 300 ms x 3.
    fn default() -> Self {
        Timers {
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            detect_mult: 3,
        }
    }
}

/// A change of the local state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateChange {
    pub from: State,
    pub to: State,
    /// Why (bfd.LocalDiag after the change).
    pub diag: Diag,
    /// The peer went administratively down: not a failure of the path (RFC 5882
    /// section 3.2), so clients must not treat it as one.
    pub peer_admin_down: bool,
}

impl StateChange {
    /// Up -> Down because the path failed (detection time, or the peer saw a failure):
    /// what tears a BGP session down (RFC 9384).
    pub fn is_failure(&self) -> bool {
        self.from == State::Up && self.to == State::Down && !self.peer_admin_down
    }
}

/// What the driver does after one call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// Send this packet now.
    pub send: Option<ControlPacket>,
    pub changed: Option<StateChange>,
}

/// Why a received packet was dropped by the session (section 6.8.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Discard {
    #[error("your discriminator {received} is not ours ({ours})")]
    WrongDiscriminator { received: u32, ours: u32 },
    #[error("the session is administratively down")]
    AdminDown,
}

/// What the session has agreed with its peer, for status pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// The interval we transmit at (before jitter): the larger of our Desired Min TX and
    /// the peer's Required Min RX (section 6.8.2).
    pub tx_interval: Duration,
    /// The interval we expect packets at: the larger of our Required Min RX and the peer's
    /// Desired Min TX (section 6.8.4).
    pub rx_interval: Duration,
    /// The peer's multiplier times `rx_interval`: silence this long takes the session down.
    pub detection_time: Duration,
}

/// One BFD session (the state variables of section 6.8.1 plus its two timers).
#[derive(Clone, Debug)]
pub struct Session {
    timers: Timers,
    state: State,
    remote_state: State,
    local_discr: u32,
    remote_discr: u32,
    local_diag: Diag,
    remote_diag: Diag,
    /// bfd.RemoteMinRxInterval, µs (initialised to 1, section 6.8.1).
    remote_min_rx_us: u32,
    remote_desired_min_tx_us: u32,
    remote_detect_mult: u8,
    /// What our packets advertise: Desired Min TX and Required Min RX, µs.
    advertised_tx_us: u32,
    advertised_rx_us: u32,
    /// What our timing uses until a Poll Sequence confirms a change (section 6.8.3).
    effective_tx_us: u32,
    effective_rx_us: u32,
    polling: bool,
    admin_down: bool,
    next_tx: Instant,
    last_tx: Instant,
    detect_deadline: Option<Instant>,
    rng: u64,
    flaps: u64,
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX).max(1)
}

fn from_micros(us: u32) -> Duration {
    Duration::from_micros(u64::from(us))
}

impl Session {
    /// A session in Down that sends its first packet at `now`. `local_discr` must be
    /// non-zero and unique among the driver's sessions; `seed` seeds the jitter.
    pub fn new(timers: Timers, local_discr: u32, seed: u64, now: Instant) -> Session {
        let mut session = Session {
            timers,
            state: State::Down,
            remote_state: State::Down,
            local_discr,
            remote_discr: 0,
            local_diag: Diag::NONE,
            remote_diag: Diag::NONE,
            remote_min_rx_us: 1,
            remote_desired_min_tx_us: 0,
            remote_detect_mult: 0,
            advertised_tx_us: 0,
            advertised_rx_us: 0,
            effective_tx_us: 0,
            effective_rx_us: 0,
            polling: false,
            admin_down: false,
            next_tx: now,
            last_tx: now,
            detect_deadline: None,
            rng: seed | 1,
            flaps: 0,
        };
        session.update_advertised(now);
        session.next_tx = now;
        session
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn remote_state(&self) -> State {
        self.remote_state
    }

    pub fn local_diag(&self) -> Diag {
        self.local_diag
    }

    pub fn remote_diag(&self) -> Diag {
        self.remote_diag
    }

    pub fn local_discriminator(&self) -> u32 {
        self.local_discr
    }

    pub fn remote_discriminator(&self) -> u32 {
        self.remote_discr
    }

    pub fn timers(&self) -> Timers {
        self.timers
    }

    /// How often the session went from Up to Down.
    pub fn flaps(&self) -> u64 {
        self.flaps
    }

    /// A Poll Sequence is running.
    pub fn polling(&self) -> bool {
        self.polling
    }

    pub fn negotiated(&self) -> Negotiated {
        let rx = self.effective_rx_us.max(self.remote_desired_min_tx_us);
        Negotiated {
            tx_interval: from_micros(self.tx_interval_us()),
            rx_interval: from_micros(rx),
            detection_time: from_micros(rx) * u32::from(self.remote_detect_mult),
        }
    }

    /// When the driver must call [`Session::on_timer`] next.
    pub fn next_deadline(&self) -> Instant {
        match self.detect_deadline {
            Some(detect) => detect.min(self.next_tx),
            None => self.next_tx,
        }
    }

    /// Section 6.8.6: one packet that passed [`ControlPacket::decode`] and was
    /// demultiplexed to this session.
    pub fn receive(&mut self, packet: &ControlPacket, now: Instant) -> Result<Output, Discard> {
        if packet.your_discriminator != 0 && packet.your_discriminator != self.local_discr {
            return Err(Discard::WrongDiscriminator {
                received: packet.your_discriminator,
                ours: self.local_discr,
            });
        }
        self.remote_discr = packet.my_discriminator;
        self.remote_state = packet.state;
        self.remote_diag = packet.diag;
        self.remote_min_rx_us = packet.required_min_rx_us;
        // A peer that lowers its Desired Min TX with a Poll may go on sending at the old
        // rate until our Final reaches it and its transmit timer next runs (FRR does):
        // until a packet without Poll, the detection time keeps the slower rate.
        let previous_tx_us = self.remote_desired_min_tx_us;
        self.remote_desired_min_tx_us = packet.desired_min_tx_us;
        self.remote_detect_mult = packet.detect_mult;
        let mut output = Output::default();
        if packet.final_ && self.polling {
            // Section 6.8.3: the Poll Sequence is over, the new values apply.
            self.polling = false;
            self.effective_tx_us = self.advertised_tx_us;
            self.effective_rx_us = self.advertised_rx_us;
        }
        if self.admin_down {
            return Err(Discard::AdminDown);
        }
        let peer_admin_down = packet.state == State::AdminDown;
        let next = if peer_admin_down {
            (self.state != State::Down)
                .then_some((State::Down, Diag::NEIGHBOR_SIGNALED_SESSION_DOWN))
        } else {
            match (self.state, packet.state) {
                (State::Down, State::Down) => Some((State::Init, Diag::NONE)),
                (State::Down, State::Init) | (State::Init, State::Init | State::Up) => {
                    Some((State::Up, Diag::NONE))
                }
                (State::Up, State::Down) => {
                    Some((State::Down, Diag::NEIGHBOR_SIGNALED_SESSION_DOWN))
                }
                _ => None,
            }
        };
        // Section 6.8.4: every packet not discarded restarts the detection timer.
        let mut detection = self.negotiated().detection_time;
        if packet.poll && previous_tx_us > packet.desired_min_tx_us {
            let slower = self.effective_rx_us.max(previous_tx_us);
            detection = from_micros(slower) * u32::from(self.remote_detect_mult);
        }
        self.detect_deadline = Some(now + detection);
        if let Some((to, diag)) = next {
            output.changed = Some(self.change_state(to, diag, peer_admin_down, now));
        }
        self.reschedule_tx();
        if packet.poll {
            // Section 6.8.6: answer a Poll with Final at once, without waiting for the
            // transmit timer.
            let mut answer = self.packet();
            answer.poll = false;
            answer.final_ = true;
            output.send = Some(answer);
        } else if output.changed.is_some() {
            // Tell the peer of our new state now rather than at the next periodic packet.
            output.send = Some(self.transmitted(now));
        }
        Ok(output)
    }

    /// The detection timer and the transmit timer; call at or after
    /// [`Session::next_deadline`].
    pub fn on_timer(&mut self, now: Instant) -> Output {
        let mut output = Output::default();
        if self.detect_deadline.is_some_and(|deadline| deadline <= now) {
            // Section 6.8.4: the remote system is gone; forget it (6.8.1: bfd.RemoteDiscr
            // back to zero, bfd.RemoteMinRxInterval to its initial value).
            self.detect_deadline = None;
            self.remote_discr = 0;
            self.remote_state = State::Down;
            self.remote_min_rx_us = 1;
            if matches!(self.state, State::Init | State::Up) {
                output.changed = Some(self.change_state(
                    State::Down,
                    Diag::CONTROL_DETECTION_TIME_EXPIRED,
                    false,
                    now,
                ));
                output.send = Some(self.transmitted(now));
                return output;
            }
        }
        if self.next_tx <= now && self.remote_min_rx_us != 0 {
            output.send = Some(self.transmitted(now));
        } else if self.remote_min_rx_us == 0 && self.next_tx <= now {
            // Section 6.8.7: the peer asked for no periodic packets; look again later.
            self.next_tx = now + SLOW_TX;
        }
        output
    }

    /// New timers (a configuration change). Section 6.8.3: while Up, a Poll Sequence
    /// confirms the change, and a slower transmit interval or a faster receive interval
    /// takes effect only once it is over.
    pub fn set_timers(&mut self, timers: Timers, now: Instant) {
        self.timers = timers;
        self.update_advertised(now);
    }

    /// Section 6.8.16: stop the session administratively. Returns the packet that tells
    /// the peer (AdminDown, diag 7); the driver may send it a few times before dropping
    /// the session.
    pub fn admin_down(&mut self, now: Instant) -> Output {
        let mut output = Output::default();
        if !self.admin_down {
            self.admin_down = true;
            output.changed =
                Some(self.change_state(State::AdminDown, Diag::ADMINISTRATIVELY_DOWN, false, now));
        }
        output.send = Some(self.transmitted(now));
        output
    }

    fn change_state(
        &mut self,
        to: State,
        diag: Diag,
        peer_admin_down: bool,
        now: Instant,
    ) -> StateChange {
        let from = self.state;
        self.state = to;
        self.local_diag = diag;
        if from == State::Up && to != State::Up {
            self.flaps += 1;
        }
        if to != State::Up {
            self.polling = false;
        }
        self.update_advertised(now);
        StateChange {
            from,
            to,
            diag,
            peer_admin_down,
        }
    }

    /// Section 6.8.3: Desired Min TX of at least one second while not Up; a Poll Sequence
    /// for every change while Up.
    fn update_advertised(&mut self, now: Instant) {
        let configured_tx = micros(self.timers.desired_min_tx);
        let tx = if self.state == State::Up {
            configured_tx
        } else {
            configured_tx.max(micros(SLOW_TX))
        };
        let rx = micros(self.timers.required_min_rx);
        if tx == self.advertised_tx_us && rx == self.advertised_rx_us {
            return;
        }
        let previous_tx = self.effective_tx_us;
        let previous_rx = self.effective_rx_us;
        self.advertised_tx_us = tx;
        self.advertised_rx_us = rx;
        if self.state == State::Up {
            self.polling = true;
            // Faster transmission and slower reception are safe at once; the opposite
            // waits for the Final.
            if tx < previous_tx {
                self.effective_tx_us = tx;
            }
            if rx > previous_rx {
                self.effective_rx_us = rx;
            }
        } else {
            self.effective_tx_us = tx;
            self.effective_rx_us = rx;
        }
        self.reschedule_tx();
        let _ = now;
    }

    /// Section 6.8.2: the larger of our Desired Min TX and the peer's Required Min RX.
    fn tx_interval_us(&self) -> u32 {
        self.effective_tx_us.max(self.remote_min_rx_us)
    }

    /// After an interval changed: the next periodic packet is one (jittered) new
    /// interval after the last one, if that is sooner than planned.
    fn reschedule_tx(&mut self) {
        let next = self.last_tx + self.jittered(self.tx_interval_us());
        if next < self.next_tx {
            self.next_tx = next;
        }
    }

    /// The packet to send now, with the transmit timer restarted.
    fn transmitted(&mut self, now: Instant) -> ControlPacket {
        self.last_tx = now;
        self.next_tx = now + self.jittered(self.tx_interval_us());
        self.packet()
    }

    fn packet(&self) -> ControlPacket {
        ControlPacket {
            diag: self.local_diag,
            state: self.state,
            poll: self.polling,
            final_: false,
            control_plane_independent: false,
            demand: false,
            detect_mult: self.timers.detect_mult,
            my_discriminator: self.local_discr,
            your_discriminator: self.remote_discr,
            desired_min_tx_us: self.advertised_tx_us,
            required_min_rx_us: self.advertised_rx_us,
            required_min_echo_rx_us: 0,
        }
    }

    /// Section 6.8.7: 75 to 100 % of the interval, 75 to 90 % with a multiplier of 1.
    fn jittered(&mut self, interval_us: u32) -> Duration {
        // xorshift64*: cheap, and good enough to decorrelate transmissions.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let random = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32;
        let span = if self.timers.detect_mult == 1 { 15 } else { 25 };
        // Per mille of the interval in [750, 750 + span * 10].
        let permille = 750 + random % (span * 10 + 1);
        Duration::from_micros(u64::from(interval_us) * permille / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn timers(tx: u64, rx: u64, mult: u8) -> Timers {
        Timers {
            desired_min_tx: ms(tx),
            required_min_rx: ms(rx),
            detect_mult: mult,
        }
    }

    /// Two sessions wired back to back with no delay, driven by a synthetic clock.
    struct Link {
        a: Session,
        b: Session,
        now: Instant,
        /// Every packet a sent, with its time.
        sent_by_a: Vec<(Instant, ControlPacket)>,
        sent_by_b: Vec<(Instant, ControlPacket)>,
        changes_a: Vec<StateChange>,
        changes_b: Vec<StateChange>,
        /// Packets from b to a are lost while set (a link cut one way, or b frozen).
        b_silent: bool,
    }

    impl Link {
        fn new(a: Timers, b: Timers) -> Link {
            let now = Instant::now();
            Link {
                a: Session::new(a, 0x0a, 1, now),
                b: Session::new(b, 0x0b, 2, now + ms(3)),
                now,
                sent_by_a: vec![],
                sent_by_b: vec![],
                changes_a: vec![],
                changes_b: vec![],
                b_silent: false,
            }
        }

        fn deliver(&mut self, from_a: bool, packet: ControlPacket) {
            let now = self.now;
            if from_a {
                self.sent_by_a.push((now, packet));
                if let Ok(out) = self.b.receive(&packet, now) {
                    self.handle(false, out);
                }
            } else {
                self.sent_by_b.push((now, packet));
                if self.b_silent {
                    return;
                }
                if let Ok(out) = self.a.receive(&packet, now) {
                    self.handle(true, out);
                }
            }
        }

        fn handle(&mut self, is_a: bool, out: Output) {
            if let Some(change) = out.changed {
                if is_a {
                    self.changes_a.push(change);
                } else {
                    self.changes_b.push(change);
                }
            }
            if let Some(packet) = out.send {
                self.deliver(is_a, packet);
            }
        }

        /// Runs both timers until `until` after the link's start.
        fn run_for(&mut self, duration: Duration) {
            let end = self.now + duration;
            loop {
                let (next_a, next_b) = (self.a.next_deadline(), self.b.next_deadline());
                let next = next_a.min(next_b);
                if next > end {
                    self.now = end;
                    return;
                }
                self.now = self.now.max(next);
                if next_a <= next_b {
                    let out = self.a.on_timer(self.now);
                    self.handle(true, out);
                } else if self.b_silent {
                    // A frozen peer: its timers do not run either.
                    let out = self.b.on_timer(self.now);
                    if let Some(change) = out.changed {
                        self.changes_b.push(change);
                    }
                } else {
                    let out = self.b.on_timer(self.now);
                    self.handle(false, out);
                }
            }
        }
    }

    #[test]
    fn new_session_sends_down_at_once_with_slow_tx_advertised() {
        let now = Instant::now();
        let mut session = Session::new(timers(20, 20, 3), 7, 1, now);
        assert_eq!(session.next_deadline(), now);
        let packet = session.on_timer(now).send.expect("first packet");
        assert_eq!(packet.state, State::Down);
        assert_eq!(packet.my_discriminator, 7);
        assert_eq!(packet.your_discriminator, 0);
        // Section 6.8.3: at least 1 s while not Up; Required Min RX as configured.
        assert_eq!(packet.desired_min_tx_us, 1_000_000);
        assert_eq!(packet.required_min_rx_us, 20_000);
        assert_eq!(packet.detect_mult, 3);
        assert!(!packet.poll && !packet.final_ && !packet.demand);
    }

    #[test]
    fn session_alone_transmits_about_once_a_second() {
        let now = Instant::now();
        let mut session = Session::new(timers(20, 20, 3), 7, 1, now);
        let _ = session.on_timer(now);
        let next = session.next_deadline() - now;
        assert!(next >= ms(750) && next <= ms(1000), "{next:?}");
    }

    #[test]
    fn three_way_handshake_brings_both_sides_up() {
        let mut link = Link::new(timers(20, 20, 3), timers(20, 20, 3));
        link.run_for(ms(10));
        assert_eq!(link.a.state(), State::Up);
        assert_eq!(link.b.state(), State::Up);
        // a spoke first: b answered its Down with Init, which a's Down takes straight to Up.
        let a: Vec<(State, State)> = link.changes_a.iter().map(|c| (c.from, c.to)).collect();
        assert_eq!(a, [(State::Down, State::Up)]);
        let b: Vec<(State, State)> = link.changes_b.iter().map(|c| (c.from, c.to)).collect();
        assert_eq!(b, [(State::Down, State::Init), (State::Init, State::Up)]);
        assert_eq!(link.a.remote_discriminator(), 0x0b);
        assert_eq!(link.b.remote_discriminator(), 0x0a);
    }

    #[test]
    fn down_packet_moves_down_to_init_and_init_packet_moves_down_to_up() {
        let now = Instant::now();
        let mut session = Session::new(timers(20, 20, 3), 1, 1, now);
        let peer = ControlPacket {
            diag: Diag::NONE,
            state: State::Down,
            poll: false,
            final_: false,
            control_plane_independent: false,
            demand: false,
            detect_mult: 3,
            my_discriminator: 9,
            your_discriminator: 0,
            desired_min_tx_us: 1_000_000,
            required_min_rx_us: 20_000,
            required_min_echo_rx_us: 0,
        };
        let out = session.receive(&peer, now).expect("accepted");
        assert_eq!(out.changed.map(|c| c.to), Some(State::Init));
        let told = out.send.expect("state change is sent at once");
        assert_eq!((told.state, told.your_discriminator), (State::Init, 9));

        let mut other = Session::new(timers(20, 20, 3), 2, 1, now);
        let init = ControlPacket {
            state: State::Init,
            your_discriminator: 2,
            ..peer
        };
        let out = other.receive(&init, now).expect("accepted");
        assert_eq!(out.changed.map(|c| c.to), Some(State::Up));
    }

    #[test]
    fn silence_for_the_detection_time_takes_an_up_session_down_with_diag_1() {
        let mut link = Link::new(timers(20, 20, 3), timers(20, 20, 3));
        link.run_for(ms(500));
        assert_eq!(link.a.state(), State::Up);
        link.b_silent = true;
        let silent_from = link.now;
        link.run_for(ms(200));
        let change = *link.changes_a.last().expect("a changed state");
        assert_eq!((change.from, change.to), (State::Up, State::Down));
        assert_eq!(change.diag, Diag::CONTROL_DETECTION_TIME_EXPIRED);
        assert!(change.is_failure());
        assert_eq!(link.a.flaps(), 1);
        // The last packet from b reached a at most 20 ms (one interval) before the cut;
        // the detection time is 3 x 20 ms = 60 ms.
        let (went_down, _) = *link
            .sent_by_a
            .iter()
            .find(|(_, p)| p.state == State::Down && p.diag == Diag::CONTROL_DETECTION_TIME_EXPIRED)
            .expect("a told b it went down");
        let after = went_down - silent_from;
        assert!(after > ms(40) && after <= ms(60), "{after:?}");
        // Down again: back to the slow rate, the remote forgotten.
        assert_eq!(link.a.remote_discriminator(), 0);
        assert_eq!(link.a.packet().desired_min_tx_us, 1_000_000);
    }

    #[test]
    fn detection_time_is_the_remote_multiplier_times_the_slower_interval() {
        // a wants to receive every 20 ms, b sends no faster than 100 ms, with multiplier 5.
        let mut link = Link::new(timers(20, 20, 3), timers(100, 100, 5));
        link.run_for(ms(3000));
        assert_eq!(link.a.state(), State::Up);
        let negotiated = link.a.negotiated();
        assert_eq!(negotiated.rx_interval, ms(100));
        assert_eq!(negotiated.detection_time, ms(500));
    }

    #[test]
    fn both_sides_transmit_at_the_slower_sides_interval() {
        // Herald at 20 ms, the peer at 100 ms: both must send every 100 ms (sections 6.8.2
        // and 6.8.7), after the Poll Sequences that follow Up.
        let mut link = Link::new(timers(20, 20, 3), timers(100, 100, 3));
        link.run_for(ms(3000));
        assert_eq!(link.a.negotiated().tx_interval, ms(100));
        assert_eq!(link.b.negotiated().tx_interval, ms(100));
        assert!(!link.a.polling() && !link.b.polling());
        let start = link.now;
        link.run_for(ms(2000));
        let periodic: Vec<Instant> = link
            .sent_by_a
            .iter()
            .filter(|(at, p)| *at >= start && !p.final_)
            .map(|(at, _)| *at)
            .collect();
        for pair in periodic.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(gap >= ms(75) && gap <= ms(100), "gap {gap:?}");
        }
        // Two seconds at 75-100 ms: 20 to 27 packets.
        assert!((20..=27).contains(&periodic.len()), "{}", periodic.len());
    }

    #[test]
    fn going_up_starts_a_poll_sequence_that_the_peers_final_ends() {
        let mut link = Link::new(timers(20, 20, 3), timers(20, 20, 3));
        link.run_for(ms(5));
        assert_eq!(link.a.state(), State::Up);
        link.run_for(ms(100));
        let polls = link.sent_by_a.iter().filter(|(_, p)| p.poll).count();
        let finals = link.sent_by_b.iter().filter(|(_, p)| p.final_).count();
        assert!(polls >= 1 && finals >= 1, "polls {polls} finals {finals}");
        assert!(!link.a.polling());
        // Once Up, the fast interval is advertised.
        let (_, last) = link.sent_by_a.last().expect("packets");
        assert_eq!(last.desired_min_tx_us, 20_000);
        assert!(!last.poll);
    }

    #[test]
    fn a_peer_lowering_its_interval_by_poll_keeps_the_old_detection_time_until_its_next_packet() {
        let mut link = Link::new(timers(20, 20, 3), timers(1000, 20, 3));
        link.run_for(ms(3000));
        assert_eq!(link.a.negotiated().rx_interval, ms(1000));
        // b now asks for 20 ms, by Poll, but (like FRR) keeps its 1 s timer running.
        let now = link.now;
        let poll = ControlPacket {
            poll: true,
            desired_min_tx_us: 20_000,
            your_discriminator: link.a.local_discriminator(),
            ..link.b.packet()
        };
        link.a.receive(&poll, now).expect("accepted");
        assert_eq!(link.a.negotiated().detection_time, ms(60));
        // Silence of 900 ms (b's next periodic packet at its old rate) is no failure.
        let _ = link.a.on_timer(now + ms(900));
        assert_eq!(link.a.state(), State::Up);
        // The next packet, without Poll, brings the short detection time in.
        let plain = ControlPacket {
            poll: false,
            ..poll
        };
        link.a.receive(&plain, now + ms(950)).expect("accepted");
        let _ = link.a.on_timer(now + ms(1020));
        assert_eq!(link.a.state(), State::Down);
    }

    #[test]
    fn a_poll_is_answered_with_final_at_once_and_never_with_both_bits() {
        let now = Instant::now();
        let mut link = Link::new(timers(20, 20, 3), timers(20, 20, 3));
        link.run_for(ms(200));
        let poll = ControlPacket {
            poll: true,
            your_discriminator: link.a.local_discriminator(),
            ..link.b.packet()
        };
        let out = link.a.receive(&poll, now + ms(201)).expect("accepted");
        let answer = out.send.expect("Final sent at once");
        assert!(answer.final_ && !answer.poll);
    }

    #[test]
    fn slower_transmission_waits_for_the_final() {
        let mut link = Link::new(timers(20, 20, 3), timers(20, 20, 3));
        link.run_for(ms(200));
        // Reconfigure without delivering anything: the old rate holds while polling.
        let now = link.now;
        link.a.set_timers(timers(200, 20, 3), now);
        assert!(link.a.polling());
        assert_eq!(link.a.negotiated().tx_interval, ms(20));
        assert_eq!(link.a.packet().desired_min_tx_us, 200_000);
        link.run_for(ms(100));
        assert!(!link.a.polling());
        assert_eq!(link.a.negotiated().tx_interval, ms(200));
        assert_eq!(link.a.state(), State::Up);
        assert_eq!(link.b.state(), State::Up);
    }

    #[test]
    fn jitter_keeps_intervals_between_75_and_100_percent() {
        let now = Instant::now();
        let mut session = Session::new(timers(20, 20, 3), 1, 42, now);
        for _ in 0..10_000 {
            let d = session.jittered(100_000);
            assert!(d >= ms(75) && d <= ms(100), "{d:?}");
        }
    }

    #[test]
    fn jitter_with_multiplier_1_stays_at_or_below_90_percent() {
        let now = Instant::now();
        let mut session = Session::new(timers(20, 20, 1), 1, 42, now);
        let (mut low, mut high) = (ms(1000), ms(0));
        for _ in 0..10_000 {
            let d = session.jittered(100_000);
            low = low.min(d);
            high = high.max(d);
        }
        assert!(low >= ms(75) && high <= ms(90), "{low:?}..{high:?}");
        assert!(
            low < ms(77) && high > ms(88),
            "the range is used: {low:?}..{high:?}"
        );
    }

    #[test]
    fn peer_going_admin_down_is_not_a_failure() {
        let mut link = Link::new(timers(20, 20, 3), timers(20, 20, 3));
        link.run_for(ms(200));
        let now = link.now;
        let out = link.b.admin_down(now);
        link.handle(false, out);
        let change = *link.changes_a.last().expect("a went down");
        assert_eq!((change.from, change.to), (State::Up, State::Down));
        assert_eq!(change.diag, Diag::NEIGHBOR_SIGNALED_SESSION_DOWN);
        assert!(change.peer_admin_down && !change.is_failure());
        let last_b = link.sent_by_b.last().expect("b told a").1;
        assert_eq!(
            (last_b.state, last_b.diag),
            (State::AdminDown, Diag::ADMINISTRATIVELY_DOWN)
        );
    }

    #[test]
    fn peer_reporting_down_takes_an_up_session_down_as_a_failure() {
        let mut link = Link::new(timers(20, 20, 3), timers(20, 20, 3));
        link.run_for(ms(200));
        let down = ControlPacket {
            state: State::Down,
            diag: Diag::CONTROL_DETECTION_TIME_EXPIRED,
            your_discriminator: 0,
            ..link.b.packet()
        };
        let out = link.a.receive(&down, link.now).expect("accepted");
        let change = out.changed.expect("changed");
        assert_eq!(change.diag, Diag::NEIGHBOR_SIGNALED_SESSION_DOWN);
        assert!(change.is_failure());
    }

    #[test]
    fn packet_for_another_discriminator_is_discarded() {
        let now = Instant::now();
        let mut session = Session::new(timers(20, 20, 3), 5, 1, now);
        let mut link = Link::new(timers(20, 20, 3), timers(20, 20, 3));
        link.run_for(ms(100));
        let stray = ControlPacket {
            your_discriminator: 6,
            ..link.b.packet()
        };
        assert_eq!(
            session.receive(&stray, now),
            Err(Discard::WrongDiscriminator {
                received: 6,
                ours: 5
            })
        );
        assert_eq!(session.state(), State::Down);
    }

    #[test]
    fn admin_down_session_ignores_the_peer() {
        let mut link = Link::new(timers(20, 20, 3), timers(20, 20, 3));
        link.run_for(ms(100));
        let now = link.now;
        let out = link.a.admin_down(now);
        assert_eq!(out.changed.map(|c| c.to), Some(State::AdminDown));
        let packet = link.b.packet();
        assert_eq!(link.a.receive(&packet, now), Err(Discard::AdminDown));
        assert_eq!(link.a.state(), State::AdminDown);
    }

    #[test]
    fn a_hundred_flaps_are_counted_and_each_recovers() {
        let mut link = Link::new(timers(20, 20, 3), timers(20, 20, 3));
        for round in 1..=100 {
            link.b_silent = false;
            link.run_for(ms(1500));
            assert_eq!(link.a.state(), State::Up, "round {round}");
            link.b_silent = true;
            link.run_for(ms(100));
            assert_eq!(link.a.state(), State::Down, "round {round}");
            assert_eq!(link.a.flaps(), round);
            // The traces are the test's; the sessions themselves hold no history.
            link.sent_by_a.clear();
            link.sent_by_b.clear();
        }
        assert_eq!(
            link.changes_a.iter().filter(|c| c.is_failure()).count(),
            100
        );
    }
}
