//! Images: references and transports (`reference`), digests verified while they stream
//! (`digest`), the OCI-layout store under `<dir>/images` (`store`), where images come
//! from (`source`), and layers unpacked safely into `<dir>/layers/<diffid>` (`unpack`),
//! flattened for `image render` (`render`).

pub mod digest;
pub mod fuzzing;
pub mod reference;
pub mod registry;
pub mod render;
pub mod source;
pub mod store;
pub mod unpack;
