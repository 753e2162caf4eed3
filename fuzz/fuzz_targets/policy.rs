//! Arbitrary bytes as policy.json, a registries.d file, a signature payload and a cosign
//! signature: never a panic; a parsed policy survives being written back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hoist::trust::fuzzing::policy(data);
});
