//! The built-in default policy library (`policies/`), compiled into the binary.
