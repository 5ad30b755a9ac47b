//! The shared entity cache below the DataLoaders: per provider and entity, keyed by id, bounded
//! by bytes; fresh, stale-while-revalidate and stale-if-error windows; short negative caching of
//! NOT_FOUND. In memory per replica (`entity.rs`), and optionally in Redis shared by every
//! replica (`redis.rs`), the two joined in `tiered.rs`; whole responses in `response.rs`.

pub mod entity;
pub mod redis;
pub mod response;
pub mod tiered;
