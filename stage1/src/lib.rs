//! stage1 library
