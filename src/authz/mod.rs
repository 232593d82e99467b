//! The Docker authorization plugin (`dockgate authz`): Docker's AuthZ plugin protocol.
//!
//! - [`protocol`]: the wire types of `/AuthZPlugin.AuthZReq` and `/AuthZPlugin.AuthZRes`
//!   (with the daemon's real field names) and the reply;
//! - [`route`]: which Engine API call a request is, what it needs (a body, an inspect), and
//!   what is always allowed so an operator is never locked out;
//! - [`gate`]: one request → one verdict (bodies, Docker API lookups, the policy call, the
//!   deny message, fail modes);
//! - [`cache`]: create verdicts remembered for the start that follows;
//! - [`upstream`]: the policy servers behind tower's balancer, with failover and a deadline;
//! - [`serve`]: the HTTP/1.1 server on the plugin's unix socket.

pub mod cache;
pub mod gate;
pub mod protocol;
pub mod route;
pub mod serve;
pub mod upstream;
