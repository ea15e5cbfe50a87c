//! Budget accountant (in progress).
