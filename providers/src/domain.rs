//! Domain types shared by the providers and the gateway's schema.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A catalog product's id (DummyJSON ids are positive integers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProductId(pub u64);

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for ProductId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(ProductId)
    }
}

/// Stock-keeping unit: the key the inventory service knows a product by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Sku(pub String);

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether the catalog lists a product as available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Availability {
    InStock,
    LowStock,
    OutOfStock,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub id: ProductId,
    pub title: String,
    pub description: String,
    /// Category slug, e.g. `home-decoration`.
    pub category: String,
    /// Absent for many products (DummyJSON omits the key).
    pub brand: Option<String>,
    pub sku: Sku,
    /// List price in [`Product::price_currency`].
    pub price: Decimal,
    pub price_currency: Currency,
    pub rating: f64,
    pub images: Vec<String>,
    pub thumbnail: String,
    pub availability: Availability,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub slug: String,
    pub name: String,
}

/// Which products a list asks for: one offset page, optionally narrowed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProductQuery {
    pub offset: usize,
    pub limit: usize,
    pub category: Option<String>,
    pub search: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductPage {
    pub products: Vec<Product>,
    /// Number of matches before paging.
    pub total: usize,
    pub offset: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stock {
    pub sku: Sku,
    pub available: u32,
    pub reserved: u32,
    pub warehouse: String,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub id: String,
    pub rating: u8,
    pub title: Option<String>,
    pub body: String,
    pub author: String,
    pub created_at: DateTime<Utc>,
    pub verified_purchase: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewSummary {
    pub count: u32,
    /// `None` when the product has no reviews.
    pub average: Option<f64>,
}

/// One page of a product's reviews request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReviewPageRequest {
    pub product: ProductId,
    pub limit: u32,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewPage {
    pub product: ProductId,
    pub summary: ReviewSummary,
    pub reviews: Vec<Review>,
    pub next_cursor: Option<String>,
}

/// Exchange rates from one base currency, as one provider published them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    pub base: Currency,
    /// The business day the rates are for.
    pub date: NaiveDate,
    /// `1 base = rate quote`, for every quote the provider gave (never the base itself).
    pub rates: Vec<(Currency, Decimal)>,
    /// Which provider answered: one of [`RATE_SOURCES`].
    #[serde(deserialize_with = "rate_source")]
    pub source: RateSource,
    /// When the provider publishes its next rates, if it says (ExchangeRate-API's
    /// `time_next_update_unix`): until then these stay current.
    pub next_update: Option<DateTime<Utc>>,
}

/// The name of a provider that publishes [`Rates`]. (An alias rather than `&'static str` in
/// the field: serde's derive borrows every field spelled `&str` from the input, which would
/// make stored rates deserializable only from `'static` data.)
pub type RateSource = &'static str;

/// The providers that publish [`Rates`].
pub const RATE_SOURCES: &[&str] = &["frankfurter", "erapi"];

fn rate_source<'de, D: serde::Deserializer<'de>>(d: D) -> Result<RateSource, D::Error> {
    let name = std::borrow::Cow::<str>::deserialize(d)?;
    RATE_SOURCES
        .iter()
        .find(|known| **known == name)
        .copied()
        .ok_or_else(|| serde::de::Error::custom(format!("unknown rates source `{name}`")))
}

impl Rates {
    pub fn rate(&self, quote: Currency) -> Option<Decimal> {
        if quote == self.base {
            return Some(Decimal::ONE);
        }
        self.rates
            .iter()
            .find(|(c, _)| *c == quote)
            .map(|(_, r)| *r)
    }
}

/// An amount of money in a currency, exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    pub amount: Decimal,
    pub currency: Currency,
}

impl Money {
    /// Converts at `rate` (1 unit of `self.currency` = `rate` units of `to`), rounded half away
    /// from zero to `to`'s minor unit.
    pub fn convert(self, to: Currency, rate: Decimal) -> Money {
        let amount = (self.amount * rate).round_dp_with_strategy(
            to.minor_units(),
            rust_decimal::RoundingStrategy::MidpointAwayFromZero,
        );
        Money {
            amount,
            currency: to,
        }
    }
}

macro_rules! currencies {
    ($($code:ident => $minor:expr, $name:expr;)*) => {
        /// The currencies Switchyard prices in: the ECB reference set that both FX providers
        /// publish.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Currency { $($code,)* }

        impl Currency {
            pub const ALL: &'static [Currency] = &[$(Currency::$code,)*];

            pub fn code(self) -> &'static str {
                match self { $(Currency::$code => stringify!($code),)* }
            }

            /// Digits after the decimal point in amounts of this currency (ISO 4217).
            pub fn minor_units(self) -> u32 {
                match self { $(Currency::$code => $minor,)* }
            }

            pub fn name(self) -> &'static str {
                match self { $(Currency::$code => $name,)* }
            }
        }

        impl FromStr for Currency {
            type Err = UnknownCurrency;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $(stringify!($code) => Ok(Currency::$code),)*
                    _ => Err(UnknownCurrency(s.to_owned())),
                }
            }
        }
    };
}

/// Calls macro `$m` with the table of currencies (`CODE => minor units, "name";`), so that
/// other crates (the gateway's GraphQL enum) are generated from the same single list.
#[macro_export]
macro_rules! for_each_currency {
    ($m:ident) => {
        $m! {
        AUD => 2, "Australian Dollar";
        BGN => 2, "Bulgarian Lev";
        BRL => 2, "Brazilian Real";
        CAD => 2, "Canadian Dollar";
        CHF => 2, "Swiss Franc";
        CNY => 2, "Chinese Renminbi Yuan";
        CZK => 2, "Czech Koruna";
        DKK => 2, "Danish Krone";
        EUR => 2, "Euro";
        GBP => 2, "British Pound";
        HKD => 2, "Hong Kong Dollar";
        HUF => 2, "Hungarian Forint";
        IDR => 2, "Indonesian Rupiah";
        ILS => 2, "Israeli New Sheqel";
        INR => 2, "Indian Rupee";
        ISK => 0, "Icelandic Króna";
        JPY => 0, "Japanese Yen";
        KRW => 0, "South Korean Won";
        MXN => 2, "Mexican Peso";
        MYR => 2, "Malaysian Ringgit";
        NOK => 2, "Norwegian Krone";
        NZD => 2, "New Zealand Dollar";
        PHP => 2, "Philippine Peso";
        PLN => 2, "Polish Złoty";
        RON => 2, "Romanian Leu";
        SEK => 2, "Swedish Krona";
        SGD => 2, "Singapore Dollar";
        THB => 2, "Thai Baht";
        TRY => 2, "Turkish Lira";
        USD => 2, "United States Dollar";
        ZAR => 2, "South African Rand";
        }
    };
}

for_each_currency!(currencies);

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown currency code `{0}`")]
pub struct UnknownCurrency(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion_is_exact_and_rounds_to_the_minor_unit() {
        let price = Money {
            amount: Decimal::new(999, 2),
            currency: Currency::USD,
        };
        let eur = price.convert(Currency::EUR, "0.91625".parse().unwrap());
        assert_eq!(eur.amount.to_string(), "9.15");
        let jpy = price.convert(Currency::JPY, "146.57".parse().unwrap());
        assert_eq!(jpy.amount.to_string(), "1464");
    }

    #[test]
    fn currency_codes_round_trip() {
        for c in Currency::ALL {
            assert_eq!(c.code().parse::<Currency>(), Ok(*c));
        }
        assert!("XXX".parse::<Currency>().is_err());
    }
}
