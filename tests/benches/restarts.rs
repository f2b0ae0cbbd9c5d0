//! Restarts and drains under a steady client (a new connection every 10 ms, six long
//! ones open at any time), in the end-to-end lab (3 nodes, FRR router, a `Cluster`
//! Service answered in the node namespaces). Each case next to today's immediate
//! withdraw, in the same run:
//!
//! 1. rolling restart of the three speakers (the next node once the router has this one's
//!    routes fresh): graceful restart (`graceful-restart` on the peers, FRR helping; SIGTERM
//!    and a new process at once) vs `--shutdown-mode withdraw` replaced as a DaemonSet's
//!    default update does (the new process once the old one is gone and the router has
//!    dropped the node; started at once, it can re-announce before the router's FIB
//!    moves, and the comparison would rest on that race).
//!    The same for a Service Herald's proxy serves with TLS (port 443): graceful restart
//!    with the listeners handed over vs withdraw.
//! 2. SIGTERM of one speaker (no new one): drain (`--shutdown-mode drain`, 2 s) vs
//!    withdraw.
//!
//! Prints, per case: connections attempted and failed, the longest gap between two
//! successful connections, long connections started/finished/failed, SIGTERM -> the
//! router's FIB without the node (never, with graceful restart) and SIGTERM -> process
//! gone. Asserts nothing about them (the tests in `tests/zero_loss.rs` do).
//!
//! `cargo bench -p herald-e2e --bench restarts [-- --rounds N]` (release build, 3 rounds);
//! `cargo test --all-targets` runs one round against the debug build.

use herald_e2e::bench::BenchArgs;
use herald_e2e::steady::{
    Outcome, Replace, cluster_service, proxied_tls_service, restart_lab, rolling_restart, stop_one,
};

fn report(case: &str, outcomes: &[Outcome]) {
    for (round, outcome) in outcomes.iter().enumerate() {
        println!(
            "  {}",
            outcome.describe(&format!("{case}, round {}", round + 1))
        );
    }
    let failed: u64 = outcomes
        .iter()
        .map(|o| o.client.failed + o.client.long.failed)
        .sum();
    let attempted: u64 = outcomes
        .iter()
        .map(|o| o.client.attempts + o.client.long.started)
        .sum();
    println!("  => {case}: {failed} of {attempted} connections failed");
}

fn main() {
    let args = BenchArgs::from_env();
    let rounds = args.rounds.unwrap_or(if args.full { 3 } else { 1 });
    println!(
        "restarts benchmark: {} run, {rounds} rounds, {:?} build of herald-speaker",
        if args.full { "full" } else { "smoke" },
        args.profile()
    );

    println!("rolling restart of 3 speakers:");
    for (name, graceful, flags, replace) in [
        ("graceful restart", true, "", Replace::AtOnce),
        (
            "immediate withdraw",
            false,
            "--shutdown-mode withdraw",
            Replace::AfterExit,
        ),
    ] {
        let lab = restart_lab("bench_rolling", args.profile(), graceful, flags);
        let address = cluster_service(&lab);
        let outcomes: Vec<Outcome> = (0..rounds)
            .map(|_| rolling_restart(&lab, address, 80, false, replace))
            .collect();
        report(name, &outcomes);
    }

    println!("rolling restart of 3 speakers, a proxied TLS Service:");
    for (name, graceful, flags, replace) in [
        (
            "graceful restart + listener handover",
            true,
            "",
            Replace::AtOnce,
        ),
        (
            "immediate withdraw",
            false,
            "--shutdown-mode withdraw",
            Replace::AfterExit,
        ),
    ] {
        let lab = restart_lab("bench_rolling_tls", args.profile(), graceful, flags);
        let address = proxied_tls_service(&lab);
        let outcomes: Vec<Outcome> = (0..rounds)
            .map(|_| rolling_restart(&lab, address, 443, true, replace))
            .collect();
        report(name, &outcomes);
    }

    println!("SIGTERM of node1's speaker:");
    for (name, flags) in [
        ("drain 2 s", "--shutdown-mode drain --drain-delay 2s"),
        ("immediate withdraw", "--shutdown-mode withdraw"),
    ] {
        let lab = restart_lab("bench_stop", args.profile(), false, flags);
        let address = cluster_service(&lab);
        let outcomes: Vec<Outcome> = (0..rounds)
            .map(|_| stop_one(&lab, address, 80, 1))
            .collect();
        report(name, &outcomes);
    }
}
