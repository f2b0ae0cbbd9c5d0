//! VRRPv3 (RFC 5798) for IPv4 and IPv6: packet codec, sans-IO state machine and a
//! raw-socket driver. Not yet built: see the project issues.
