//! Money and exchange rates. Amounts are exact decimals, sent as strings so that no client
//! parses them into a float.

use async_graphql::{Enum, Object, SimpleObject};
use providers::domain::{self, Rates};

macro_rules! graphql_currency {
    ($($code:ident => $minor:expr, $name:expr;)*) => {
        /// An ISO 4217 currency that Switchyard prices in (the ECB reference set).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
        #[graphql(remote = "providers::domain::Currency", rename_items = "UPPERCASE")]
        #[allow(clippy::upper_case_acronyms)]
        pub enum Currency {
            $($code,)*
        }
    };
}
providers::for_each_currency!(graphql_currency);

/// An amount of money.
pub struct Money(pub domain::Money);

#[Object]
impl Money {
    /// The amount as an exact decimal string, rounded to the currency's minor unit
    /// (e.g. `"9.15"`, `"1464"` for JPY).
    async fn amount(&self) -> String {
        self.0.amount.to_string()
    }

    async fn currency(&self) -> Currency {
        self.0.currency.into()
    }
}

/// One exchange rate: 1 unit of the base buys `rate` units of `currency`.
#[derive(SimpleObject)]
pub struct ExchangeRate {
    pub currency: Currency,
    /// Exact decimal string, as the provider published it.
    pub rate: String,
}

/// The latest rates from one base currency.
pub struct ExchangeRates {
    pub rates: Rates,
    pub symbols: Option<Vec<domain::Currency>>,
}

#[Object]
impl ExchangeRates {
    async fn base(&self) -> Currency {
        self.rates.base.into()
    }

    /// The business day the rates are for (`YYYY-MM-DD`).
    async fn date(&self) -> String {
        self.rates.date.to_string()
    }

    /// Which provider answered: `frankfurter` (primary) or `erapi` (failover).
    async fn source(&self) -> &str {
        self.rates.source
    }

    async fn rates(&self) -> Vec<ExchangeRate> {
        self.rates
            .rates
            .iter()
            .filter(|(c, _)| self.symbols.as_ref().is_none_or(|s| s.contains(c)))
            .map(|(c, r)| ExchangeRate {
                currency: (*c).into(),
                rate: r.normalize().to_string(),
            })
            .collect()
    }
}
