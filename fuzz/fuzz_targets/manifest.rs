//! Arbitrary bytes as a manifest or an index resolved by platform, converted to OCI, and as
//! an image config: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hoist::image::fuzzing::manifest(data);
});
