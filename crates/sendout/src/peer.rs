//! Who a request came from, for both front ends (the JSON API and the dashboard): the
//! socket's address, or a trusted proxy's `X-Forwarded-For`, as the limit on failed
//! authentication ([`crate::ops::throttle`]) tells clients apart.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, Request};
use ipnet::IpNet;

use crate::ops::throttle::Client;

/// The client of a request; `trusted` are the operator's `trusted_proxies`.
pub fn client_of(parts: &Parts, trusted: &[IpNet]) -> Client {
    client(&parts.headers, &parts.extensions, trusted)
}

/// [`client_of`] for a whole request.
pub fn client_of_request<B>(request: &Request<B>, trusted: &[IpNet]) -> Client {
    client(request.headers(), request.extensions(), trusted)
}

/// The listener puts the socket's address in every request's extensions.
fn client(headers: &HeaderMap, extensions: &Extensions, trusted: &[IpNet]) -> Client {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    Client::of(peer, &forwarded, trusted)
}
