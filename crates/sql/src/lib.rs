//! SQL layer (in progress).
