//! Helpers shared by the allocator's behaviour tests.
#![allow(dead_code)]

use std::net::IpAddr;

use herald_core::allocator::{
    AddressRange, Allocator, Assignment, IpFamilyPolicy, PoolSpec, ServiceRequest,
};
use herald_core::{IpFamily, ServiceKey};

pub fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address parses")
}

pub fn pool(name: &str, ranges: &[&str]) -> PoolSpec {
    PoolSpec::new(
        name,
        ranges
            .iter()
            .map(|r| r.parse::<AddressRange>().expect("test range parses")),
    )
}

pub fn key(name: &str) -> ServiceKey {
    ServiceKey::new("default", name)
}

pub fn svc(name: &str) -> ServiceRequest {
    ServiceRequest::new(key(name))
}

pub fn allocator(pools: Vec<PoolSpec>) -> Allocator {
    Allocator::new(pools).expect("test pools are valid")
}

pub fn addresses(assignment: &Assignment) -> Vec<String> {
    assignment
        .addresses
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Assigns and returns the addresses as strings, panicking with the reason on failure.
pub fn give(a: &mut Allocator, request: &ServiceRequest) -> Vec<String> {
    match a.assign(request) {
        Ok(assignment) => addresses(&assignment),
        Err(error) => panic!("{} got no address: {error}", request.key),
    }
}

pub fn dual(request: ServiceRequest, policy: IpFamilyPolicy) -> ServiceRequest {
    request.with_families([IpFamily::V4, IpFamily::V6], policy)
}
