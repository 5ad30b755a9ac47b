//! Priorities: fields marked optional (`server.optional_fields`) are shed first when their
//! provider's quota runs low, so that the critical fields keep the quota that is left.
//! Shedding happens before the field asks its loader, so a shed field costs no call.

use async_graphql::Context;
use providers::ProviderError;

use super::Providers;
use super::errors::ProviderFailure;

/// `Err(RATE_LIMITED)` when `field` (`Type.field`) is optional and `provider`'s quota is low.
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
    if !health.quota.is_low() {
        return Ok(());
    }
    Err(ProviderFailure::new(
        provider,
        ProviderError::RateLimited {
            message: format!(
                "{field} is optional and was shed: the {provider} quota is nearly used up"
            ),
            retry_after: health.quota.held_for(),
        },
    )
    .into())
}
