//! privagg facade.
