//! The shared entity cache below the DataLoaders: per provider and entity, keyed by id, bounded
//! by bytes; fresh, stale-while-revalidate and stale-if-error windows; short negative caching of
//! NOT_FOUND.

pub mod entity;
