//! hoist-runtime's exec shim: the last program a container's init runs before the
//! container's own, so that /proc/self/exe is never hoist-runtime's host binary at
//! the moment the kernel execs a program chosen by the image (CVE-2019-5736: an image
//! whose entrypoint is `#!/proc/self/exe`, or whose ELF names /proc/self/exe as its
//! interpreter, would otherwise get the host binary run inside the container).
//!
//! The init execs this program from a sealed memfd (selfclone.rs) with
//! `argv = [path, argv of the container process...]` and the container's environment;
//! it execs `path` with the rest. It does nothing else: no libc, no allocation, a few
//! hundred bytes of code, so it costs one cheap exec instead of a re-exec of the whole
//! runtime. On failure it says why on stderr, as the init would have, and exits 126.
//!
//! Run any other way (the kernel names the file it ran in AT_EXECFN: "/dev/fd/N" for
//! the init's execveat, a script's path when a `#!/proc/self/exe` script got to it as
//! its interpreter), it refuses: the script would otherwise exec itself for ever.
//!
//! Built by stage1/build.rs as a freestanding static executable for x86_64 and aarch64
//! Linux; elsewhere the runtime keeps re-executing itself from a protected copy.

#![no_std]
#![no_main]

use core::arch::{asm, global_asm};

#[cfg(target_arch = "x86_64")]
mod arch {
    pub const EXECVE: usize = 59;
    pub const WRITE: usize = 1;
    pub const EXIT_GROUP: usize = 231;

    // The kernel starts us with argc at the top of the stack, then argv, NULL, envp.
    super::global_asm!(
        ".globl _start",
        "_start:",
        "mov rdi, rsp",
        "and rsp, -16",
        "call {main}",
        "ud2",
        main = sym super::shim_main,
    );

    /// # Safety
    /// `n` is a syscall whose pointer arguments, if any, are valid for it.
    pub unsafe fn syscall3(n: usize, a: usize, b: usize, c: usize) -> isize {
        let ret: isize;
        // SAFETY: the caller's contract; the syscall instruction clobbers rcx and r11.
        unsafe {
            super::asm!(
                "syscall",
                inlateout("rax") n as isize => ret,
                in("rdi") a,
                in("rsi") b,
                in("rdx") c,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }
}

#[cfg(target_arch = "aarch64")]
mod arch {
    pub const EXECVE: usize = 221;
    pub const WRITE: usize = 64;
    pub const EXIT_GROUP: usize = 94;

    super::global_asm!(
        ".globl _start",
        "_start:",
        "mov x0, sp",
        "bl {main}",
        "brk #0",
        main = sym super::shim_main,
    );

    /// # Safety
    /// `n` is a syscall whose pointer arguments, if any, are valid for it.
    pub unsafe fn syscall3(n: usize, a: usize, b: usize, c: usize) -> isize {
        let ret: isize;
        // SAFETY: the caller's contract.
        unsafe {
            super::asm!(
                "svc #0",
                in("x8") n,
                inlateout("x0") a as isize => ret,
                in("x1") b,
                in("x2") c,
                options(nostack),
            );
        }
        ret
    }
}

/// The texts Rust's std prints for the errors an execve can return, so that the
/// message reads as the init's own did.
fn describe(errno: usize) -> &'static [u8] {
    match errno {
        1 => b"Operation not permitted",
        2 => b"No such file or directory",
        5 => b"Input/output error",
        7 => b"Argument list too long",
        8 => b"Exec format error",
        12 => b"Cannot allocate memory",
        13 => b"Permission denied",
        14 => b"Bad address",
        20 => b"Not a directory",
        21 => b"Is a directory",
        22 => b"Invalid argument",
        23 | 24 => b"Too many open files",
        26 => b"Text file busy",
        36 => b"File name too long",
        40 => b"Too many levels of symbolic links",
        80 => b"Accessing a corrupted shared library",
        _ => b"Unknown error",
    }
}

fn write(bytes: &[u8]) {
    // SAFETY: the buffer is valid for its length.
    unsafe { arch::syscall3(arch::WRITE, 2, bytes.as_ptr() as usize, bytes.len()) };
}

/// The bytes of a NUL-terminated string.
///
/// # Safety
/// `p` points to a NUL-terminated string that outlives the result.
unsafe fn c_bytes<'a>(p: *const u8) -> &'a [u8] {
    let mut n = 0;
    // Volatile, or the loop becomes a call to a strlen we do not have.
    // SAFETY: the caller's contract: every byte up to the NUL is readable.
    while unsafe { p.add(n).read_volatile() } != 0 {
        n += 1;
    }
    // SAFETY: the n bytes before the NUL were just read.
    unsafe { core::slice::from_raw_parts(p, n) }
}

/// `hoist-runtime: exec `NAME`: TEXT (os error N)` on stderr.
fn report(name: &[u8], errno: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = errno;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for part in [
        b"hoist-runtime: exec `".as_slice(),
        name,
        b"`: ",
        describe(errno),
        b" (os error ",
        &digits[i..],
        b")\n",
    ] {
        write(part);
    }
}

const AT_NULL: usize = 0;
const AT_EXECFN: usize = 31;

/// Whether we were exec'd through a file descriptor (AT_EXECFN is "/dev/fd/N").
///
/// # Safety
/// `envp` is the environment array of the kernel's initial stack, which the auxiliary
/// vector follows.
unsafe fn run_by_fd(envp: *const usize) -> bool {
    // SAFETY: the caller's contract: envp's NULL, then (type, value) pairs to AT_NULL.
    unsafe {
        let mut p = envp;
        while *p != 0 {
            p = p.add(1);
        }
        let mut aux = p.add(1);
        while *aux != AT_NULL {
            if *aux == AT_EXECFN {
                return c_bytes(*aux.add(1) as *const u8).starts_with(b"/dev/fd/");
            }
            aux = aux.add(2);
        }
    }
    false
}

/// # Safety
/// `sp` is the initial stack pointer the kernel gave `_start`.
#[no_mangle]
unsafe extern "C" fn shim_main(sp: *const usize) -> ! {
    // SAFETY: the kernel's initial stack: argc, argc argv pointers, NULL, envp, NULL.
    unsafe {
        let argc = *sp;
        let argv = sp.add(1);
        let envp = argv.add(argc + 1);
        if !run_by_fd(envp) {
            write(b"hoist-runtime: the exec shim runs only as the container's init\n");
        } else if argc >= 1 {
            let path = *argv;
            let ret = arch::syscall3(arch::EXECVE, path, argv.add(1) as usize, envp as usize);
            // The name the init would have shown: the container's argv[0].
            let name = if argc >= 2 { *argv.add(1) } else { path };
            report(c_bytes(name as *const u8), ret.unsigned_abs());
        }
        arch::syscall3(arch::EXIT_GROUP, 126, 0, 0);
    }
    loop {}
}

/// Named by core's precompiled unwind tables; never called with panic=abort.
#[no_mangle]
extern "C" fn rust_eh_personality() {}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // SAFETY: exit_group takes no pointer.
    unsafe { arch::syscall3(arch::EXIT_GROUP, 126, 0, 0) };
    loop {}
}
