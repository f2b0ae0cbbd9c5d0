//! BIRD 2 as the router: routes read with `birdc show route all`, exported to the
//! namespace's kernel FIB by its kernel protocols. Or BIRD 2 as a node-side speaker with a
//! static table (a sender of the lab benchmark `lab_bgp`).

use super::daemon::Daemon;
use super::netns::Topology;
use super::wait::wait_until;
use super::{
    NODE_AS, NODE4, NODE6, ROUTER_AS, ROUTER4, ROUTER6, lab_file, render, require_program, try_run,
};
use ipnet::{IpNet, Ipv4Net};
use std::path::Path;
use std::time::Duration;

/// A bird this harness started, with its control socket in a private directory.
#[derive(Debug)]
pub struct Bird {
    ns: String,
    dir: tempfile::TempDir,
    daemon: Option<Daemon>,
}

/// One route of `birdc show route all`, the parts the tests look at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BirdRoute {
    pub prefix: String,
    /// The protocol it came from ("node4", "node6").
    pub protocol: String,
    /// `BGP.next_hop` (global first, then link-local if the peer sent one).
    pub next_hops: Vec<String>,
    /// `BGP.as_path` as BIRD prints it, e.g. "64500".
    pub as_path: String,
    /// Every `BGP.*` attribute line: (name without "BGP.", value).
    pub attributes: Vec<(String, String)>,
}

impl Bird {
    /// Starts bird in the router namespace with protocols `node4` and `node6` towards the
    /// node's addresses, which it expects in `node_as`.
    pub fn start(topology: &Topology, node_as: u32) -> Bird {
        let values = [
            ("ROUTER_NS", topology.router.clone()),
            ("ROUTER_AS", ROUTER_AS.to_string()),
            ("ROUTER_ID", ROUTER4.to_string()),
            ("ROUTER4", ROUTER4.to_string()),
            ("ROUTER6", ROUTER6.to_string()),
            ("NODE_AS", node_as.to_string()),
            ("NODE4", NODE4.to_string()),
            ("NODE6", NODE6.to_string()),
        ];
        Bird::launch(
            &topology.router,
            &render(&lab_file("bird/bird.conf.in"), &values),
        )
    }

    /// Starts bird in the node namespace, AS [`NODE_AS`], with `prefixes` as static
    /// blackhole routes exported to the router by protocol `router4` (see
    /// `lab/bird/speaker.conf.in`), which starts disabled: wait for
    /// [`Bird::route_count`], then [`Bird::enable`] `("router4")`.
    pub fn start_speaker(topology: &Topology, prefixes: impl IntoIterator<Item = Ipv4Net>) -> Bird {
        let mut routes = String::new();
        for prefix in prefixes {
            routes.push_str(&format!("    route {prefix} blackhole;\n"));
        }
        let values = [
            ("NODE_NS", topology.node.clone()),
            ("NODE_ID", NODE4.to_string()),
            ("NODE4", NODE4.to_string()),
            ("NODE_AS", NODE_AS.to_string()),
            ("ROUTER4", ROUTER4.to_string()),
            ("ROUTER_AS", ROUTER_AS.to_string()),
            ("ROUTES", routes.trim_end().to_owned()),
        ];
        Bird::launch(
            &topology.node,
            &render(&lab_file("bird/speaker.conf.in"), &values),
        )
    }

    /// Starts bird in namespace `ns` with `config` and waits for its control socket.
    fn launch(ns: &str, config: &str) -> Bird {
        require_program("bird", "bird2");
        require_program("birdc", "bird2");
        let dir = tempfile::Builder::new()
            .prefix("herald-bird-")
            .tempdir()
            .expect("temp dir");
        let conf = dir.path().join("bird.conf");
        std::fs::write(&conf, config).expect("write bird.conf");
        let path = |f: &str| dir.path().join(f).display().to_string();
        let (conf_arg, socket, pid) = (path("bird.conf"), path("bird.ctl"), path("bird.pid"));
        // -f: foreground, so the harness owns the process.
        let daemon = Daemon::spawn(
            ns,
            "bird",
            "bird",
            &["-f", "-c", &conf_arg, "-s", &socket, "-P", &pid],
            &dir.path().join("bird.log"),
        );
        let mut bird = Bird {
            ns: ns.to_owned(),
            dir,
            daemon: Some(daemon),
        };
        wait_until(
            Duration::from_secs(10),
            "bird answers on its control socket",
            || {
                bird.daemon.as_mut().expect("daemon").assert_running();
                bird.try_birdc(&["show", "status"]).ok()
            },
        );
        bird
    }

    /// `birdc enable PROTOCOL`.
    pub fn enable(&self, protocol: &str) {
        let out = self.birdc(&["enable", protocol]);
        assert!(
            out.contains(&format!("{protocol}: enabled")),
            "birdc enable {protocol}: {out}"
        );
    }

    /// How many routes table `table` holds (`birdc show route count table TABLE`).
    pub fn route_count(&self, table: &str) -> u64 {
        let out = self.birdc(&["show", "route", "count", "table", table]);
        parse_route_count(&out)
            .unwrap_or_else(|| panic!("unexpected `show route count` output: {out}"))
    }

    pub fn try_birdc(&self, args: &[&str]) -> Result<String, String> {
        let socket = self.dir.path().join("bird.ctl").display().to_string();
        let mut full = vec!["-s", socket.as_str()];
        full.extend_from_slice(args);
        try_run("birdc", &full)
    }

    pub fn birdc(&self, args: &[&str]) -> String {
        self.try_birdc(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The BGP state of protocol `node4`/`node6` (e.g. "Established", "Active").
    pub fn protocol_state(&self, protocol: &str) -> String {
        let out = self.birdc(&["show", "protocols", protocol]);
        // "node4      BGP        ---        up     06:00:00.000  Established"
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(protocol))
            .and_then(|l| l.split_whitespace().nth(5))
            .unwrap_or("unknown")
            .to_owned()
    }

    pub fn wait_established(&self, protocol: &str, timeout: Duration) {
        wait_until(
            timeout,
            &format!("BIRD shows {protocol} Established"),
            || (self.protocol_state(protocol) == "Established").then_some(()),
        );
    }

    /// The routes BIRD holds for exactly `prefix`.
    pub fn routes(&self, prefix: IpNet) -> Vec<BirdRoute> {
        // birdc exits 1 with "Network not found" when BIRD has no route: not an error here.
        let out = match self.try_birdc(&["show", "route", "for", &prefix.to_string(), "all"]) {
            Ok(out) => out,
            Err(e) if e.contains("Network not found") => return vec![],
            Err(e) => panic!("{e}"),
        };
        parse_routes(&out)
            .into_iter()
            .filter(|r| r.prefix.parse::<IpNet>().ok() == Some(prefix))
            .collect()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- bird output ({}) ---\n{}",
                self.ns,
                super::tail(&self.dir.path().join("bird.log"), 30)
            );
        }
        if let Some(mut daemon) = self.daemon.take() {
            daemon.stop();
        }
    }
}

/// The route count of `birdc show route count`: "100 of 100 routes for 100 networks in
/// table master4" (with more tables, a last line "Total: ..." sums them).
pub fn parse_route_count(text: &str) -> Option<u64> {
    let line = text.lines().rev().find(|l| l.contains(" routes for "))?;
    line.trim()
        .trim_start_matches("Total:")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Parses `birdc show route ... all`. A route starts with a line that begins with its
/// prefix (or, for further paths of the same prefix, with whitespace and the route type);
/// attribute lines are indented and look like `\tBGP.as_path: 64500`.
pub fn parse_routes(text: &str) -> Vec<BirdRoute> {
    let mut routes: Vec<BirdRoute> = vec![];
    let mut last_prefix = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with("BIRD ") || trimmed.starts_with("Table ") {
            continue;
        }
        let starts_route = trimmed.contains(" [")
            && (trimmed.contains("unicast") || trimmed.contains("unreachable"));
        if starts_route {
            let mut words = trimmed.split_whitespace();
            let first = words.next().unwrap_or_default();
            let prefix = if first.contains('/') {
                last_prefix = first.to_owned();
                first.to_owned()
            } else {
                last_prefix.clone()
            };
            let protocol = trimmed
                .split_once(" [")
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .unwrap_or_default()
                .to_owned();
            routes.push(BirdRoute {
                prefix,
                protocol,
                ..BirdRoute::default()
            });
            continue;
        }
        let Some(route) = routes.last_mut() else {
            continue;
        };
        if let Some((name, value)) = trimmed.strip_prefix("BGP.").and_then(|a| a.split_once(':')) {
            let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
            match name.as_str() {
                "next_hop" => {
                    route.next_hops = value.split_whitespace().map(str::to_owned).collect()
                }
                "as_path" => route.as_path = value.clone(),
                _ => {}
            }
            route.attributes.push((name, value));
        }
    }
    routes
}
