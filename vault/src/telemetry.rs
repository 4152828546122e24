//! Logs: JSON lines with request ids, never personal data or tokens. The server logs to
//! stdout; one-shot commands log to stderr so that their stdout is their answer.

use tracing_subscriber::EnvFilter;

/// Starts JSON logging; `RUST_LOG` filters (default `info`).
pub fn init(to_stderr: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info"))
        // cryptoki logs every vendor mechanism it has no name for as an error while listing a
        // token's mechanisms; that is expected with GOST tokens and says nothing to an operator.
        .add_directive("cryptoki::mechanism=off".parse().unwrap_or_default());
    let builder = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false);
    // A second call (tests) keeps the first subscriber.
    let _ = if to_stderr {
        builder.with_writer(std::io::stderr).try_init()
    } else {
        builder.try_init()
    };
}
