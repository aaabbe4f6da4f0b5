//! Module paths, versions and the URL encoding of both, following the rules
//! of golang.org/x/mod/module and golang.org/x/mod/semver.
//!
//! Everything that comes from a request path passes through here before the
//! rest of modvault uses it, so handlers only ever hold a checked
//! [`ModulePath`] and [`Version`].

mod escape;
mod path;
mod pattern;
mod request;
mod semver;

pub use escape::{decode_element, encode_element};
pub use path::{ModulePath, PathError};
pub use pattern::PathPatterns;
pub use request::{parse_request_path, FileKind, ProxyRequest};
pub use semver::{
    canonical_form, compare, is_pseudo_version, is_valid_version, major_and_build, sort_versions, Version, VersionError,
};
