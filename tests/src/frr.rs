//! Reading the router: FRR's JSON (`show bgp ... json`) and the kernel FIB
//! (`ip -j route show`). Pure parsing here; the commands run in [`crate::lab`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde_json::Value;

/// One BGP session as `show bgp summary json` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub state: String,
    /// Prefixes received (accepted) from the peer; 0 when not Established.
    pub prefixes_received: u64,
    pub connections_established: u64,
    pub connections_dropped: u64,
}

/// Sessions by peer address, both address families together.
pub fn sessions(summary_json: &str) -> BTreeMap<IpAddr, Session> {
    let mut sessions = BTreeMap::new();
    let Ok(summary) = serde_json::from_str::<Value>(summary_json) else {
        return sessions;
    };
    let Some(families) = summary.as_object() else {
        return sessions;
    };
    for family in families.values() {
        let Some(peers) = family.get("peers").and_then(Value::as_object) else {
            continue;
        };
        for (address, peer) in peers {
            let Ok(address) = address.parse::<IpAddr>() else {
                continue;
            };
            let number = |key: &str| peer.get(key).and_then(Value::as_u64).unwrap_or(0);
            sessions.insert(
                address,
                Session {
                    state: peer
                        .get("state")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_owned(),
                    prefixes_received: number("pfxRcd"),
                    connections_established: number("connectionsEstablished"),
                    connections_dropped: number("connectionsDropped"),
                },
            );
        }
    }
    sessions
}

/// One path FRR holds for a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// Global next hops (IPv6 link-local ones left out).
    pub next_hops: BTreeSet<IpAddr>,
    /// Selected: best path or one of the multipaths.
    pub selected: bool,
    /// AS path as FRR prints it, e.g. "64500".
    pub as_path: String,
    /// Kept from a session that closed while its speaker restarts (RFC 4724).
    pub stale: bool,
    /// LOCAL_PREF after FRR's inbound policy (the lab's sets 0 for GRACEFUL_SHUTDOWN).
    pub local_pref: Option<u64>,
}

/// Paths by prefix from `show bgp ipv4|ipv6 unicast json`.
pub fn rib(table_json: &str) -> BTreeMap<String, Vec<Path>> {
    let mut rib = BTreeMap::new();
    let Ok(table) = serde_json::from_str::<Value>(table_json) else {
        return rib;
    };
    let Some(routes) = table.get("routes").and_then(Value::as_object) else {
        return rib;
    };
    for (prefix, paths) in routes {
        let paths = paths
            .as_array()
            .map(|paths| paths.iter().map(path).collect())
            .unwrap_or_default();
        rib.insert(prefix.clone(), paths);
    }
    rib
}

fn path(path: &Value) -> Path {
    let flag = |key: &str| path.get(key).and_then(Value::as_bool).unwrap_or(false);
    let next_hops = path
        .get("nexthops")
        .and_then(Value::as_array)
        .map(|hops| {
            hops.iter()
                .filter(|hop| hop.get("scope").and_then(Value::as_str) != Some("link-local"))
                .filter_map(|hop| hop.get("ip").and_then(Value::as_str)?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    Path {
        next_hops,
        selected: flag("bestpath") || flag("multipath"),
        as_path: path
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        stale: flag("stale"),
        local_pref: path.get("locPrf").and_then(Value::as_u64),
    }
}

/// The next hops of every selected path of one prefix.
pub fn selected_next_hops(rib: &BTreeMap<String, Vec<Path>>, prefix: &str) -> BTreeSet<IpAddr> {
    rib.get(prefix)
        .into_iter()
        .flatten()
        .filter(|path| path.selected)
        .flat_map(|path| path.next_hops.iter().copied())
        .collect()
}

/// The gateways of the kernel routes in `ip -j route show ADDR` (one route, possibly
/// with several next hops).
pub fn fib_next_hops(route_json: &str) -> BTreeSet<IpAddr> {
    fib_next_hops_in_order(route_json).into_iter().collect()
}

/// The same in the kernel's order, which decides where a flow hashes (a multipath route
/// whose next hops change order moves flows as much as one that loses a next hop).
pub fn fib_next_hops_in_order(route_json: &str) -> Vec<IpAddr> {
    let Ok(Value::Array(routes)) = serde_json::from_str::<Value>(route_json) else {
        return Vec::new();
    };
    let gateway = |hop: &Value| hop.get("gateway")?.as_str()?.parse::<IpAddr>().ok();
    routes
        .iter()
        .flat_map(|route| {
            let own = gateway(route);
            let hops = route
                .get("nexthops")
                .and_then(Value::as_array)
                .map(|hops| hops.iter().filter_map(gateway).collect::<Vec<_>>())
                .unwrap_or_default();
            own.into_iter().chain(hops)
        })
        .collect()
}

/// Next hops and their weights from `ip -j route show ADDR` (iproute2 leaves out a weight
/// of 1, the default; a single-path route has weight 1).
pub fn fib_weights(route_json: &str) -> BTreeMap<IpAddr, u64> {
    let Ok(Value::Array(routes)) = serde_json::from_str::<Value>(route_json) else {
        return BTreeMap::new();
    };
    let gateway = |hop: &Value| hop.get("gateway")?.as_str()?.parse::<IpAddr>().ok();
    let weight = |hop: &Value| hop.get("weight").and_then(Value::as_u64).unwrap_or(1);
    routes
        .iter()
        .flat_map(|route| {
            let own = gateway(route).map(|g| (g, weight(route)));
            let hops = route
                .get("nexthops")
                .and_then(Value::as_array)
                .map(|hops| {
                    hops.iter()
                        .filter_map(|hop| Some((gateway(hop)?, weight(hop))))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            own.into_iter().chain(hops)
        })
        .collect()
}

/// The number of routes in `ip -j route show proto bgp`.
pub fn route_count(routes_json: &str) -> usize {
    match serde_json::from_str::<Value>(routes_json) {
        Ok(Value::Array(routes)) => routes.len(),
        _ => 0,
    }
}

/// The negotiated hold time (ms) of one neighbour in `show bgp neighbors ADDR json`.
pub fn hold_time_ms(neighbor_json: &str, address: IpAddr) -> Option<u64> {
    let value: Value = serde_json::from_str(neighbor_json).ok()?;
    value
        .get(address.to_string())?
        .get("bgpTimerHoldTimeMsecs")?
        .as_u64()
}

/// The BGP identifier a neighbour sent in its OPEN (`remoteRouterId` of `show bgp neighbors
/// ADDR json`).
pub fn remote_router_id(neighbor_json: &str, address: IpAddr) -> Option<std::net::Ipv4Addr> {
    let value: Value = serde_json::from_str(neighbor_json).ok()?;
    value
        .get(address.to_string())?
        .get("remoteRouterId")?
        .as_str()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipath_routes_give_every_selected_next_hop() {
        let json = r#"{"routes": {"fd00:99::10/128": [
            {"valid":true,"multipath":true,"path":"64500","nexthops":[{"ip":"fd00:30::13","afi":"ipv6","scope":"global"},{"ip":"fe80::1","afi":"ipv6","scope":"link-local"}]},
            {"valid":true,"bestpath":true,"path":"64500","nexthops":[{"ip":"fd00:30::12","afi":"ipv6","scope":"global"}]},
            {"valid":true,"path":"64500 1","nexthops":[{"ip":"fd00:30::14","afi":"ipv6","scope":"global"}]}]}}"#;
        let rib = rib(json);
        let hops = selected_next_hops(&rib, "fd00:99::10/128");
        let want: BTreeSet<IpAddr> = ["fd00:30::12", "fd00:30::13"]
            .iter()
            .map(|a| a.parse().expect("address"))
            .collect();
        assert_eq!(hops, want);
        assert_eq!(rib["fd00:99::10/128"].len(), 3);
    }

    #[test]
    fn fib_routes_with_one_or_several_next_hops() {
        let ecmp = r#"[{"dst":"10.99.0.10","nhid":33,"protocol":"bgp","nexthops":[{"gateway":"172.30.0.12","dev":"eth0"},{"gateway":"172.30.0.13","dev":"eth0"}]}]"#;
        assert_eq!(fib_next_hops(ecmp).len(), 2);
        let single =
            r#"[{"dst":"10.99.0.10","gateway":"172.30.0.12","dev":"eth0","protocol":"bgp"}]"#;
        assert_eq!(fib_next_hops(single).len(), 1);
        assert!(fib_next_hops("[]").is_empty());
        assert!(fib_next_hops("").is_empty());
    }

    #[test]
    fn summary_lists_sessions_of_both_families() {
        let json = r#"{"ipv4Unicast":{"peers":{"172.30.0.11":{"state":"Established","pfxRcd":3,"connectionsEstablished":1,"connectionsDropped":0}}},
                       "ipv6Unicast":{"peers":{"fd00:30::11":{"state":"Active","connectionsEstablished":1,"connectionsDropped":1}}}}"#;
        let sessions = sessions(json);
        assert_eq!(sessions.len(), 2);
        let v4: IpAddr = "172.30.0.11".parse().expect("address");
        assert_eq!(sessions[&v4].prefixes_received, 3);
        let v6: IpAddr = "fd00:30::11".parse().expect("address");
        assert_eq!(sessions[&v6].state, "Active");
        assert_eq!(sessions[&v6].connections_dropped, 1);
    }
}
