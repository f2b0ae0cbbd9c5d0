//! A router namespace and a node namespace joined by a veth pair.

use super::{NODE4, NODE6, ROUTER4, ROUTER6, require_program, require_root, run, try_run};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::net::Ipv6Addr;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

static TOPOLOGIES: AtomicU32 = AtomicU32::new(0);

/// Two namespaces (`router`, `node`) with `eth0` in each, addressed with
/// [`ROUTER4`]/[`ROUTER6`] and [`NODE4`]/[`NODE6`]. Dropping it deletes the namespaces it
/// created, and only those.
#[derive(Debug)]
pub struct Topology {
    /// Name of the router namespace, e.g. `hb123456r`.
    pub router: String,
    /// Name of the node namespace, e.g. `hb123456n`.
    pub node: String,
    created: Vec<String>,
}

impl Topology {
    /// Builds the namespaces and the link. `test` (the test's name) and the process id
    /// pick the names, so tests can run in parallel.
    pub fn new(test: &str) -> Topology {
        require_root();
        require_program("ip", "iproute2");
        let serial = TOPOLOGIES.fetch_add(1, Ordering::Relaxed);
        let mut topology = Topology {
            router: String::new(),
            node: String::new(),
            created: vec![],
        };
        for attempt in 0u32..100 {
            let mut hasher = DefaultHasher::new();
            (test, std::process::id(), serial, attempt).hash(&mut hasher);
            let n = hasher.finish() % 1_000_000;
            let (router, node) = (format!("hb{n}r"), format!("hb{n}n"));
            if namespace_exists(&router) || namespace_exists(&node) {
                continue;
            }
            // `ip netns add` fails if the name was taken in the meantime: try the next one.
            if try_run("ip", &["netns", "add", &router]).is_err() {
                continue;
            }
            topology.created.push(router.clone());
            if try_run("ip", &["netns", "add", &node]).is_err() {
                continue;
            }
            topology.created.push(node.clone());
            topology.router = router;
            topology.node = node;
            break;
        }
        assert!(
            !topology.node.is_empty(),
            "no free namespace names for {test}"
        );
        topology.build();
        topology
    }

    fn build(&self) {
        for ns in [&self.router, &self.node] {
            run("ip", &["-n", ns, "link", "set", "lo", "up"]);
            // No duplicate address detection: link-local addresses usable at once (FRR
            // waits for one before it sends IPv6 next hops). /proc/sys/net belongs to
            // the namespace of the writing process.
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    ns,
                    "sh",
                    "-c",
                    "echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad; \
                     echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad",
                ],
            );
        }
        // Both ends are created directly in their namespaces: nothing in the root one.
        run(
            "ip",
            &[
                "link",
                "add",
                "eth0",
                "netns",
                &self.router,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                &self.node,
            ],
        );
        for (ns, v4, v6) in [(&self.router, ROUTER4, ROUTER6), (&self.node, NODE4, NODE6)] {
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
    }

    /// The link-local address of `eth0` in namespace `ns`.
    pub fn link_local(ns: &str) -> Ipv6Addr {
        let out = run(
            "ip",
            &[
                "-n", ns, "-j", "-6", "addr", "show", "dev", "eth0", "scope", "link",
            ],
        );
        let json: serde_json::Value = serde_json::from_str(&out).expect("ip -j addr output");
        json.as_array()
            .into_iter()
            .flatten()
            .flat_map(|link| link["addr_info"].as_array().into_iter().flatten())
            .find_map(|a| a["local"].as_str()?.parse().ok())
            .unwrap_or_else(|| panic!("no link-local address on eth0 in {ns}: {out}"))
    }

    /// Brings `eth0` of the node namespace down or up (a cut link, as the router sees it).
    pub fn set_node_link(&self, up: bool) {
        run(
            "ip",
            &[
                "-n",
                &self.node,
                "link",
                "set",
                "eth0",
                if up { "up" } else { "down" },
            ],
        );
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
