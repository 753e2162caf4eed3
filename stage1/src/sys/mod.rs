//! Every raw syscall of stage1, behind safe functions that take and return owned or
//! borrowed fds. Nothing outside this module calls `libc` functions that touch memory or
//! file descriptors directly.
//!
//! stage1 is single-threaded (DESIGN.md rule 3): the child of `clone3` is a plain copy of
//! the parent with one thread, so it may allocate and run ordinary Rust code until exec.

mod fs;
mod mount;
mod proc;
mod socket;

pub use fs::*;
pub use mount::*;
pub use proc::*;
pub use socket::*;

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;

/// Turns a `-1`-on-error return into an `io::Error` from errno.
pub fn cvt<T: IsMinusOne>(ret: T) -> io::Result<T> {
    if ret.is_minus_one() {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Retries `f` while it fails with EINTR.
pub fn retry<T: IsMinusOne>(mut f: impl FnMut() -> T) -> io::Result<T> {
    loop {
        match cvt(f()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

pub trait IsMinusOne {
    fn is_minus_one(&self) -> bool;
}

macro_rules! impl_is_minus_one {
    ($($t:ty)*) => ($(impl IsMinusOne for $t {
        fn is_minus_one(&self) -> bool { *self == -1 }
    })*)
}
impl_is_minus_one! { i32 i64 isize }

/// A path or string as a C string; an interior NUL is an `InvalidInput` error.
pub fn cstr(s: impl AsRef<OsStr>) -> io::Result<CString> {
    CString::new(s.as_ref().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "string contains a NUL byte"))
}

/// A NULL-terminated array of pointers into `strings`, for execve and friends.
pub struct CStrArray<'a> {
    ptrs: Vec<*const libc::c_char>,
    _owner: std::marker::PhantomData<&'a CStr>,
}

impl<'a> CStrArray<'a> {
    pub fn new(strings: &'a [CString]) -> Self {
        let mut ptrs: Vec<*const libc::c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        CStrArray {
            ptrs,
            _owner: std::marker::PhantomData,
        }
    }

    pub fn from_refs(strings: &[&'a CStr]) -> Self {
        let mut ptrs: Vec<*const libc::c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        CStrArray {
            ptrs,
            _owner: std::marker::PhantomData,
        }
    }

    pub fn as_ptr(&self) -> *const *const libc::c_char {
        self.ptrs.as_ptr()
    }
}
