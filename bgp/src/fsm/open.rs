//! OPEN: the message we send, and the checks of the one we receive (RFC 4271 section
//! 6.2, RFC 5492, RFC 6286, RFC 6793) that end in the parameters of the session.

use std::net::SocketAddr;

use crate::packet::iana::{AS_TRANS, error_code, open_subcode};
use crate::packet::{AfiSafi, BGP_VERSION, Capability, GracefulRestart, NotificationMsg, OpenMsg};

use super::types::{Direction, FsmConfig, Negotiated};

/// The OPEN we send on every connection.
pub(crate) fn local_open(config: &FsmConfig, restarting: bool) -> OpenMsg {
    let mut capabilities: Vec<Capability> = config
        .families
        .iter()
        .map(|family| Capability::Multiprotocol(*family))
        .collect();
    capabilities.push(Capability::RouteRefresh);
    // RFC 8654: always offered; a peer that offers it too gets UPDATEs of up to 65535
    // octets, far fewer messages for a large table.
    capabilities.push(Capability::ExtendedMessage);
    capabilities.push(Capability::FourOctetAs(config.local_as));
    if let Some(restart_time) = config.graceful_restart {
        // RFC 4724 section 3: Restart State set while we have just (re)started; the
        // Forwarding State bit for every family, since the addresses we originate stay
        // served while the speaker restarts.
        capabilities.push(Capability::GracefulRestart(GracefulRestart {
            restarting,
            notification: false,
            restart_time: restart_time.min(0x0FFF),
            families: config
                .families
                .iter()
                .map(|family| (*family, true))
                .collect(),
        }));
    }
    OpenMsg::new(
        config.local_as,
        config.hold_time,
        config.router_id,
        capabilities,
    )
}

/// The keepalive interval for a negotiated hold time: the configured one or a third of
/// the hold time, never more than a third (RFC 4271 section 10 suggests hold/3).
pub(crate) fn keepalive_interval(configured: Option<u16>, hold_time: u16) -> u16 {
    if hold_time == 0 {
        return 0;
    }
    let third = (hold_time / 3).max(1);
    configured.unwrap_or(third).clamp(1, third)
}

/// Checks the peer's OPEN (RFC 4271 section 6.2) and returns the session parameters, or
/// the NOTIFICATION to send.
pub(crate) fn negotiate(
    config: &FsmConfig,
    open: &OpenMsg,
    local: SocketAddr,
    remote: SocketAddr,
    direction: Direction,
) -> Result<Negotiated, NotificationMsg> {
    // RFC 4271 section 6.2: the data is the largest version we support.
    if open.version != BGP_VERSION {
        return Err(open_error(
            open_subcode::UNSUPPORTED_VERSION_NUMBER,
            vec![0, BGP_VERSION],
        ));
    }

    // RFC 6793 section 4.1: the 4-octet capability carries the real AS; AS_TRANS is
    // never a peer's real AS.
    let peer_as = open.asn();
    if peer_as != config.remote_as || peer_as == u32::from(AS_TRANS) {
        return Err(open_error(open_subcode::BAD_PEER_AS, Vec::new()));
    }

    // RFC 6286 section 2.2: a non-zero identifier, unique within the AS (iBGP); equal
    // identifiers are allowed across AS boundaries.
    let ibgp = config.local_as == config.remote_as;
    if open.bgp_id.is_unspecified() || (ibgp && open.bgp_id == config.router_id) {
        return Err(open_error(open_subcode::BAD_BGP_IDENTIFIER, Vec::new()));
    }

    // RFC 4271 section 4.2: the hold time is 0 or at least 3 seconds.
    if matches!(open.hold_time, 1 | 2) {
        return Err(open_error(open_subcode::UNACCEPTABLE_HOLD_TIME, Vec::new()));
    }
    let hold_time = config.hold_time.min(open.hold_time);

    // RFC 4760 section 8: no multiprotocol capability means IPv4 unicast only.
    let mut peer_families: Vec<AfiSafi> = open.families().collect();
    if peer_families.is_empty() {
        peer_families.push(AfiSafi::IPV4_UNICAST);
    }
    let families: Vec<AfiSafi> = config
        .families
        .iter()
        .copied()
        .filter(|family| peer_families.contains(family))
        .collect();
    if families.is_empty() {
        // RFC 5492 section 5: the data lists the capabilities we needed.
        return Err(open_error(
            open_subcode::UNSUPPORTED_CAPABILITY,
            multiprotocol_data(&config.families),
        ));
    }

    Ok(Negotiated {
        local,
        remote,
        direction,
        peer_as,
        peer_id: open.bgp_id,
        hold_time,
        keepalive: keepalive_interval(config.keepalive, hold_time),
        families,
        four_octet_as: open.four_octet_as().is_some(),
        route_refresh: open.has_route_refresh(),
        // We always offer it (see `local_open`), so the peer's offer decides.
        extended_message: open.has_extended_message(),
        peer_graceful_restart: open.graceful_restart().cloned(),
    })
}

fn open_error(subcode: u8, data: Vec<u8>) -> NotificationMsg {
    NotificationMsg::new(error_code::OPEN_MESSAGE, subcode, data)
}

/// Multiprotocol capabilities as they appear on the wire (RFC 4760 section 8): code 1,
/// length 4, AFI, reserved, SAFI.
fn multiprotocol_data(families: &[AfiSafi]) -> Vec<u8> {
    let mut data = Vec::with_capacity(families.len() * 6);
    for family in families {
        let [afi_high, afi_low] = family.afi.to_u16().to_be_bytes();
        data.extend_from_slice(&[1, 4, afi_high, afi_low, 0, family.safi.to_u8()]);
    }
    data
}

#[cfg(test)]
mod tests {
    use super::keepalive_interval;

    #[test]
    fn keepalive_never_exceeds_a_third_of_hold() {
        assert_eq!(keepalive_interval(None, 90), 30);
        assert_eq!(keepalive_interval(Some(10), 90), 10);
        assert_eq!(keepalive_interval(Some(60), 9), 3);
        assert_eq!(keepalive_interval(None, 3), 1);
        assert_eq!(keepalive_interval(Some(0), 90), 1);
        assert_eq!(keepalive_interval(Some(30), 0), 0);
    }
}
