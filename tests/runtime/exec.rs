//! The runtime-calling helpers, shared with the other root test suites
//! (tests/common/run.rs).

pub use crate::common::run::*;
