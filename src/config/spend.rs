//! What a provider's calls cost and the budgets they must stay within (`providers.<name>.spend`).

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Prices of one provider's calls, in `currency`, and its optional budgets. A call is billed
/// when the provider answered it (any status but 429 and 5xx, which providers do not bill):
/// `price_per_call`, plus `price_per_unit` for each item it asked for (the SKUs of a stock call).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpendConfig {
    /// ISO 4217 code of the prices and budgets (`USD`).
    pub currency: String,
    pub price_per_call: f64,
    pub price_per_unit: f64,
    /// Most to spend per UTC day; unset: no daily budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_budget: Option<f64>,
    /// Most to spend per UTC calendar month; unset: no monthly budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_budget: Option<f64>,
    /// At a reached budget: `shed` the provider's optional fields (critical ones still call
    /// it), or `stop` calling it until the period ends.
    pub on_budget_reached: BudgetAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetAction {
    Shed,
    Stop,
}

impl Default for SpendConfig {
    /// Free, without budgets.
    fn default() -> Self {
        SpendConfig {
            currency: "USD".into(),
            price_per_call: 0.0,
            price_per_unit: 0.0,
            daily_budget: None,
            monthly_budget: None,
            on_budget_reached: BudgetAction::Shed,
        }
    }
}

impl SpendConfig {
    /// Billed per call, with budgets (in USD).
    pub fn per_call(price: f64, daily: f64, monthly: f64) -> Self {
        SpendConfig {
            price_per_call: price,
            daily_budget: Some(daily),
            monthly_budget: Some(monthly),
            ..SpendConfig::default()
        }
    }

    pub(super) fn validate(&self, key: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
        let code = &self.currency;
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ConfigError::invalid(
                key("spend.currency"),
                "must be an ISO 4217 code such as USD",
            ));
        }
        // Beyond this a price would not fit the ledger's nano-units.
        const MOST: f64 = 1e9;
        let price = |field: &str, value: f64| {
            if value.is_finite() && (0.0..=MOST).contains(&value) {
                Ok(())
            } else {
                Err(ConfigError::invalid(
                    key(field),
                    "must be a price of at least 0 (and at most 1e9)",
                ))
            }
        };
        price("spend.price_per_call", self.price_per_call)?;
        price("spend.price_per_unit", self.price_per_unit)?;
        for (field, budget) in [
            ("spend.daily_budget", self.daily_budget),
            ("spend.monthly_budget", self.monthly_budget),
        ] {
            if let Some(budget) = budget
                && !(budget.is_finite() && budget > 0.0 && budget <= MOST)
            {
                return Err(ConfigError::invalid(
                    key(field),
                    "must be greater than 0 (and at most 1e9)",
                ));
            }
        }
        Ok(())
    }
}
