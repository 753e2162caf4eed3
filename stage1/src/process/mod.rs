//! The container process: the parent side of create (launch), the init (init), and
//! what the init applies (capabilities, console, exec).

pub mod caps;
pub mod console;
pub mod exec;
pub mod init;
pub mod launch;
pub mod sync;
