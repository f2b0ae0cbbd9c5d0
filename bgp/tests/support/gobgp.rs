//! gobgpd 3: as the router peer (routes read back with the gobgp CLI), or as a stand-in
//! node speaker (the anchor of the lab benchmarks).

use super::daemon::Daemon;
use super::netns::Topology;
use super::wait::wait_until;
use super::{
    NODE_AS, NODE4, NODE6, ROUTER_AS, ROUTER4, lab_file, render, require_program, try_run,
};
use ipnet::IpNet;
use serde_json::Value;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

/// gobgpd's gRPC API port inside its namespace (only 127.0.0.1 of that namespace).
pub const API_PORT: u16 = 50051;

/// A gobgpd this harness started.
#[derive(Debug)]
pub struct Gobgpd {
    ns: String,
    dir: tempfile::TempDir,
    daemon: Option<Daemon>,
}

impl Gobgpd {
    /// gobgpd in the router namespace, AS [`ROUTER_AS`], peering with the node's two
    /// addresses, which it expects in `node_as`.
    pub fn start_router(topology: &Topology, node_as: u32) -> Gobgpd {
        let values = [
            ("ROUTER_NS", topology.router.clone()),
            ("ROUTER_AS", ROUTER_AS.to_string()),
            ("ROUTER_ID", ROUTER4.to_string()),
            ("NODE_AS", node_as.to_string()),
            ("NODE4", NODE4.to_string()),
            ("NODE6", NODE6.to_string()),
            ("API_PORT", API_PORT.to_string()),
        ];
        Gobgpd::start(
            &topology.router,
            &render(&lab_file("gobgp/router.toml.in"), &values),
        )
    }

    /// gobgpd in the node namespace, AS [`NODE_AS`], no neighbors yet (see
    /// [`Gobgpd::add_neighbor`]).
    pub fn start_speaker(topology: &Topology) -> Gobgpd {
        let values = [
            ("NODE_NS", topology.node.clone()),
            ("NODE_AS", NODE_AS.to_string()),
            ("NODE_ID", NODE4.to_string()),
        ];
        Gobgpd::start(
            &topology.node,
            &render(&lab_file("gobgp/speaker.toml.in"), &values),
        )
    }

    fn start(ns: &str, config: &str) -> Gobgpd {
        require_program("gobgpd", "gobgpd");
        require_program("gobgp", "gobgpd");
        let dir = tempfile::Builder::new()
            .prefix("herald-gobgp-")
            .tempdir()
            .expect("temp dir");
        let conf = dir.path().join("gobgpd.toml");
        std::fs::write(&conf, config).expect("write gobgpd.toml");
        let api = format!("127.0.0.1:{API_PORT}");
        let conf_arg = conf.display().to_string();
        let daemon = Daemon::spawn(
            ns,
            "gobgpd",
            "gobgpd",
            &[
                "-f",
                &conf_arg,
                "-p",
                "-l",
                "info",
                "--api-hosts",
                &api,
                "--pprof-disable",
            ],
            &dir.path().join("gobgpd.log"),
        );
        let mut gobgpd = Gobgpd {
            ns: ns.to_owned(),
            dir,
            daemon: Some(daemon),
        };
        wait_until(Duration::from_secs(15), "gobgpd answers on its API", || {
            gobgpd.daemon.as_mut().expect("daemon").assert_running();
            gobgpd.try_cli(&["global"]).ok()
        });
        gobgpd
    }

    /// `gobgp ARGS` against this gobgpd; fails the test on error.
    pub fn cli(&self, args: &[&str]) -> String {
        self.try_cli(args).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn try_cli(&self, args: &[&str]) -> Result<String, String> {
        let port = API_PORT.to_string();
        let mut full = vec![
            "netns",
            "exec",
            &self.ns,
            "gobgp",
            "-u",
            "127.0.0.1",
            "-p",
            &port,
        ];
        full.extend_from_slice(args);
        try_run("ip", &full)
    }

    /// The global RIB of a family: prefix -> list of paths.
    pub fn rib(&self, v6: bool) -> serde_json::Map<String, Value> {
        let out = self.cli(&[
            "global",
            "rib",
            "-a",
            if v6 { "ipv6" } else { "ipv4" },
            "-j",
        ]);
        if out.trim().is_empty() {
            return serde_json::Map::new();
        }
        match serde_json::from_str(&out) {
            Ok(Value::Object(map)) => map,
            _ => panic!("unexpected `gobgp global rib -j` output: {out}"),
        }
    }

    /// The best (first) path for exactly `prefix`.
    pub fn path(&self, prefix: IpNet) -> Option<Value> {
        let rib = self.rib(matches!(prefix, IpNet::V6(_)));
        rib.get(&prefix.to_string())?.as_array()?.first().cloned()
    }

    /// The neighbor's session state as gobgp reports it (e.g. "established").
    pub fn neighbor_state(&self, address: IpAddr) -> String {
        let out = self.cli(&["neighbor", &address.to_string(), "-j"]);
        let json: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
        let state = &json["state"]["session_state"];
        match state {
            Value::String(s) => s.to_lowercase(),
            // Older encodings use the numeric enum: 6 = established.
            Value::Number(n) if n.as_u64() == Some(6) => "established".to_owned(),
            other => other.to_string(),
        }
    }

    pub fn wait_established(&self, address: IpAddr, timeout: Duration) {
        wait_until(
            timeout,
            &format!("gobgpd shows {address} established"),
            || (self.neighbor_state(address) == "established").then_some(()),
        );
    }

    /// Adds a neighbor at run time (speaker role).
    pub fn add_neighbor(&self, address: IpAddr, peer_as: u32) {
        let family = if address.is_ipv6() {
            "ipv6-unicast"
        } else {
            "ipv4-unicast"
        };
        self.cli(&[
            "neighbor",
            "add",
            &address.to_string(),
            "as",
            &peer_as.to_string(),
            "family",
            family,
        ]);
    }

    /// Adds a route to the global RIB (speaker role).
    pub fn announce(&self, prefix: IpNet, next_hop: IpAddr) {
        let family = if matches!(prefix, IpNet::V6(_)) {
            "ipv6"
        } else {
            "ipv4"
        };
        self.cli(&[
            "global",
            "rib",
            "-a",
            family,
            "add",
            &prefix.to_string(),
            "nexthop",
            &next_hop.to_string(),
        ]);
    }

    pub fn withdraw(&self, prefix: IpNet) {
        let family = if matches!(prefix, IpNet::V6(_)) {
            "ipv6"
        } else {
            "ipv4"
        };
        self.cli(&["global", "rib", "-a", family, "del", &prefix.to_string()]);
    }

    /// Loads every route of an MRT TABLE_DUMPv2 file into the global RIB.
    pub fn inject_mrt(&self, file: &Path) {
        self.cli(&["mrt", "inject", "global", &file.display().to_string()]);
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Gobgpd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- gobgpd.log ({}) ---\n{}",
                self.ns,
                super::tail(&self.dir.path().join("gobgpd.log"), 30)
            );
        }
        if let Some(mut daemon) = self.daemon.take() {
            // With a large table gobgpd takes many seconds to exit on SIGTERM; it keeps no
            // state worth waiting for.
            daemon.stop_within(Duration::from_secs(1));
        }
    }
}

/// The next hop of a gobgp JSON path: NEXT_HOP (type 3) or MP_REACH_NLRI's (type 14).
pub fn path_next_hop(path: &Value) -> Option<String> {
    path["attrs"]
        .as_array()?
        .iter()
        .find_map(|attr| match attr["type"].as_u64() {
            Some(3) | Some(14) => attr["nexthop"].as_str().map(str::to_owned),
            _ => None,
        })
}

/// The AS numbers of a gobgp JSON path's AS_PATH, in order.
pub fn path_as_path(path: &Value) -> Vec<u32> {
    let Some(attrs) = path["attrs"].as_array() else {
        return vec![];
    };
    attrs
        .iter()
        .filter(|attr| attr["type"].as_u64() == Some(2))
        .flat_map(|attr| attr["as_paths"].as_array().cloned().unwrap_or_default())
        .flat_map(|segment| segment["asns"].as_array().cloned().unwrap_or_default())
        .filter_map(|asn| asn.as_u64().and_then(|a| u32::try_from(a).ok()))
        .collect()
}
