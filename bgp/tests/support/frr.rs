//! FRR 8.4 (zebra + bgpd) as the router, with a private state directory; or bgpd alone as
//! a node-side speaker (the floor of the lab benchmark `lab_bgp`).

use super::daemon::Daemon;
use super::netns::Topology;
use super::wait::wait_until;
use super::{NODE_AS, NODE4, NODE6, ROUTER_AS, ROUTER4, lab_file, render, require_program, run};
use ipnet::{IpNet, Ipv4Net};
use serde_json::Value;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const FRR_BIN: &str = "/usr/lib/frr";

/// How the router is configured.
#[derive(Clone, Debug)]
pub struct FrrOptions {
    pub router_as: u32,
    /// The AS FRR expects the node (Herald) to have.
    pub node_as: u32,
    /// Lines applied to both neighbors, e.g. `"password s3cret"` or `"timers 1 3"`:
    /// each becomes ` neighbor <node address> <line>` in bgpd.conf.
    pub neighbor_options: Vec<String>,
    /// Start bfdd too, with profile "herald" at these timers (see `lab/frr/bfdd.conf.in`),
    /// and attach it to both neighbors (`neighbor X bfd`, `neighbor X bfd profile herald`).
    pub bfd: Option<FrrBfd>,
}

/// Timers of FRR's BFD profile "herald".
#[derive(Clone, Copy, Debug)]
pub struct FrrBfd {
    pub transmit_ms: u32,
    pub receive_ms: u32,
    pub multiplier: u8,
}

impl Default for FrrOptions {
    fn default() -> Self {
        FrrOptions {
            router_as: ROUTER_AS,
            node_as: NODE_AS,
            neighbor_options: vec![],
            bfd: None,
        }
    }
}

/// zebra and bgpd running in the router namespace (or bgpd alone, see
/// [`Frr::start_speaker`]). Config, pid files, logs and the vty sockets live in a temporary
/// directory owned by user `frr`; nothing under /etc/frr or /run/frr is used.
#[derive(Debug)]
pub struct Frr {
    ns: String,
    /// The AS of its `router bgp` block (what [`Frr::configure_bgp`] enters).
    local_as: u32,
    dir: tempfile::TempDir,
    zebra: Option<Daemon>,
    bgpd: Option<Daemon>,
    bfdd: Option<Daemon>,
    /// pids of every daemon started, for FRR's per-process scratch dirs in /var/tmp/frr.
    pids: Vec<(String, i32)>,
    pub options: FrrOptions,
}

impl Frr {
    /// Starts zebra and bgpd in `topology`'s router namespace and waits for their vty
    /// sockets.
    pub fn start(topology: &Topology, options: FrrOptions) -> Frr {
        require_program(&format!("{FRR_BIN}/zebra"), "frr");
        require_program(&format!("{FRR_BIN}/bgpd"), "frr");
        require_program("vtysh", "frr");
        let dir = tempfile::Builder::new()
            .prefix("herald-frr-")
            .tempdir()
            .expect("temp dir");
        let bfd = options.bfd.unwrap_or(FrrBfd {
            transmit_ms: 300,
            receive_ms: 300,
            multiplier: 3,
        });
        let mut neighbor_options = options.neighbor_options.clone();
        if options.bfd.is_some() {
            neighbor_options.push("bfd".into());
            neighbor_options.push("bfd profile herald".into());
        }
        let values = [
            ("BFD_TX_MS", bfd.transmit_ms.to_string()),
            ("BFD_RX_MS", bfd.receive_ms.to_string()),
            ("BFD_MULT", bfd.multiplier.to_string()),
            ("ROUTER_NS", topology.router.clone()),
            ("ROUTER_AS", options.router_as.to_string()),
            ("ROUTER_ID", ROUTER4.to_string()),
            ("NODE_AS", options.node_as.to_string()),
            ("NODE4", NODE4.to_string()),
            ("NODE6", NODE6.to_string()),
            ("STATE_DIR", dir.path().display().to_string()),
            ("NEIGHBOR_OPTIONS", neighbor_lines(&neighbor_options)),
        ];
        write(
            dir.path(),
            "zebra.conf",
            &render(&lab_file("frr/zebra.conf.in"), &values),
        );
        write(
            dir.path(),
            "bgpd.conf",
            &render(&lab_file("frr/bgpd.conf.in"), &values),
        );
        write(
            dir.path(),
            "bfdd.conf",
            &render(&lab_file("frr/bfdd.conf.in"), &values),
        );
        run(
            "chown",
            &["-R", "frr:frr", &dir.path().display().to_string()],
        );
        let mut frr = Frr {
            ns: topology.router.clone(),
            local_as: options.router_as,
            dir,
            zebra: None,
            bgpd: None,
            bfdd: None,
            pids: vec![],
            options,
        };
        let zebra = frr.start_daemon("zebra", &["-s", "90000000"]);
        frr.zebra = Some(zebra);
        frr.wait_socket("zserv.api");
        if frr.options.bfd.is_some() {
            require_program(&format!("{FRR_BIN}/bfdd"), "frr");
            // bfdd's control socket is not covered by --vty_socket.
            let control = frr.dir.path().join("bfdd.sock").display().to_string();
            let bfdd = frr.start_daemon("bfdd", &["--bfdctl", &control]);
            frr.bfdd = Some(bfdd);
        }
        frr.start_bgpd();
        frr
    }

    /// bgpd alone (`-Z`: no zebra, so nothing reaches the namespace's FIB) in `topology`'s
    /// node namespace, AS [`NODE_AS`], originating `prefixes` with `network` statements
    /// (see `lab/frr/speaker-bgpd.conf.in`). Its session to the router starts shut down, so
    /// the whole table can be in its RIB before the session exists: wait for
    /// [`Frr::originated`], then [`Frr::set_neighbor_shutdown`] `(ROUTER4, false)`.
    pub fn start_speaker(topology: &Topology, prefixes: impl IntoIterator<Item = Ipv4Net>) -> Frr {
        require_program(&format!("{FRR_BIN}/bgpd"), "frr");
        require_program("vtysh", "frr");
        let dir = tempfile::Builder::new()
            .prefix("herald-frr-speaker-")
            .tempdir()
            .expect("temp dir");
        let mut networks = String::new();
        for prefix in prefixes {
            networks.push_str(&format!("  network {prefix}\n"));
        }
        let values = [
            ("NODE_NS", topology.node.clone()),
            ("NODE_AS", NODE_AS.to_string()),
            ("NODE_ID", NODE4.to_string()),
            ("ROUTER4", ROUTER4.to_string()),
            ("ROUTER_AS", ROUTER_AS.to_string()),
            ("STATE_DIR", dir.path().display().to_string()),
            ("NETWORKS", networks.trim_end().to_owned()),
        ];
        write(
            dir.path(),
            "bgpd.conf",
            &render(&lab_file("frr/speaker-bgpd.conf.in"), &values),
        );
        run(
            "chown",
            &["-R", "frr:frr", &dir.path().display().to_string()],
        );
        let mut frr = Frr {
            ns: topology.node.clone(),
            local_as: NODE_AS,
            dir,
            zebra: None,
            bgpd: None,
            bfdd: None,
            pids: vec![],
            options: FrrOptions::default(),
        };
        frr.start_bgpd();
        frr
    }

    /// `neighbor ADDRESS shutdown` (`shut`) or `no neighbor ADDRESS shutdown`.
    pub fn set_neighbor_shutdown(&self, address: IpAddr, shut: bool) {
        let line = format!(
            "{}neighbor {address} shutdown",
            if shut { "" } else { "no " }
        );
        self.configure_bgp(&[&line]);
    }

    /// How many IPv4 unicast prefixes bgpd holds in its RIB, whatever their origin
    /// (`show bgp ipv4 unicast statistics json`, "totalPrefixes").
    pub fn rib_prefix_count(&self) -> u64 {
        let json = self.json("show bgp ipv4 unicast statistics json");
        json["ipv4Unicast"][0]["totalPrefixes"]
            .as_u64()
            .unwrap_or_else(|| panic!("no totalPrefixes in the RIB statistics: {json}"))
    }

    /// The running bfdd (to freeze and thaw it).
    pub fn bfdd(&self) -> &Daemon {
        self.bfdd.as_ref().expect("bfdd is not running")
    }

    /// `show bfd peers json`: one object per session.
    pub fn bfd_peers(&self) -> Vec<Value> {
        self.json("show bfd peers json")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// FRR's BFD session with `peer`, if it has one.
    pub fn bfd_peer(&self, peer: IpAddr) -> Option<Value> {
        self.bfd_peers()
            .into_iter()
            .find(|p| p["peer"].as_str() == Some(peer.to_string().as_str()))
    }

    fn start_daemon(&mut self, name: &str, extra: &[&str]) -> Daemon {
        let daemon = spawn_daemon(&self.ns, self.dir.path(), name, extra);
        if let Some(p) = daemon.pid() {
            self.pids.push((name.to_owned(), p));
        }
        daemon
    }

    fn wait_socket(&self, file: &str) {
        let p = self.dir.path().join(file);
        wait_until(
            Duration::from_secs(10),
            &format!("{} exists", p.display()),
            || p.exists().then_some(()),
        );
    }

    /// Starts bgpd (again); with `-Z` (no zebra) when this instance runs no zebra.
    pub fn start_bgpd(&mut self) {
        assert!(self.bgpd.is_none(), "bgpd is already running");
        let extra: &[&str] = if self.zebra.is_none() { &["-Z"] } else { &[] };
        let bgpd = self.start_daemon("bgpd", extra);
        self.bgpd = Some(bgpd);
    }

    /// SIGKILL bgpd: the kernel closes its TCP sessions, zebra drops its routes.
    pub fn kill_bgpd(&mut self) {
        if let Some(mut bgpd) = self.bgpd.take() {
            bgpd.kill();
        }
    }

    /// The running bgpd (to freeze and thaw it).
    pub fn bgpd(&self) -> &Daemon {
        self.bgpd.as_ref().expect("bgpd is not running")
    }

    /// `vtysh -c C1 -c C2 ...` against this instance; fails the test on error.
    pub fn vtysh(&self, commands: &[&str]) -> String {
        let socket_dir = self.dir.path().display().to_string();
        let mut args = vec!["--vty_socket", socket_dir.as_str()];
        for c in commands {
            args.extend_from_slice(&["-c", c]);
        }
        run("vtysh", &args)
    }

    /// A `show ... json` command, parsed.
    pub fn json(&self, command: &str) -> Value {
        let out = self.vtysh(&[command]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("`{command}`: bad JSON ({e}): {out}"))
    }

    /// Runs configuration lines under `router bgp`.
    pub fn configure_bgp(&self, lines: &[&str]) {
        let router = format!("router bgp {}", self.local_as);
        let mut commands = vec!["configure terminal", router.as_str()];
        commands.extend_from_slice(lines);
        self.vtysh(&commands);
    }

    /// `show bgp neighbors ADDRESS json`, the neighbor's object.
    pub fn neighbor(&self, address: IpAddr) -> Value {
        let json = self.json(&format!("show bgp neighbors {address} json"));
        json[address.to_string()].clone()
    }

    /// The neighbor's FSM state as FRR names it ("Established", "Active", ...).
    pub fn neighbor_state(&self, address: IpAddr) -> String {
        self.neighbor(address)["bgpState"]
            .as_str()
            .unwrap_or("unknown")
            .to_owned()
    }

    pub fn is_established(&self, address: IpAddr) -> bool {
        self.neighbor_state(address) == "Established"
    }

    /// Waits until FRR shows the session with `address` Established.
    pub fn wait_established(&self, address: IpAddr, timeout: Duration) {
        wait_until(timeout, &format!("FRR shows {address} Established"), || {
            self.is_established(address).then_some(())
        });
    }

    /// The paths FRR holds for exactly `prefix` (empty when it has none).
    pub fn paths(&self, prefix: IpNet) -> Vec<Value> {
        let family = if matches!(prefix, IpNet::V6(_)) {
            "ipv6"
        } else {
            "ipv4"
        };
        let json = self.json(&format!("show bgp {family} unicast {prefix} json"));
        json["paths"].as_array().cloned().unwrap_or_default()
    }

    /// The whole table of a family (`show bgp ipv4|ipv6 unicast json`), its "routes" map.
    pub fn rib(&self, v6: bool) -> serde_json::Map<String, Value> {
        let family = if v6 { "ipv6" } else { "ipv4" };
        let json = self.json(&format!("show bgp {family} unicast json"));
        json["routes"].as_object().cloned().unwrap_or_default()
    }

    /// Prefixes received from the neighbor (summary `pfxRcd`), if FRR lists it.
    pub fn prefixes_received(&self, address: IpAddr) -> Option<u64> {
        let family = if address.is_ipv6() {
            "ipv6Unicast"
        } else {
            "ipv4Unicast"
        };
        let json = self.json("show bgp summary json");
        json[family]["peers"][address.to_string()]["pfxRcd"].as_u64()
    }

    /// When FRR last logged the session with `node` coming Up (`%ADJCHANGE ... Up`), by
    /// its own clock, to the millisecond.
    pub fn established_at(&self, node: IpAddr) -> Option<SystemTime> {
        let log = self.bgpd_log();
        let wanted = format!("%ADJCHANGE: neighbor {node}");
        log.lines()
            .filter(|l| l.contains(&wanted) && l.trim_end().ends_with(" Up"))
            .filter(|l| {
                // "neighbor 172.30.0.2(host) in vrf": the address must end right there.
                let rest = &l[l.find(&wanted).unwrap_or(0) + wanted.len()..];
                rest.starts_with('(') || rest.starts_with(' ')
            })
            .filter_map(parse_log_time)
            .next_back()
    }

    pub fn bgpd_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("bgpd.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }
}

impl Drop for Frr {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for name in ["bgpd", "bfdd", "zebra"] {
                eprintln!(
                    "--- {name}.log (router {}) ---\n{}",
                    self.ns,
                    super::tail(&self.log_path(name), 40)
                );
            }
        }
        if let Some(mut bgpd) = self.bgpd.take() {
            bgpd.stop();
        }
        if let Some(mut bfdd) = self.bfdd.take() {
            bfdd.stop();
        }
        if let Some(mut zebra) = self.zebra.take() {
            zebra.stop();
        }
        // FRR keeps /var/tmp/frr/<daemon>.<pid> per process (left behind after SIGKILL).
        for (name, pid) in &self.pids {
            let _ = std::fs::remove_dir_all(format!("/var/tmp/frr/{name}.{pid}"));
        }
    }
}

fn neighbor_lines(options: &[String]) -> String {
    let mut out = String::new();
    for node in [NODE4.to_string(), NODE6.to_string()] {
        for option in options {
            out.push_str(&format!(" neighbor {node} {option}\n"));
        }
    }
    out.trim_end().to_owned()
}

/// The time of an FRR log line, `2026/11/23 05:48:47.123 BGP: ...`, read as UTC.
fn parse_log_time(line: &str) -> Option<SystemTime> {
    let mut words = line.split_whitespace();
    let (date, time) = (words.next()?, words.next()?);
    let mut ymd = date.split('/').map(|p| p.parse::<i64>());
    let (year, month, day) = (ymd.next()?.ok()?, ymd.next()?.ok()?, ymd.next()?.ok()?);
    let (hms, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let mut parts = hms.split(':').map(|p| p.parse::<i64>());
    let (hour, minute, second) = (
        parts.next()?.ok()?,
        parts.next()?.ok()?,
        parts.next()?.ok()?,
    );
    let nanos = format!("{fraction:0<9}").get(..9)?.parse::<u32>().ok()?;
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some(UNIX_EPOCH + Duration::new(u64::try_from(seconds).ok()?, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// Starts FRR daemon `name` (zebra, bgpd, bfdd) in namespace `ns` with `<dir>/<name>.conf`
/// (`dir` owned by user `frr`; pid file, zserv socket, vty socket and `<name>.out` there
/// too) and `extra` arguments; waits for its vty socket.
pub fn spawn_daemon(ns: &str, dir: &Path, name: &str, extra: &[&str]) -> Daemon {
    let path = |file: &str| dir.join(file).display().to_string();
    // Logs go to <dir>/<name>.log, set in the config (see the templates).
    let (conf, pid, zserv) = (
        path(&format!("{name}.conf")),
        path(&format!("{name}.pid")),
        path("zserv.api"),
    );
    let vty_dir = dir.display().to_string();
    let mut args = vec![
        "-F",
        "traditional",
        "-f",
        &conf,
        "-i",
        &pid,
        "-z",
        &zserv,
        "--vty_socket",
        &vty_dir,
        "-P",
        "0",
    ];
    args.extend_from_slice(extra);
    // A restarted daemon must not be mistaken for ready by its predecessor's socket.
    let _ = std::fs::remove_file(dir.join(format!("{name}.vty")));
    let program = format!("{FRR_BIN}/{name}");
    // UTC log timestamps (with milliseconds, see bgpd.conf.in) so the lab benchmarks can
    // read FRR's own time of a session change: see `Frr::established_at`.
    let out = dir.join(format!("{name}.out"));
    let mut daemon = Daemon::spawn_with_env(ns, name, &program, &args, &[("TZ", "UTC")], &out);
    let vty = format!("{name}.vty");
    wait_until(
        Duration::from_secs(10),
        &format!("{name} opens its vty socket"),
        || {
            daemon.assert_running();
            dir.join(&vty).exists().then_some(())
        },
    );
    daemon
}
