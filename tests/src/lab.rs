//! One running lab: `lab/e2e/up.sh` with a namespace prefix of its own, torn down with
//! `lab/e2e/down.sh` when dropped (also when the test panics, after printing the tails
//! of the speakers' and the router's logs).

use std::collections::BTreeSet;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::frr;
use crate::speaker_binary::{Profile, repo_root, speaker_binary};
use herald_testsupport::wait::wait_until;

/// The router's side of the node segment (FRR's sessions come from here).
pub const ROUTER4: Ipv4Addr = Ipv4Addr::new(172, 30, 0, 1);
/// The port the backends answer on for Service addresses.
pub const SERVICE_PORT: u16 = 80;

/// `externalTrafficPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Cluster,
    Local,
}

/// The address families of a Service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Ipv4,
    Ipv6,
    Dual,
}

/// How to build the lab.
#[derive(Debug, Clone)]
pub struct LabOptions {
    pub nodes: usize,
    /// The speakers' `hold-time` in config.yaml (FRR negotiates the minimum).
    pub hold_time: String,
    pub profile: Profile,
    /// Start each speaker exactly as the README does (`--standalone DIR --node-name N`,
    /// nothing else) instead of with the lab's node address, admin and log flags.
    pub readme_flags: bool,
    /// Nodes without any IPv4 address: only their IPv6 sessions come up.
    pub ipv6_only: bool,
    /// The speakers' peers get `graceful-restart: true` (RFC 4724).
    pub graceful_restart: bool,
    /// Extra flags for every speaker (`HE_SPEAKER_ARGS`), e.g. `--drain-delay 2s`.
    pub speaker_args: String,
}

impl Default for LabOptions {
    fn default() -> Self {
        Self {
            nodes: 3,
            hold_time: "9s".to_owned(),
            profile: Profile::Debug,
            readme_flags: false,
            ipv6_only: false,
            graceful_restart: false,
            speaker_args: String::new(),
        }
    }
}

/// A lab built by `lab/e2e/up.sh`.
#[derive(Debug)]
pub struct Lab {
    prefix: String,
    state: PathBuf,
    nodes: usize,
    speaker: PathBuf,
    hold_time: String,
    readme_flags: bool,
    ipv6_only: bool,
    graceful_restart: bool,
    speaker_args: String,
}

impl Lab {
    /// Builds a lab named after `test` (the prefix mixes in the process id, so runs never
    /// meet) and waits until every node has its IPv4 and IPv6 session Established.
    pub fn start(test: &str, options: LabOptions) -> Lab {
        require_root();
        let speaker = speaker_binary(options.profile);
        let mut hasher = DefaultHasher::new();
        (test, std::process::id()).hash(&mut hasher);
        let prefix = format!("he{:05x}-", hasher.finish() & 0xf_ffff);
        let state = PathBuf::from("/run/herald-e2e").join(prefix.trim_end_matches('-'));
        let lab = Lab {
            prefix,
            state,
            nodes: options.nodes,
            speaker,
            hold_time: options.hold_time,
            readme_flags: options.readme_flags,
            ipv6_only: options.ipv6_only,
            graceful_restart: options.graceful_restart,
            speaker_args: options.speaker_args,
        };
        // A leftover of an earlier run with the same prefix (same pid, so only after a
        // reboot or in a container) would make up.sh refuse: clear it first.
        let _ = lab.script("down.sh", &[]);
        let output = lab.script("up.sh", &[]);
        if !output.status.success() {
            panic!(
                "lab/e2e/up.sh failed:\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        eprintln!(
            "lab {} up: {} nodes, state in {}",
            lab.prefix,
            lab.nodes,
            lab.state.display()
        );
        lab
    }

    fn script(&self, name: &str, args: &[&str]) -> Output {
        Command::new(repo_root().join("lab/e2e").join(name))
            .args(args)
            .env("HE_PREFIX", &self.prefix)
            .env("HE_STATE", &self.state)
            .env("HE_NODES", self.nodes.to_string())
            .env("HE_SPEAKER", &self.speaker)
            .env("HE_HOLD_TIME", &self.hold_time)
            .env(
                "HE_SPEAKER_FLAGS",
                if self.readme_flags { "readme" } else { "lab" },
            )
            .env("HE_IPV6_ONLY", if self.ipv6_only { "1" } else { "0" })
            .env(
                "HE_GRACEFUL_RESTART",
                if self.graceful_restart { "1" } else { "0" },
            )
            .env("HE_SPEAKER_ARGS", &self.speaker_args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run lab/e2e/{name}: {e}"))
    }

    /// `lab/e2e/ctl.sh ARGS`; panics when it fails. Returns stdout.
    pub fn ctl(&self, args: &[&str]) -> String {
        let output = self.script("ctl.sh", args);
        assert!(
            output.status.success(),
            "ctl.sh {} failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub fn nodes(&self) -> usize {
        self.nodes
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn router_ns(&self) -> String {
        format!("{}r", self.prefix)
    }

    pub fn client_ns(&self) -> String {
        format!("{}c", self.prefix)
    }

    pub fn node_ns(&self, node: usize) -> String {
        format!("{}n{node}", self.prefix)
    }

    /// The standalone directory every speaker reads.
    pub fn standalone_dir(&self) -> PathBuf {
        self.state.join("standalone")
    }

    pub fn state_dir(&self) -> &Path {
        &self.state
    }

    /// Node I's address on the segment: the next hop it announces.
    pub fn node_address(node: usize, family: Family) -> IpAddr {
        let host = u8::try_from(10 + node).expect("node index");
        match family {
            Family::Ipv6 => IpAddr::V6(Ipv6Addr::new(
                0xfd00,
                0x30,
                0,
                0,
                0,
                0,
                0,
                u16::from_str_radix(&(10 + node).to_string(), 16).expect("hex"),
            )),
            _ => IpAddr::V4(Ipv4Addr::new(172, 30, 0, host)),
        }
    }

    /// The next hops that nodes `nodes` give for an address of `address`'s family.
    pub fn next_hops(nodes: &[usize], address: IpAddr) -> BTreeSet<IpAddr> {
        let family = if address.is_ipv6() {
            Family::Ipv6
        } else {
            Family::Ipv4
        };
        nodes
            .iter()
            .map(|&n| Self::node_address(n, family))
            .collect()
    }

    /// Every node index, 1..=N.
    pub fn all_nodes(&self) -> Vec<usize> {
        (1..=self.nodes).collect()
    }

    // ------------------------------------------------------------ manifests ---

    /// Writes `DIR/NAME.yaml` for Service `default/NAME` with one pod endpoint on each of
    /// `endpoints` (node indexes) — through `ctl.sh service`, like a person would.
    pub fn service(&self, name: &str, policy: Policy, family: Family, endpoints: &[usize]) {
        let policy = match policy {
            Policy::Cluster => "Cluster",
            Policy::Local => "Local",
        };
        let family = match family {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
            Family::Dual => "dual",
        };
        let list = if endpoints.is_empty() {
            "none".to_owned()
        } else {
            endpoints
                .iter()
                .map(|n| format!("node{n}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        self.ctl(&[
            "service",
            name,
            "--policy",
            policy,
            "--family",
            family,
            "--endpoints",
            &list,
        ]);
    }

    /// Writes `DIR/FILE` atomically (temporary file + rename).
    pub fn write_file(&self, file: &str, content: &str) {
        let dir = self.standalone_dir();
        let tmp = dir.join(format!(".{file}.tmp"));
        std::fs::write(&tmp, content).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
        std::fs::rename(&tmp, dir.join(file)).unwrap_or_else(|e| panic!("rename to {file}: {e}"));
    }

    pub fn read_file(&self, file: &str) -> String {
        let path = self.standalone_dir().join(file);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    /// The addresses the speakers allocated to `default/NAME` (DIR/status), once written.
    pub fn addresses(&self, name: &str) -> Vec<IpAddr> {
        #[derive(Deserialize)]
        struct Status {
            #[serde(default)]
            addresses: Vec<IpAddr>,
        }
        let path = self
            .standalone_dir()
            .join("status")
            .join(format!("default_{name}.yaml"));
        let (addresses, _) = wait_until(
            Duration::from_secs(20),
            &format!("{} with addresses", path.display()),
            || {
                let text = std::fs::read_to_string(&path).ok()?;
                let status: Status = serde_yaml::from_str(&text).ok()?;
                (!status.addresses.is_empty()).then_some(status.addresses)
            },
            || std::fs::read_to_string(&path).unwrap_or_else(|e| e.to_string()),
        );
        addresses
    }

    /// The one address of `family` of `default/NAME`.
    pub fn address(&self, name: &str, family: Family) -> IpAddr {
        let want_v6 = family == Family::Ipv6;
        self.addresses(name)
            .into_iter()
            .find(|a| a.is_ipv6() == want_v6)
            .unwrap_or_else(|| panic!("{name} has no {family:?} address"))
    }

    // --------------------------------------------------------------- router ---

    /// vtysh of the lab router.
    pub fn vtysh(&self, command: &str) -> String {
        router_vtysh(&self.state, command)
    }

    /// FRR's sessions.
    pub fn sessions(&self) -> std::collections::BTreeMap<IpAddr, frr::Session> {
        frr::sessions(&self.vtysh("show bgp summary json"))
    }

    pub fn established(&self) -> usize {
        self.sessions()
            .values()
            .filter(|s| s.state == "Established")
            .count()
    }

    /// Next hops of the selected paths FRR holds for `address`'s host route.
    pub fn rib_next_hops(&self, address: IpAddr) -> BTreeSet<IpAddr> {
        let (table, len) = match address {
            IpAddr::V4(_) => ("ipv4", 32),
            IpAddr::V6(_) => ("ipv6", 128),
        };
        let rib = frr::rib(&self.vtysh(&format!("show bgp {table} unicast json")));
        frr::selected_next_hops(&rib, &format!("{address}/{len}"))
    }

    /// FRR's whole table of one family.
    pub fn rib(&self, family: Family) -> std::collections::BTreeMap<String, Vec<frr::Path>> {
        let table = if family == Family::Ipv6 {
            "ipv6"
        } else {
            "ipv4"
        };
        frr::rib(&self.vtysh(&format!("show bgp {table} unicast json")))
    }

    /// The router's kernel next hops for `address`.
    pub fn fib_next_hops(&self, address: IpAddr) -> BTreeSet<IpAddr> {
        frr::fib_next_hops(&route_json(&self.router_ns(), address))
    }

    /// The kernel next hops for `address` in namespace `ns`, in the kernel's order (for
    /// threads that hold no `Lab`).
    pub fn fib_next_hops_in(ns: &str, address: IpAddr) -> Vec<IpAddr> {
        frr::fib_next_hops_in_order(&route_json(ns, address))
    }

    /// The router's kernel next hops for `address` with their weights.
    pub fn fib_weights(&self, address: IpAddr) -> std::collections::BTreeMap<IpAddr, u64> {
        frr::fib_weights(&route_json(&self.router_ns(), address))
    }

    /// Waits until the router's FIB has exactly `want` for `address` (empty: no route);
    /// returns how long that took.
    pub fn wait_fib(
        &self,
        address: IpAddr,
        want: &BTreeSet<IpAddr>,
        timeout: Duration,
    ) -> Duration {
        wait_until(
            timeout,
            &format!("router FIB: {address} via {want:?}"),
            || (self.fib_next_hops(address) == *want).then_some(()),
            || format!("{:?}", self.fib_next_hops(address)),
        )
        .1
    }

    /// Number of BGP routes in the router's kernel FIB of one family.
    pub fn fib_bgp_routes(&self, family: Family) -> usize {
        let family = if family == Family::Ipv6 { "-6" } else { "-4" };
        let output = Command::new("ip")
            .args([
                "-n",
                &self.router_ns(),
                family,
                "-j",
                "route",
                "show",
                "proto",
                "bgp",
            ])
            .output()
            .expect("run ip route");
        frr::route_count(&String::from_utf8_lossy(&output.stdout))
    }

    /// The router's bgpd log.
    pub fn router_log(&self) -> String {
        std::fs::read_to_string(self.state.join("router/bgpd.log")).unwrap_or_default()
    }

    // --------------------------------------------------------------- client ---

    /// One HTTP GET from the client to `address`:80 through the router; the answer's
    /// body, or the error.
    pub fn curl(&self, address: IpAddr) -> Result<String, String> {
        let url = match address {
            IpAddr::V4(a) => format!("http://{a}:{SERVICE_PORT}/"),
            IpAddr::V6(a) => format!("http://[{a}]:{SERVICE_PORT}/"),
        };
        self.client_curl(&[url])
    }

    /// `curl -sS --max-time 3 ARGS` in the client namespace: the body, or why it failed.
    pub fn client_curl(&self, args: &[String]) -> Result<String, String> {
        let output = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.client_ns(),
                "curl",
                "-sS",
                "--max-time",
                "3",
            ])
            .args(args)
            .output()
            .expect("run curl");
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!(
                "curl {args:?}: exit {:?}: {}",
                output.status.code(),
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }

    /// GETs `address` `count` times (a new connection, so a new source port, each time)
    /// and returns which node answered how often. Every request must be answered.
    pub fn curl_nodes(
        &self,
        address: IpAddr,
        count: usize,
    ) -> std::collections::BTreeMap<String, usize> {
        let mut answers = std::collections::BTreeMap::new();
        for _ in 0..count {
            let body = self.curl(address).unwrap_or_else(|e| panic!("{e}"));
            let node = answering_node(&body).unwrap_or_else(|| panic!("odd answer {body:?}"));
            *answers.entry(node).or_insert(0) += 1;
        }
        answers
    }

    // ------------------------------------------------------------- speakers ---

    fn speaker_pid(&self, node: usize) -> Option<u32> {
        let text =
            std::fs::read_to_string(self.state.join(format!("node{node}/speaker.pid"))).ok()?;
        let pid: u32 = text.trim().parse().ok()?;
        // Alive (not a zombie) and really ours.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let state = stat.rsplit(") ").next()?.chars().next()?;
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        (state != 'Z' && state != 'X' && comm.trim() == "herald-speaker").then_some(pid)
    }

    /// Whether node I's speaker runs (alive, not a zombie).
    pub fn speaker_running(&self, node: usize) -> bool {
        self.speaker_pid(node).is_some()
    }

    /// The pid of node I's speaker; panics when it does not run.
    pub fn speaker(&self, node: usize) -> u32 {
        self.speaker_pid(node)
            .unwrap_or_else(|| panic!("the speaker of node{node} does not run"))
    }

    /// Sends `signal` (e.g. "TERM", "KILL", "STOP", "CONT") to node I's speaker.
    pub fn signal_speaker(&self, node: usize, signal: &str) {
        let pid = self.speaker(node);
        let status = Command::new("kill")
            .args(["-s", signal, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -s {signal} {pid} failed");
    }

    /// Waits until node I's speaker has exited; returns how long that took.
    pub fn wait_speaker_exit(&self, node: usize, timeout: Duration) -> Duration {
        wait_until(
            timeout,
            &format!("the speaker of node{node} to exit"),
            || self.speaker_pid(node).is_none().then_some(()),
            || self.speaker_log_tail(node, 5),
        )
        .1
    }

    /// Starts node I's speaker (again) and waits for its two sessions.
    pub fn start_speaker(&self, node: usize) {
        self.ctl(&["speaker", "start", &node.to_string()]);
        self.wait_speaker_sessions(node);
    }

    /// Waits until the router has node I's two sessions Established.
    fn wait_speaker_sessions(&self, node: usize) {
        let v4 = Self::node_address(node, Family::Ipv4);
        let v6 = Self::node_address(node, Family::Ipv6);
        wait_until(
            Duration::from_secs(60),
            &format!("node{node}'s sessions Established"),
            || {
                let sessions = self.sessions();
                let up = |a: &IpAddr| sessions.get(a).is_some_and(|s| s.state == "Established");
                (up(&v4) && up(&v6)).then_some(())
            },
            || format!("{:?}", self.sessions()),
        );
    }

    /// A DaemonSet upgrade of node I's speaker: SIGTERM to the running one and, at once, a
    /// new one beside it (`ctl.sh speaker restart`). Waits until the old one has exited and
    /// the new one's sessions are Established; returns how long the old one took to exit.
    pub fn restart_speaker(&self, node: usize) -> Duration {
        let old = self.speaker(node);
        let start = std::time::Instant::now();
        self.ctl(&["speaker", "restart", &node.to_string()]);
        wait_until(
            Duration::from_secs(60),
            &format!("node{node}'s old speaker (pid {old}) to exit"),
            || (!Path::new(&format!("/proc/{old}")).exists() || is_zombie(old)).then_some(()),
            || self.speaker_log_tail(node, 5),
        );
        let exited = start.elapsed();
        self.wait_speaker_sessions(node);
        exited
    }

    /// Cordons (`true`) or uncordons node I: `spec.unschedulable` in the lab's nodes.yaml.
    pub fn cordon(&self, node: usize, cordoned: bool) {
        let verb = if cordoned { "cordon" } else { "uncordon" };
        self.ctl(&[verb, &node.to_string()]);
    }

    /// The steady client of `lab/e2e/steady_client.py` in the client namespace, against
    /// `address:port` (`tls`: TLS with the lab certificate's name), started now.
    pub fn steady_client(&self, address: IpAddr, port: u16, tls: bool) -> SteadyClient {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.client_ns(), "python3"])
            .arg(repo_root().join("lab/e2e/steady_client.py"))
            .args([address.to_string(), port.to_string()]);
        if tls {
            command
                .args(["--tls", "web.herald.test", "--cacert"])
                .arg(self.state.join("certs/ca.pem"));
        }
        let child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start steady_client.py");
        SteadyClient { child: Some(child) }
    }

    /// Node I's speaker's `/status`.
    pub fn status(&self, node: usize) -> Value {
        let output = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.node_ns(node),
                "curl",
                "-sf",
                "--max-time",
                "3",
            ])
            .arg("http://127.0.0.1:7472/status")
            .output()
            .expect("run curl");
        assert!(
            output.status.success(),
            "no /status from node{node}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("/status is JSON")
    }

    /// Waits until node I's `/status` satisfies `check` (a speaker publishes it right after
    /// it has sent what it decided, so the router can see a change a moment before), and
    /// returns it.
    pub fn wait_status(&self, node: usize, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        wait_until(
            Duration::from_secs(30),
            &format!("node{node}'s /status: {what}"),
            || {
                let status = self.status(node);
                check(&status).then_some(status)
            },
            || self.status(node).to_string(),
        )
        .0
    }

    /// Node I's speaker's `/metrics` (Prometheus text).
    pub fn metrics(&self, node: usize) -> String {
        let output = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.node_ns(node),
                "curl",
                "-sf",
                "--max-time",
                "3",
            ])
            .arg("http://127.0.0.1:7472/metrics")
            .output()
            .expect("run curl");
        assert!(output.status.success(), "no /metrics from node{node}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Node I's speaker log (all runs).
    pub fn speaker_log(&self, node: usize) -> String {
        std::fs::read_to_string(self.state.join(format!("node{node}/speaker.log")))
            .unwrap_or_default()
    }

    fn speaker_log_tail(&self, node: usize, lines: usize) -> String {
        tail(&self.speaker_log(node), lines)
    }

    /// Resident memory of node I's speaker, KiB (`VmRSS`).
    pub fn speaker_rss_kib(&self, node: usize) -> u64 {
        let pid = self.speaker(node);
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .expect("VmRSS")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for node in 1..=self.nodes {
                eprintln!(
                    "---- node{node} speaker log (tail) ----\n{}",
                    self.speaker_log_tail(node, 25)
                );
            }
            eprintln!(
                "---- router bgpd.log (tail) ----\n{}",
                tail(&self.router_log(), 30)
            );
        }
        let output = self.script("down.sh", &[]);
        if !output.status.success() {
            eprintln!(
                "lab/e2e/down.sh failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

/// The `node=` field of a backend answer.
pub fn answering_node(body: &str) -> Option<String> {
    body.split_whitespace()
        .find_map(|field| field.strip_prefix("node="))
        .map(str::to_owned)
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn require_root() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1))
        .unwrap_or("?");
    assert_eq!(
        uid, "0",
        "the end-to-end tests build network namespaces: run them as root"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_addresses_follow_the_lab_plan() {
        assert_eq!(
            Lab::node_address(1, Family::Ipv4),
            "172.30.0.11".parse::<IpAddr>().expect("address")
        );
        assert_eq!(
            Lab::node_address(3, Family::Ipv6),
            "fd00:30::13".parse::<IpAddr>().expect("address")
        );
    }

    #[test]
    fn the_answering_node_is_read_from_the_body() {
        assert_eq!(
            answering_node("node=node2 pod=- local=10.99.0.10:80 client=172.31.0.2:1\n").as_deref(),
            Some("node2")
        );
        assert_eq!(answering_node("oops"), None);
    }
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit(") ").next()?.chars().next())
        .is_none_or(|state| state == 'Z' || state == 'X')
}

/// A running `lab/e2e/steady_client.py`; [`SteadyClient::finish`] stops it and reads its
/// summary. Dropping it unfinished kills it.
#[derive(Debug)]
pub struct SteadyClient {
    child: Option<std::process::Child>,
}

/// What the steady client saw (its JSON summary).
#[derive(Debug, Clone, Deserialize)]
pub struct SteadySummary {
    /// The client's clock: `at_ms`/`end_ms` of failures count from here (Unix ms).
    pub start_unix_ms: f64,
    pub attempts: u64,
    pub failed: u64,
    pub failures: Vec<Value>,
    pub longest_gap_ms: Option<f64>,
    pub nodes: std::collections::BTreeMap<String, u64>,
    pub long: LongSummary,
}

/// The steady client's long connections.
#[derive(Debug, Clone, Deserialize)]
pub struct LongSummary {
    pub started: u64,
    pub finished: u64,
    pub failed: u64,
    pub failures: Vec<Value>,
}

impl SteadyClient {
    /// Stops the client (its stdin closes), waits for its connections to end and returns
    /// the summary.
    pub fn finish(mut self) -> SteadySummary {
        let mut child = self.child.take().expect("running");
        drop(child.stdin.take());
        let output = child.wait_with_output().expect("wait for steady_client.py");
        assert!(output.status.success(), "steady_client.py failed");
        let text = String::from_utf8_lossy(&output.stdout);
        serde_json::from_str(text.trim())
            .unwrap_or_else(|e| panic!("steady_client.py summary {text:?}: {e}"))
    }
}

impl Drop for SteadyClient {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `ip -j route show ADDR` in namespace `ns`.
fn route_json(ns: &str, address: IpAddr) -> String {
    let family = if address.is_ipv6() { "-6" } else { "-4" };
    let output = Command::new("ip")
        .args(["-n", ns, family, "-j", "route", "show"])
        .arg(address.to_string())
        .output()
        .expect("run ip route");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `vtysh -c COMMAND` on the FRR router of a lab (netns or Kubernetes) whose state
/// directory is `state` (its vty sockets in `state/router`); stdout.
pub fn router_vtysh(state: &Path, command: &str) -> String {
    let output = Command::new("vtysh")
        .arg("--vty_socket")
        .arg(state.join("router"))
        .args(["-c", command])
        .output()
        .expect("run vtysh");
    String::from_utf8_lossy(&output.stdout).into_owned()
}
