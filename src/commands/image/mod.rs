//! `hoist image …`: one module per subcommand.

pub mod export;
pub mod gc;
pub mod import;
pub mod inspect;
pub mod list;
pub mod render;
pub mod rm;
