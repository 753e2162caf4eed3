//! Arbitrary text as an image reference, a store name and a policy scope: never a panic, and
//! a reference that parses prints as text that parses back to it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hoist::image::fuzzing::reference(data);
});
