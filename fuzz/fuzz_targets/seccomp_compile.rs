//! Arbitrary bytes as a seccomp profile: compiling must never panic, and a compiled
//! program must run to a return on any syscall number, architecture and arguments.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hoist_runtime::fuzzing::seccomp_profile(data);
});
