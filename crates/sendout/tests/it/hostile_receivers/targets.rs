//! Targets inside the network sendout runs in (PRODUCT §4 "Targets"): refused unless an
//! operator allowed their range, judged on every address a name resolves to, at connect time.
//!
//! Nothing here sends a packet beyond loopback: refused targets are never connected to (the
//! counting server below proves it for loopback forms), and the address classes are checked
//! as pure functions over generated addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use proptest::prelude::*;
use reqwest::Method;
use sendout::delivery::ssrf::TargetPolicy;
use sendout_core::input::{classify_ip, IpClass};
use serde_json::json;

use crate::helpers::app::TestApp;
use crate::hostile_receivers::servers::{Misbehaviour, RawServer};

fn socket(ip: &str) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), 443)
}

#[test]
fn one_forbidden_address_among_those_a_name_resolves_to_refuses_the_name() {
    let none = TargetPolicy::new(&[]);
    assert!(none
        .check_all(&[socket("93.184.216.34"), socket("8.8.8.8")])
        .is_ok());
    let mixed = [socket("93.184.216.34"), socket("10.0.0.7")];
    let refused = none.check_all(&mixed).unwrap_err();
    assert_eq!(refused.ip, mixed[1].ip());
    assert_eq!(refused.class, IpClass::Private);

    // Loopback allowed for IPv4 only: a name that also resolves to ::1 is refused.
    let v4_only = TargetPolicy::new(&["127.0.0.0/8".parse().unwrap()]);
    assert!(v4_only.check_all(&[socket("127.0.0.1")]).is_ok());
    let both = [socket("127.0.0.1"), socket("::1")];
    assert_eq!(v4_only.check_all(&both).unwrap_err().ip, both[1].ip());
}

#[tokio::test]
async fn loopback_in_any_spelling_is_refused_before_connecting_when_no_range_is_allowed() {
    let app = TestApp::spawn_with(|c| {
        c.allowed_target_ranges.clear();
        c.workers = false;
    })
    .await;
    let server = RawServer::start(Misbehaviour::Silent).await;
    let port = server.addr().port();
    let path = format!("/management/v1/projects/{}/webhooks/test", app.project.id);
    for host in [
        "localhost".to_owned(),
        "127.0.0.1".into(),
        "127.1".into(),
        "2130706433".into(),
        "0x7f000001".into(),
        "0.0.0.0".into(),
        "[::1]".into(),
        "[::ffff:127.0.0.1]".into(),
    ] {
        let body = json!({"target_url": format!("http://{host}:{port}/hook")});
        let answer = app.management(Method::POST, &path, Some(&body)).await;
        let result = answer.expect(200);
        assert_eq!(result["status"], "FAILED", "{host}: {result}");
        let error = result["error"].as_str().unwrap_or_default();
        assert!(error.contains("is not allowed ("), "{host}: {error}");
        assert!(
            error.contains("SENDOUT_ALLOWED_TARGET_RANGES"),
            "{host}: {error}"
        );
    }
    assert_eq!(server.connections(), 0, "a refused target was connected to");
}

/// An address inside `net` (given as its first address and prefix length).
fn v4_in(base: [u8; 4], prefix: u32) -> impl Strategy<Value = Ipv4Addr> {
    let base = u32::from(Ipv4Addr::from(base));
    let host_bits = 32 - prefix;
    any::<u32>().prop_map(move |r| {
        let host = if host_bits == 32 {
            r
        } else {
            r & ((1u32 << host_bits) - 1)
        };
        Ipv4Addr::from(base | host)
    })
}

fn v6_in(base: u128, prefix: u32) -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(move |r| Ipv6Addr::from(base | (r & (u128::MAX >> prefix))))
}

proptest! {
    #[test]
    fn every_address_of_a_private_range_is_private(ip in prop_oneof![
        v4_in([10, 0, 0, 0], 8),
        v4_in([172, 16, 0, 0], 12),
        v4_in([192, 168, 0, 0], 16),
    ]) {
        prop_assert_eq!(classify_ip(IpAddr::V4(ip)), IpClass::Private);
        // The same address inside IPv6 (mapped) is judged the same.
        prop_assert_eq!(classify_ip(IpAddr::V6(ip.to_ipv6_mapped())), IpClass::Private);
    }

    #[test]
    fn every_loopback_address_is_loopback(ip in v4_in([127, 0, 0, 0], 8)) {
        prop_assert_eq!(classify_ip(IpAddr::V4(ip)), IpClass::Loopback);
        prop_assert_eq!(classify_ip(IpAddr::V6(ip.to_ipv6_mapped())), IpClass::Loopback);
    }

    #[test]
    fn link_local_addresses_are_link_local_except_the_metadata_service(
        ip in v4_in([169, 254, 0, 0], 16),
        v6 in v6_in(0xfe80 << 112, 10),
    ) {
        let expected = if ip == Ipv4Addr::new(169, 254, 169, 254) {
            IpClass::Metadata
        } else {
            IpClass::LinkLocal
        };
        prop_assert_eq!(classify_ip(IpAddr::V4(ip)), expected);
        prop_assert_eq!(classify_ip(IpAddr::V6(v6)), IpClass::LinkLocal);
    }

    #[test]
    fn unique_local_addresses_are_unique_local_except_the_metadata_service(
        v6 in v6_in(0xfc00 << 112, 7),
    ) {
        let metadata: Ipv6Addr = "fd00:ec2::254".parse().unwrap();
        let expected = if v6 == metadata { IpClass::Metadata } else { IpClass::UniqueLocal };
        prop_assert_eq!(classify_ip(IpAddr::V6(v6)), expected);
    }

    #[test]
    fn nothing_but_public_addresses_pass_without_an_allowed_range(ip in any::<IpAddr>()) {
        let allowed = TargetPolicy::new(&[]).check(ip).is_ok();
        prop_assert_eq!(allowed, classify_ip(ip) == IpClass::Public);
    }
}

#[test]
fn the_edges_of_the_private_ranges_are_public() {
    for address in [
        "9.255.255.255",
        "11.0.0.0",
        "172.15.255.255",
        "172.32.0.0",
        "192.167.255.255",
        "192.169.0.0",
        "126.255.255.255",
        "128.0.0.0",
        "169.253.255.255",
        "169.255.0.0",
        "100.63.255.255",
        "100.128.0.0",
        "fbff:ffff::1",
        "2600::1",
    ] {
        let ip: IpAddr = address.parse().unwrap();
        assert_eq!(classify_ip(ip), IpClass::Public, "{address}");
    }
}
