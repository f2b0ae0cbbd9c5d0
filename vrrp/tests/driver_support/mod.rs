//! Harness for the driver tests: real VRRP routers in network namespaces.
//!
//! ```text
//!   vd-<N>-a (Herald on a thread that           vd-<N>-b (Herald, or keepalived
//!   entered the namespace: setns)                started with `ip netns exec`)
//!   eth0 172.30.0.1/24 fd00:30::1/64 <--veth--> eth0 172.30.0.2/24 fd00:30::2/64
//! ```
//!
//! Every test builds its own pair of namespaces under names nothing else uses, and
//! deletes exactly those when the [`Topology`] drops (also when the test panics).
//! Declare the topology first: locals drop in reverse, so runtimes and daemons go
//! before the namespaces they live in. Nothing leaves the namespaces: the root
//! namespace gets no link, address or route.
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::collections::hash_map::DefaultHasher;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

pub use herald_testsupport::netns::{NsRuntime, require_program, require_root, run, try_run};

pub const A4: &str = "172.30.0.1";
pub const B4: &str = "172.30.0.2";
pub const A6: &str = "fd00:30::1";
pub const B6: &str = "fd00:30::2";
pub const VIP4: &str = "172.30.0.100";
pub const VIP6: &str = "fd00:30::100";

/// Logs of the instances under test, shown by the test harness on failure.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .try_init();
}

/// Two namespaces joined by a veth pair, `eth0` in each.
#[derive(Debug)]
pub struct Topology {
    pub a: String,
    pub b: String,
    created: Vec<String>,
}

impl Topology {
    pub fn new(test: &str) -> Topology {
        require_root();
        require_program("ip", "iproute2");
        let mut topology = Topology {
            a: String::new(),
            b: String::new(),
            created: vec![],
        };
        for attempt in 0u32..100 {
            let mut hasher = DefaultHasher::new();
            (test, std::process::id(), attempt).hash(&mut hasher);
            let n = hasher.finish() % 1_000_000;
            let (a, b) = (format!("vd-{n}-a"), format!("vd-{n}-b"));
            if namespace_exists(&a) || namespace_exists(&b) {
                continue;
            }
            if try_run("ip", &["netns", "add", &a]).is_err() {
                continue;
            }
            topology.created.push(a.clone());
            if try_run("ip", &["netns", "add", &b]).is_err() {
                continue;
            }
            topology.created.push(b.clone());
            topology.a = a;
            topology.b = b;
            break;
        }
        assert!(!topology.b.is_empty(), "no free namespace names for {test}");
        topology.build();
        topology
    }

    fn build(&self) {
        for ns in [&self.a, &self.b] {
            run("ip", &["-n", ns, "link", "set", "lo", "up"]);
            // No duplicate address detection: the link-local address is usable at once.
            // Gratuitous ARP and unsolicited NA create neighbour entries, so a test can
            // see that the master's announcements arrived (an untracked NA only on a
            // node that forwards IPv6).
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    ns,
                    "sh",
                    "-c",
                    "echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad; \
                     echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad; \
                     echo 1 > /proc/sys/net/ipv4/conf/default/arp_accept; \
                     echo 1 > /proc/sys/net/ipv6/conf/default/accept_untracked_na; \
                     echo 1 > /proc/sys/net/ipv6/conf/all/forwarding",
                ],
            );
        }
        run(
            "ip",
            &[
                "link", "add", "eth0", "netns", &self.a, "type", "veth", "peer", "name", "eth0",
                "netns", &self.b,
            ],
        );
        for (ns, v4, v6) in [(&self.a, A4, A6), (&self.b, B4, B6)] {
            run(
                "ip",
                &["-n", ns, "addr", "add", &format!("{v4}/24"), "dev", "eth0"],
            );
            run(
                "ip",
                &[
                    "-n",
                    ns,
                    "addr",
                    "add",
                    &format!("{v6}/64"),
                    "dev",
                    "eth0",
                    "nodad",
                ],
            );
            run("ip", &["-n", ns, "link", "set", "eth0", "up"]);
        }
        // IPv6 adverts go out from the link-local address the kernel adds on link up.
        for ns in [&self.a, &self.b] {
            wait_until(
                Duration::from_secs(5),
                "eth0 has a link-local address",
                || {
                    let out = run(
                        "ip",
                        &[
                            "-n", ns, "-6", "addr", "show", "dev", "eth0", "scope", "link",
                        ],
                    );
                    out.contains("fe80::") && !out.contains("tentative")
                },
            );
        }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in self.created.iter().rev() {
            if let Err(e) = try_run("ip", &["netns", "del", ns]) {
                eprintln!("teardown: {e}");
            }
        }
    }
}

fn namespace_exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

/// Whether `eth0` in namespace `ns` has `address` (any prefix length).
pub fn has_address(ns: &str, address: &str) -> bool {
    run("ip", &["-n", ns, "-o", "addr", "show", "dev", "eth0"])
        .split_whitespace()
        .any(|word| word.split('/').next() == Some(address))
}

/// The MAC address of `eth0` in `ns`.
pub fn mac(ns: &str) -> String {
    let out = run("ip", &["-n", ns, "-o", "link", "show", "dev", "eth0"]);
    let mut words = out.split_whitespace();
    words
        .find(|w| *w == "link/ether")
        .and_then(|_| words.next())
        .unwrap_or_else(|| panic!("no MAC in {out}"))
        .to_owned()
}

/// Whether the neighbour table of `ns` maps `address` to `mac`.
pub fn neighbour_is(ns: &str, address: &str, mac: &str) -> bool {
    run("ip", &["-n", ns, "neigh", "show", "to", address]).contains(mac)
}

/// `ip -d addr` of `eth0` in `ns`, for failure messages and the marks.
pub fn addresses(ns: &str) -> String {
    run("ip", &["-n", ns, "-d", "addr", "show", "dev", "eth0"])
}

/// Polls `probe` every 10 ms until it holds; a timeout (a safety net, not a timing
/// assertion) fails the test with `what`.
pub fn wait_until(timeout: Duration, what: &str, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !probe() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One keepalived `vrrp_instance` on `eth0`: `advert` in seconds ("1", "0.1"),
/// `unicast` = (our address, the peers) for unicast adverts instead of multicast.
pub fn vrrp_instance(
    name: &str,
    vrid: u8,
    priority: u8,
    advert: &str,
    vips: &[IpAddr],
    unicast: Option<(&str, &[&str])>,
) -> String {
    let mut block = format!(
        "vrrp_instance {name} {{\n    state BACKUP\n    interface eth0\n    \
         virtual_router_id {vrid}\n    priority {priority}\n    advert_int {advert}\n"
    );
    if let Some((source, peers)) = unicast {
        block += &format!("    unicast_src_ip {source}\n    unicast_peer {{\n");
        for peer in peers {
            block += &format!("        {peer}\n");
        }
        block += "    }\n";
    }
    block += "    virtual_ipaddress {\n";
    for vip in vips {
        let prefix = if vip.is_ipv4() { 32 } else { 128 };
        block += &format!("        {vip}/{prefix} dev eth0\n");
    }
    block + "    }\n}\n\n"
}

/// keepalived (VRRP only, foreground) in a namespace, with VRRPv3 instances.
/// Only the processes it started are ever signalled.
#[derive(Debug)]
pub struct Keepalived {
    child: Option<Child>,
    dir: PathBuf,
}

impl Keepalived {
    /// Starts keepalived in `ns` for `vip` (IPv4 or IPv6) with VRID `vrid`.
    pub fn start(ns: &str, dir: &Path, vrid: u8, priority: u8, vip: IpAddr) -> Keepalived {
        let block = vrrp_instance("VI", vrid, priority, "0.1", &[vip], None);
        Keepalived::start_with(ns, dir, &block)
    }

    /// Starts keepalived in `ns` with the `vrrp_instance` blocks `instances` (see
    /// [`vrrp_instance`]).
    pub fn start_with(ns: &str, dir: &Path, instances: &str) -> Keepalived {
        require_program("keepalived", "keepalived");
        let config =
            format!("global_defs {{\n    router_id {ns}\n    vrrp_version 3\n}}\n\n{instances}");
        std::fs::write(dir.join("keepalived.conf"), config).expect("write keepalived.conf");
        let log = File::options()
            .create(true)
            .append(true)
            .open(dir.join("keepalived.log"))
            .expect("open keepalived.log");
        let log_err = log.try_clone().expect("clone log handle");
        let arg = |name: &str| dir.join(name).to_string_lossy().into_owned();
        // `ip netns exec` execs keepalived, so the child's pid is keepalived's parent
        // process; -n keeps it in the foreground, -P runs VRRP only.
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "keepalived", "-n", "-l", "-D", "-P"])
            .args(["-f", &arg("keepalived.conf")])
            .args(["-p", &arg("keepalived.pid"), "-r", &arg("vrrp.pid")])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .expect("start keepalived");
        Keepalived {
            child: Some(child),
            dir: dir.to_owned(),
        }
    }

    /// The last lines of its log.
    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("keepalived.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// SIGTERM: keepalived's graceful stop (priority 0, addresses removed).
    pub fn terminate(&self) {
        if let Some(pid) = self.child.as_ref().and_then(|c| i32::try_from(c.id()).ok()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }

    /// Waits (at most 10 s, then SIGKILL) for keepalived to exit.
    pub fn wait_exit(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if matches!(child.try_wait(), Ok(None)) {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.kill_vrrp_child();
    }

    /// The VRRP child, if it outlived its parent.
    fn kill_vrrp_child(&self) {
        let Ok(text) = std::fs::read_to_string(self.dir.join("vrrp.pid")) else {
            return;
        };
        let Ok(pid) = text.trim().parse::<i32>() else {
            return;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "keepalived" {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            self.kill_vrrp_child();
        }
    }
}

/// How long a test waits for an instance to reach a state.
pub const STATE_TIMEOUT: Duration = Duration::from_secs(15);

/// Waits in `runtime` until `instance`'s status satisfies `wanted`; returns when it did.
/// On timeout the test fails with the status and `context()` (a peer's log, say).
pub fn wait_for_status(
    runtime: &NsRuntime,
    instance: &vrrp::driver::Instance,
    what: &str,
    context: impl Fn() -> String,
    wanted: impl Fn(&vrrp::driver::Status) -> bool + Send + Sync + 'static,
) -> Instant {
    let mut status = instance.status();
    let reached = runtime.block_on(async move {
        tokio::time::timeout(STATE_TIMEOUT, status.wait_for(|s| wanted(s)))
            .await
            .is_ok_and(|r| r.is_ok())
    });
    assert!(
        reached,
        "no {what} within {STATE_TIMEOUT:?}: {:?}\n{}",
        *instance.status().borrow(),
        context()
    );
    Instant::now()
}

/// [`wait_for_status`] for a state.
pub fn wait_for_state(
    runtime: &NsRuntime,
    instance: &vrrp::driver::Instance,
    wanted: vrrp::fsm::State,
) -> Instant {
    wait_for_status(
        runtime,
        instance,
        &wanted.to_string(),
        String::new,
        move |s| s.state == wanted,
    )
}
