//! sendout-core's integration tests, one binary: the domain against the documents it comes
//! from (the catalog and seeds, Voucherify's payload designer, the signature vectors) and the
//! properties of its pure values (the retry policy, the template language). `helpers` is what
//! the distribution tests share. One area alone: `cargo nextest run -p sendout-core -E
//! 'test(/^template::/)'`.

mod helpers;

mod bounds;
mod catalog;
mod distribution;
mod distribution_bodies;
mod retry_properties;
mod signature_vectors;
mod template;
mod template_properties;
