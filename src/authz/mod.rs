//! The Docker authorization plugin (`dockgate authz`): Docker's AuthZ plugin protocol.
//!
//! - [`protocol`]: the wire types of `/AuthZPlugin.AuthZReq` and `/AuthZPlugin.AuthZRes`
//!   (with the daemon's real field names) and the reply;
//! - [`route`]: which Engine API call a request is, what it needs (a body, an inspect), and
//!   what is always allowed so an operator is never locked out.

pub mod protocol;
pub mod route;
