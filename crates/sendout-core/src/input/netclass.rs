//! What kind of network an IP address belongs to, and which ranges an operator allowed
//! (PRODUCT §4 "Targets").
//!
//! The delivery client calls [`is_allowed_target`] for *every* address a target's host resolves
//! to, at connect time, so DNS rebinding cannot slip past a check made on the URL text. This
//! module is pure: it classifies addresses and never resolves or connects.
//!
//! Every range of IANA's IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and its
//! updates) has a class other than [`IpClass::Public`], even those the registries mark as
//! globally reachable (anycast services such as AS112 or AMT are no webhook receiver): an
//! operator who wants one allows its range. The tests hold every registry entry, first and
//! last address, to its class.
//!
//! Addresses that embed an IPv4 address and can reach it (IPv4-mapped `::ffff:a.b.c.d`,
//! IPv4-translated `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:aabb:ccdd::`) are
//! classified by the embedded address, so `::ffff:127.0.0.1` is loopback, not public. The
//! local-use NAT64 prefix `64:ff9b:1::/48` is the operator's own translator, wherever in it the
//! IPv4 address sits: it is private.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;

/// The kind of network an address belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpClass {
    /// A globally routable address: the only class allowed by default.
    Public,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918 (`10/8`, `172.16/12`, `192.168/16`) and deprecated IPv6 site-local `fec0::/10`.
    Private,
    /// `169.254/16`, `fe80::/10`.
    LinkLocal,
    /// IPv6 unique local addresses, `fc00::/7`.
    UniqueLocal,
    /// Cloud instance metadata services, whose answers include credentials.
    Metadata,
    /// `0.0.0.0/8`, `::` (connecting to them reaches the local host).
    Unspecified,
    /// `224/4`, `ff00::/8`.
    Multicast,
    /// Documentation ranges (`192.0.2/24`, `198.51.100/24`, `203.0.113/24`, `2001:db8::/32`,
    /// `3fff::/20`).
    Documentation,
    /// Shared address space for carrier-grade NAT, `100.64/10`.
    CarrierGradeNat,
    /// `255.255.255.255`.
    Broadcast,
    /// Other special-purpose ranges: `240/4`, benchmarking, IETF protocol assignments, the
    /// AS112, AMT and 6to4-relay anycast ranges, discard-only and dummy IPv6 prefixes, SRv6
    /// SIDs.
    Reserved,
}

impl IpClass {
    /// Whether targets in this class are refused unless an operator allowed their range.
    pub fn is_forbidden_by_default(self) -> bool {
        self != IpClass::Public
    }
}

/// Classifies an address; see [`IpClass`].
pub fn classify_ip(ip: IpAddr) -> IpClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> IpClass {
    let [a, b, c, d] = ip.octets();
    match (a, b, c, d) {
        // AWS, GCP, Azure, OpenStack; Alibaba; Oracle; Azure's wire server.
        (169, 254, 169, 254) | (100, 100, 100, 200) | (192, 0, 0, 192) | (168, 63, 129, 16) => {
            IpClass::Metadata
        }
        (0, ..) => IpClass::Unspecified,
        (127, ..) => IpClass::Loopback,
        (10, ..) | (172, 16..=31, ..) | (192, 168, ..) => IpClass::Private,
        (169, 254, ..) => IpClass::LinkLocal,
        (100, 64..=127, ..) => IpClass::CarrierGradeNat,
        (192, 0, 2, _) | (198, 51, 100, _) | (203, 0, 113, _) => IpClass::Documentation,
        (255, 255, 255, 255) => IpClass::Broadcast,
        (224..=239, ..) => IpClass::Multicast,
        // Reserved for future use; IETF protocol assignments; benchmarking; the 6to4 relay,
        // AS112 (two ranges) and AMT anycast ranges.
        (240..=255, ..)
        | (192, 0, 0, _)
        | (198, 18..=19, ..)
        | (192, 88, 99, _)
        | (192, 31, 196, _)
        | (192, 175, 48, _)
        | (192, 52, 193, _) => IpClass::Reserved,
        _ => IpClass::Public,
    }
}

fn classify_v6(ip: Ipv6Addr) -> IpClass {
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    let segments = ip.segments();
    if ip.is_unspecified() {
        IpClass::Unspecified
    } else if ip.is_loopback() {
        IpClass::Loopback
    } else if ip == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254) {
        IpClass::Metadata
    } else if segments[0] & 0xfe00 == 0xfc00 {
        IpClass::UniqueLocal
    } else if segments[0] & 0xffc0 == 0xfe80 {
        IpClass::LinkLocal
    } else if segments[0] & 0xffc0 == 0xfec0 || segments[..3] == [0x64, 0xff9b, 1] {
        IpClass::Private
    } else if segments[0] & 0xff00 == 0xff00 {
        IpClass::Multicast
    } else if (segments[0], segments[1]) == (0x2001, 0x0db8)
        || (segments[0] == 0x3fff && segments[1] < 0x1000)
    {
        IpClass::Documentation
    } else if segments[..5] == [0; 5]
        || (segments[..3] == [0x0100, 0, 0] && segments[3] <= 1)
        || (segments[0] == 0x2001 && segments[1] < 0x0200)
        || segments[..3] == [0x2620, 0x004f, 0x8000]
        || segments[0] == 0x5f00
    {
        // Deprecated IPv4-compatible addresses, discard-only `100::/64` and the dummy prefix
        // `100:0:0:1::/64`, IETF protocol assignments, AS112's
        // direct delegation, SRv6 SIDs.
        IpClass::Reserved
    } else {
        IpClass::Public
    }
}

/// The IPv4 address an IPv6 address reaches, for the forms that embed one.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let from = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        [0, 0, 0, 0, 0, 0xffff, hi, lo]
        | [0, 0, 0, 0, 0xffff, 0, hi, lo]
        | [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(from(hi, lo)),
        [0x2002, hi, lo, ..] => Some(from(hi, lo)),
        _ => None,
    }
}

/// The ranges an operator allowed targets to resolve to despite their class
/// (`SENDOUT_ALLOWED_TARGET_RANGES`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList(Vec<IpNet>);

/// Why a text is not a list of CIDR ranges.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a CIDR range such as 10.0.0.0/8 or fd00::/8")]
pub struct AllowListError(String);

impl AllowList {
    /// An allow-list of the given ranges.
    pub fn new(ranges: Vec<IpNet>) -> Self {
        Self(ranges)
    }

    /// Parses comma-separated CIDR ranges; a bare address means that address alone. Blank
    /// text is the empty list.
    pub fn parse(text: &str) -> Result<Self, AllowListError> {
        text.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                IpNet::from_str(item)
                    .or_else(|_| IpAddr::from_str(item).map(IpNet::from))
                    .map_err(|_| AllowListError(item.chars().take(60).collect()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// The allowed ranges.
    pub fn ranges(&self) -> &[IpNet] {
        &self.0
    }

    /// Whether an allowed range contains the address (or the IPv4 address it embeds).
    pub fn permits(&self, ip: IpAddr) -> bool {
        let embedded = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        self.0
            .iter()
            .any(|range| range.contains(&ip) || embedded.is_some_and(|v4| range.contains(&v4)))
    }
}

impl fmt::Display for AllowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, range) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            write!(f, "{range}")?;
        }
        Ok(())
    }
}

/// Whether a target may be connected to at this address: it is public, or an operator
/// allowed its range.
pub fn is_allowed_target(ip: IpAddr, allow: &AllowList) -> bool {
    !classify_ip(ip).is_forbidden_by_default() || allow.permits(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(text: &str) -> IpClass {
        classify_ip(text.parse().expect("an IP address"))
    }

    #[test]
    fn addresses_are_classified() {
        use IpClass::*;
        for (address, expected) in [
            ("8.8.8.8", Public),
            ("1.1.1.1", Public),
            ("2606:4700:4700::1111", Public),
            ("127.0.0.1", Loopback),
            ("127.255.0.9", Loopback),
            ("::1", Loopback),
            ("10.1.2.3", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("172.32.0.1", Public),
            ("192.168.1.1", Private),
            ("fec0::1", Private),
            ("169.254.1.1", LinkLocal),
            ("fe80::1", LinkLocal),
            ("fd12:3456::1", UniqueLocal),
            ("fc00::1", UniqueLocal),
            ("169.254.169.254", Metadata),
            ("fd00:ec2::254", Metadata),
            ("100.100.100.200", Metadata),
            ("192.0.0.192", Metadata),
            ("168.63.129.16", Metadata),
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Unspecified),
            ("::", Unspecified),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("ff02::1", Multicast),
            ("192.0.2.10", Documentation),
            ("198.51.100.1", Documentation),
            ("203.0.113.7", Documentation),
            ("2001:db8::1", Documentation),
            ("3fff::1", Documentation),
            ("3fff:1000::1", Public),
            ("100.64.0.1", CarrierGradeNat),
            ("100.127.255.254", CarrierGradeNat),
            ("100.128.0.1", Public),
            ("255.255.255.255", Broadcast),
            ("240.0.0.1", Reserved),
            ("198.18.0.1", Reserved),
            ("192.0.0.8", Reserved),
            ("100::1", Reserved),
            ("2001::1", Reserved),
            ("::7f00:1", Reserved),
        ] {
            assert_eq!(class(address), expected, "{address}");
        }
    }

    #[test]
    fn ipv6_forms_embedding_ipv4_are_classified_by_the_ipv4_address() {
        assert_eq!(class("::ffff:127.0.0.1"), IpClass::Loopback);
        assert_eq!(class("::ffff:169.254.169.254"), IpClass::Metadata);
        assert_eq!(class("::ffff:10.0.0.1"), IpClass::Private);
        assert_eq!(class("::ffff:8.8.8.8"), IpClass::Public);
        assert_eq!(class("64:ff9b::7f00:1"), IpClass::Loopback);
        assert_eq!(class("64:ff9b::808:808"), IpClass::Public);
        assert_eq!(class("2002:c0a8:0101::1"), IpClass::Private);
        assert_eq!(class("2002:0808:0808::1"), IpClass::Public);
    }

    /// IANA's IPv4 and IPv6 Special-Purpose Address Registries, every entry (as of 2026),
    /// with the class each gets here. Entries that embed an IPv4 address are tested apart.
    const REGISTRIES: &[(&str, IpClass)] = {
        use IpClass::*;
        &[
            ("0.0.0.0/8", Unspecified),
            ("10.0.0.0/8", Private),
            ("100.64.0.0/10", CarrierGradeNat),
            ("127.0.0.0/8", Loopback),
            ("169.254.0.0/16", LinkLocal),
            ("172.16.0.0/12", Private),
            ("192.0.0.0/24", Reserved),
            ("192.0.0.0/29", Reserved),
            ("192.0.0.8/32", Reserved),
            ("192.0.0.9/32", Reserved),
            ("192.0.0.10/32", Reserved),
            ("192.0.0.170/32", Reserved),
            ("192.0.0.171/32", Reserved),
            ("192.0.2.0/24", Documentation),
            ("192.31.196.0/24", Reserved),
            ("192.52.193.0/24", Reserved),
            ("192.88.99.0/24", Reserved),
            ("192.168.0.0/16", Private),
            ("192.175.48.0/24", Reserved),
            ("198.18.0.0/15", Reserved),
            ("198.51.100.0/24", Documentation),
            ("203.0.113.0/24", Documentation),
            ("224.0.0.0/4", Multicast),
            ("240.0.0.0/4", Reserved),
            ("255.255.255.255/32", Broadcast),
            ("::1/128", Loopback),
            ("::/128", Unspecified),
            ("64:ff9b:1::/48", Private),
            ("100::/64", Reserved),
            ("100:0:0:1::/64", Reserved),
            ("2001::/23", Reserved),
            ("2001::/32", Reserved),
            ("2001:1::1/128", Reserved),
            ("2001:1::2/128", Reserved),
            ("2001:1::3/128", Reserved),
            ("2001:2::/48", Reserved),
            ("2001:3::/32", Reserved),
            ("2001:4:112::/48", Reserved),
            ("2001:10::/28", Reserved),
            ("2001:20::/28", Reserved),
            ("2001:30::/28", Reserved),
            ("2001:db8::/32", Documentation),
            ("2620:4f:8000::/48", Reserved),
            ("3fff::/20", Documentation),
            ("5f00::/16", Reserved),
            ("fc00::/7", UniqueLocal),
            ("fe80::/10", LinkLocal),
            ("fec0::/10", Private),
            ("ff00::/8", Multicast),
        ]
    };

    /// The class of the most specific registry entry holding `address`.
    fn registry_class(address: IpAddr) -> Option<IpClass> {
        REGISTRIES
            .iter()
            .map(|(range, class)| (range.parse::<IpNet>().expect("a CIDR range"), *class))
            .filter(|(net, _)| net.contains(&address))
            .max_by_key(|(net, _)| net.prefix_len())
            .map(|(_, class)| class)
    }

    #[test]
    fn every_special_purpose_range_of_the_iana_registries_is_classified() {
        for (range, _) in REGISTRIES {
            let net: IpNet = range.parse().expect("a CIDR range");
            for address in [net.network(), net.broadcast()] {
                let got = classify_ip(address);
                let expected = registry_class(address).expect("in its own range");
                assert_eq!(got, expected, "{address} (in {range})");
                assert!(got.is_forbidden_by_default(), "{address} (in {range})");
            }
        }
    }

    #[test]
    fn the_ranges_around_the_registries_stay_public() {
        for address in [
            "192.31.195.255",
            "192.31.197.0",
            "192.52.192.255",
            "192.175.49.0",
            "64:ff9b:2::1",
            "100:0:0:2::1",
            "2620:4f:8001::1",
            "5f01::1",
            "5eff:ffff::1",
        ] {
            assert_eq!(class(address), IpClass::Public, "{address}");
        }
    }

    #[test]
    fn ipv4_translated_addresses_are_classified_by_the_ipv4_address() {
        assert_eq!(class("::ffff:0:127.0.0.1"), IpClass::Loopback);
        assert_eq!(class("::ffff:0:169.254.169.254"), IpClass::Metadata);
        assert_eq!(class("::ffff:0:8.8.8.8"), IpClass::Public);
        let loopback = AllowList::parse("127.0.0.0/8").expect("valid");
        assert!(loopback.permits("::ffff:0:127.0.0.1".parse().expect("ip")));
    }

    #[test]
    fn only_public_addresses_are_allowed_by_default() {
        let none = AllowList::default();
        assert!(is_allowed_target(
            "93.184.216.34".parse().expect("ip"),
            &none
        ));
        for address in [
            "127.0.0.1",
            "10.0.0.1",
            "169.254.169.254",
            "::ffff:127.0.0.1",
        ] {
            assert!(
                !is_allowed_target(address.parse().expect("ip"), &none),
                "{address}"
            );
        }
    }

    #[test]
    fn operators_allow_ranges() {
        let allow = AllowList::parse(" 127.0.0.0/8, fd00::/8 ,10.1.2.3").expect("valid");
        assert_eq!(allow.to_string(), "127.0.0.0/8,fd00::/8,10.1.2.3/32");
        for address in ["127.0.0.1", "::ffff:127.0.0.1", "fd12::1", "10.1.2.3"] {
            assert!(allow.permits(address.parse().expect("ip")), "{address}");
            assert!(is_allowed_target(address.parse().expect("ip"), &allow));
        }
        assert!(!allow.permits("10.1.2.4".parse().expect("ip")));
        assert_eq!(AllowList::parse(""), Ok(AllowList::default()));
        assert!(AllowList::parse("10.0.0.0/33")
            .expect_err("invalid")
            .to_string()
            .contains("10.0.0.0/33"));
    }
}
