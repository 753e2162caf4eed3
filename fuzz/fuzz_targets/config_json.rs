//! Arbitrary bytes as config.json: parsing, validation and the resources and seccomp
//! parts must never panic, whatever the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hoist_runtime::fuzzing::config_json(data);
});
