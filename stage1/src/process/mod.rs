//! The container process: the parent side of create (launch), the init (init), and
//! what the init applies (capabilities, console, exec).

pub mod apply;
pub mod caps;
pub mod console;
pub mod enter;
pub mod exec;
pub mod init;
pub mod launch;
pub mod pty_proxy;
pub mod sync;
