//! Priorities: fields marked optional (`server.optional_fields`) are shed first when their
//! provider's quota runs low, or when its spend budget is reached, so that the critical
//! fields keep what is left. Shedding happens before the field asks its loader, so a shed
//! field costs no call. The error is `RATE_LIMITED` with `extensions.reason` `quota` or
//! `budget`.

use async_graphql::{Context, ErrorExtensions};
use providers::ProviderError;

use super::Providers;
use super::errors::ProviderFailure;

/// `Err(RATE_LIMITED)` when `field` (`Type.field`) is optional and `provider`'s quota is low
/// or its budget reached.
pub fn shed_if_optional(
    ctx: &Context<'_>,
    field: &str,
    provider: &'static str,
) -> async_graphql::Result<()> {
    let providers = ctx.data::<Providers>()?;
    if !providers.optional_fields.contains(field) {
        return Ok(());
    }
    let Some(health) = providers.upstreams.get(provider) else {
        return Ok(());
    };
    let (reason, message, retry_after) = if let Some(reached) = health.spend.reached() {
        (
            "budget",
            format!(
                "{field} is optional and was shed: {}",
                reached.describe(provider)
            ),
            Some(reached.resets_in),
        )
    } else if health.quota.is_low() {
        (
            "quota",
            format!("{field} is optional and was shed: the {provider} quota is nearly used up"),
            health.quota.held_for(),
        )
    } else {
        return Ok(());
    };
    crate::metrics::field_shed(provider, reason);
    let error: async_graphql::Error = ProviderFailure::new(
        provider,
        ProviderError::RateLimited {
            message,
            retry_after,
        },
    )
    .into();
    Err(error.extend_with(|_, ext| ext.set("reason", reason)))
}
