//! The kernel FIB of a namespace, read with `ip -j route`.

use super::run;
use ipnet::IpNet;
use serde_json::Value;

/// Every route of the main table of the prefix's family in `ns`.
pub fn routes(ns: &str, v6: bool) -> Vec<Value> {
    let family = if v6 { "-6" } else { "-4" };
    let out = run("ip", &["-n", ns, "-j", family, "route", "show"]);
    match serde_json::from_str(&out) {
        Ok(Value::Array(routes)) => routes,
        _ => panic!("unexpected `ip -j route` output in {ns}: {out}"),
    }
}

/// The route for exactly `prefix` in `ns`, if there is one.
pub fn route(ns: &str, prefix: IpNet) -> Option<Value> {
    let family = if matches!(prefix, IpNet::V6(_)) {
        "-6"
    } else {
        "-4"
    };
    let out = run(
        "ip",
        &[
            "-n",
            ns,
            "-j",
            family,
            "route",
            "show",
            "exact",
            &prefix.to_string(),
        ],
    );
    match serde_json::from_str(&out) {
        Ok(Value::Array(routes)) => routes.into_iter().next(),
        _ => panic!("unexpected `ip -j route` output in {ns}: {out}"),
    }
}

/// The gateway of a route (`None` for a route without one).
pub fn gateway(route: &Value) -> Option<String> {
    route["gateway"].as_str().map(str::to_owned)
}

/// The routing protocol that installed a route ("bgp" for FRR's zebra, "bird" for BIRD).
pub fn protocol(route: &Value) -> Option<String> {
    route["protocol"].as_str().map(str::to_owned)
}

/// How many routes installed by `protocol` the family's table of `ns` holds.
pub fn count_by_protocol(ns: &str, v6: bool, protocol: &str) -> usize {
    routes(ns, v6)
        .iter()
        .filter(|r| r["protocol"].as_str() == Some(protocol))
        .count()
}
