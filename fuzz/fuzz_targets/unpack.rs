//! Arbitrary bytes as a layer (plain tar, or gzip and zstd found by their magic bytes)
//! unpacked into a scratch directory: never a panic, never a write outside the layers
//! directory (a sentinel beside it stays untouched), and a failed unpack removes its
//! temporary directory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hoist::image::unpack::fuzzing::unpack(data);
});
