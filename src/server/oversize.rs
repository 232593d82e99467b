//! A layer that turns tonic's "message too large" refusal into `INVALID_ARGUMENT` naming the
//! configured limit.
//!
//! tonic refuses a request whose length prefix exceeds the decoder cap before reading it, with
//! `OUT_OF_RANGE`; callers of dockgate get the same code and limit for any oversize input,
//! whether it was caught there or by the handler's own check.

use tonic::Status;

/// Rewrites a trailers-only `OUT_OF_RANGE` "decoded message length too large" response.
pub fn rewrite<B: Default>(
    limit: usize,
) -> impl Fn(http::Response<B>) -> http::Response<B> + Clone {
    move |response| {
        let Some(status) = Status::from_header_map(response.headers()) else {
            return response;
        };
        if status.code() != tonic::Code::OutOfRange
            || !status.message().contains("message length too large")
        {
            return response;
        }
        let found = status
            .message()
            .split("found ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .unwrap_or("more than the limit of");
        Status::invalid_argument(format!(
            "the request message is {found} bytes; the limit is {limit} bytes (--max-message-bytes)"
        ))
        .into_http()
    }
}
