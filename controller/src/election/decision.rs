//! Leader election decisions on a `coordination.k8s.io/v1` Lease, pure: "may I take the
//! lease given (lease, now, me)", and the spec to write when I do.
//!
//! A Lease is free when it is absent, names no holder (released on shutdown), or has
//! expired: `renewTime + leaseDurationSeconds < now`. Writes are guarded by the Lease's
//! `resourceVersion` (the I/O side replaces, never patches), so two replicas that both
//! decide to take a free Lease cannot both succeed.
//!
//! Expiry compares the holder's `renewTime` with the local clock, so replicas rely on
//! clocks agreeing to well within the lease duration (NTP does that).

use k8s_openapi::api::coordination::v1::LeaseSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// What to do about the Lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseDecision {
    /// There is no Lease: create it naming me.
    Create,
    /// It is free: take it.
    Acquire(FreeBecause),
    /// It is mine: renew it.
    Renew,
    /// Someone else holds it until `expires`.
    Wait { holder: String, expires: Timestamp },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FreeBecause {
    /// No holder: the last one released it.
    Released,
    /// The holder stopped renewing.
    Expired { holder: String },
}

/// Whether `me` may take the Lease at `now`.
pub fn decide(lease: Option<&LeaseSpec>, exists: bool, now: Timestamp, me: &str) -> LeaseDecision {
    if !exists {
        return LeaseDecision::Create;
    }
    let holder = lease
        .and_then(|spec| spec.holder_identity.as_deref())
        .filter(|h| !h.is_empty());
    let Some(holder) = holder else {
        return LeaseDecision::Acquire(FreeBecause::Released);
    };
    if holder == me {
        return LeaseDecision::Renew;
    }
    match expiry(lease) {
        Some(expires) if expires >= now => LeaseDecision::Wait {
            holder: holder.to_owned(),
            expires,
        },
        _ => LeaseDecision::Acquire(FreeBecause::Expired {
            holder: holder.to_owned(),
        }),
    }
}

/// When the Lease runs out: `renewTime` (or `acquireTime`) plus its duration. `None` when
/// it has no time or duration, which counts as expired.
pub fn expiry(lease: Option<&LeaseSpec>) -> Option<Timestamp> {
    let spec = lease?;
    let renewed = spec.renew_time.as_ref().or(spec.acquire_time.as_ref())?.0;
    let seconds = spec.lease_duration_seconds?;
    renewed
        .checked_add(SignedDuration::from_secs(i64::from(seconds)))
        .ok()
}

/// The spec to write after `decision` (not `Wait`): me as holder, renewed now; on a change of
/// holder also `acquireTime` now and one more transition.
pub fn claimed(
    current: Option<&LeaseSpec>,
    decision: &LeaseDecision,
    me: &str,
    now: Timestamp,
    duration_seconds: i32,
) -> LeaseSpec {
    let mut spec = current.cloned().unwrap_or_default();
    spec.holder_identity = Some(me.to_owned());
    spec.lease_duration_seconds = Some(duration_seconds);
    spec.renew_time = Some(MicroTime(now));
    match decision {
        LeaseDecision::Create => {
            spec.acquire_time = Some(MicroTime(now));
            spec.lease_transitions = Some(0);
        }
        LeaseDecision::Acquire(_) => {
            spec.acquire_time = Some(MicroTime(now));
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
        }
        LeaseDecision::Renew | LeaseDecision::Wait { .. } => {
            if spec.acquire_time.is_none() {
                spec.acquire_time = Some(MicroTime(now));
            }
        }
    }
    spec
}

/// The spec to write on shutdown: no holder, so the next replica need not wait for expiry.
/// `None` when `me` does not hold it (nothing to release).
pub fn released(current: &LeaseSpec, me: &str) -> Option<LeaseSpec> {
    if current.holder_identity.as_deref() != Some(me) {
        return None;
    }
    let mut spec = current.clone();
    spec.holder_identity = None;
    Some(spec)
}

/// How long a follower waits between looks at the Lease, and a leader between renewals:
/// a third of the duration, at most 2 s for a follower so a released Lease is taken fast.
pub fn renew_interval(duration: std::time::Duration) -> std::time::Duration {
    duration / 3
}

pub fn retry_interval(duration: std::time::Duration) -> std::time::Duration {
    (duration / 3).min(std::time::Duration::from_secs(2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).expect("time")
    }

    fn held_by(holder: &str, renewed: i64, duration: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            renew_time: Some(MicroTime(at(renewed))),
            acquire_time: Some(MicroTime(at(renewed - 100))),
            lease_duration_seconds: Some(duration),
            lease_transitions: Some(3),
            ..Default::default()
        }
    }

    #[test]
    fn absent_lease_is_created() {
        assert_eq!(decide(None, false, at(1000), "a"), LeaseDecision::Create);
    }

    #[test]
    fn live_lease_of_another_makes_us_wait_until_it_expires() {
        let lease = held_by("b", 1000, 15);
        assert_eq!(
            decide(Some(&lease), true, at(1010), "a"),
            LeaseDecision::Wait {
                holder: "b".into(),
                expires: at(1015)
            }
        );
        assert!(
            matches!(
                decide(Some(&lease), true, at(1015), "a"),
                LeaseDecision::Wait { .. }
            ),
            "renewTime + duration == now is not yet expired"
        );
    }

    #[test]
    fn expired_lease_is_taken_over() {
        let lease = held_by("b", 1000, 15);
        assert_eq!(
            decide(Some(&lease), true, at(1016), "a"),
            LeaseDecision::Acquire(FreeBecause::Expired { holder: "b".into() })
        );
    }

    #[test]
    fn released_lease_is_taken_at_once() {
        let mut lease = held_by("b", 1000, 15);
        lease.holder_identity = None;
        assert_eq!(
            decide(Some(&lease), true, at(1001), "a"),
            LeaseDecision::Acquire(FreeBecause::Released)
        );
        lease.holder_identity = Some(String::new());
        assert_eq!(
            decide(Some(&lease), true, at(1001), "a"),
            LeaseDecision::Acquire(FreeBecause::Released)
        );
        assert_eq!(
            decide(None, true, at(1001), "a"),
            LeaseDecision::Acquire(FreeBecause::Released),
            "a Lease object without spec is free"
        );
    }

    #[test]
    fn own_lease_is_renewed_even_after_a_restart() {
        let lease = held_by("a", 1000, 15);
        assert_eq!(
            decide(Some(&lease), true, at(1100), "a"),
            LeaseDecision::Renew
        );
    }

    #[test]
    fn lease_without_times_counts_as_expired() {
        let lease = LeaseSpec {
            holder_identity: Some("b".into()),
            ..Default::default()
        };
        assert!(matches!(
            decide(Some(&lease), true, at(0), "a"),
            LeaseDecision::Acquire(FreeBecause::Expired { .. })
        ));
    }

    #[test]
    fn taking_over_counts_a_transition_and_renewing_does_not() {
        let lease = held_by("b", 1000, 15);
        let decision = decide(Some(&lease), true, at(1016), "a");
        let taken = claimed(Some(&lease), &decision, "a", at(1016), 10);
        assert_eq!(taken.holder_identity.as_deref(), Some("a"));
        assert_eq!(taken.lease_transitions, Some(4));
        assert_eq!(taken.acquire_time, Some(MicroTime(at(1016))));
        assert_eq!(taken.renew_time, Some(MicroTime(at(1016))));
        assert_eq!(taken.lease_duration_seconds, Some(10));

        let renewed = claimed(Some(&taken), &LeaseDecision::Renew, "a", at(1020), 10);
        assert_eq!(renewed.lease_transitions, Some(4));
        assert_eq!(renewed.acquire_time, Some(MicroTime(at(1016))));
        assert_eq!(renewed.renew_time, Some(MicroTime(at(1020))));

        let created = claimed(None, &LeaseDecision::Create, "a", at(5), 10);
        assert_eq!(created.lease_transitions, Some(0));
        assert_eq!(created.holder_identity.as_deref(), Some("a"));
    }

    #[test]
    fn only_the_holder_releases() {
        let lease = held_by("a", 1000, 15);
        let free = released(&lease, "a").expect("a holds it");
        assert_eq!(free.holder_identity, None);
        assert_eq!(free.renew_time, lease.renew_time);
        assert_eq!(released(&lease, "b"), None);
        assert!(matches!(
            decide(Some(&free), true, at(1001), "b"),
            LeaseDecision::Acquire(FreeBecause::Released)
        ));
    }

    #[test]
    fn intervals_are_a_third_of_the_duration_and_followers_look_often() {
        assert_eq!(
            renew_interval(Duration::from_secs(15)),
            Duration::from_secs(5)
        );
        assert_eq!(
            retry_interval(Duration::from_secs(15)),
            Duration::from_secs(2)
        );
        assert_eq!(
            retry_interval(Duration::from_secs(3)),
            Duration::from_secs(1)
        );
    }
}
