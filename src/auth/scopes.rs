//! Field scopes: a field listed in `auth.field_scopes` runs only for a client holding its
//! scope. An anonymous client is told to authenticate (401); an authenticated one without
//! the scope is forbidden (403). Every other field is public.

use std::collections::BTreeMap;

use super::client::Client;
use super::rejection::AuthRejection;

pub(super) struct FieldScopes {
    /// `Type.field` -> the scope it needs.
    needs: BTreeMap<String, String>,
}

impl FieldScopes {
    pub(super) fn new(needs: &BTreeMap<String, String>) -> FieldScopes {
        FieldScopes {
            needs: needs.clone(),
        }
    }

    pub(super) fn fields(&self) -> impl Iterator<Item = &str> {
        self.needs.keys().map(String::as_str)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.needs.is_empty()
    }

    /// Whether `client` may select every one of `fields` (`Type.field` coordinates).
    pub(super) fn authorize<'a>(
        &self,
        client: &Client,
        fields: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), AuthRejection> {
        if self.needs.is_empty() {
            return Ok(());
        }
        let mut missing: Vec<(&str, &str)> = Vec::new();
        for field in fields {
            if let Some((field, scope)) = self.needs.get_key_value(field)
                && !client.scopes.contains(scope)
                && !missing.iter().any(|(f, _)| *f == field.as_str())
            {
                missing.push((field, scope));
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let needs = missing
            .iter()
            .map(|(field, scope)| format!("`{field}` needs the scope `{scope}`"))
            .collect::<Vec<_>>()
            .join("; ");
        if client.anonymous {
            return Err(AuthRejection::credentials_required(format!(
                "{needs}: authenticate with an API key or a bearer token"
            )));
        }
        let mut scopes: Vec<&str> = missing.iter().map(|(_, scope)| *scope).collect();
        scopes.sort_unstable();
        scopes.dedup();
        Err(AuthRejection::insufficient_scope(
            format!("{needs}, which this client's credentials do not grant"),
            &scopes,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes() -> FieldScopes {
        FieldScopes::new(&BTreeMap::from([
            ("Product.stock".to_string(), "inventory:read".to_string()),
            ("Product.reviews".to_string(), "reviews:read".to_string()),
        ]))
    }

    #[test]
    fn public_fields_run_for_anyone() {
        let anonymous = Client::anonymous("127.0.0.1".parse().unwrap());
        assert!(
            scopes()
                .authorize(&anonymous, ["Query.product", "Product.title"])
                .is_ok()
        );
    }

    #[test]
    fn a_scoped_field_asks_anonymous_clients_to_authenticate() {
        let anonymous = Client::anonymous("127.0.0.1".parse().unwrap());
        let rejection = scopes()
            .authorize(&anonymous, ["Product.title", "Product.stock"])
            .unwrap_err();
        assert_eq!(rejection.status, 401);
        assert_eq!(rejection.code, "UNAUTHENTICATED");
        assert!(rejection.message.contains("`Product.stock`"), "{rejection}");
        assert!(
            rejection.message.contains("`inventory:read`"),
            "{rejection}"
        );
        assert_eq!(rejection.www_authenticate.as_deref(), Some("Bearer"));
    }

    #[test]
    fn a_client_without_the_scope_is_forbidden_with_each_field_named_once() {
        let client = Client::api_key("web", ["inventory:read".to_string()]);
        assert!(scopes().authorize(&client, ["Product.stock"]).is_ok());
        let rejection = scopes()
            .authorize(
                &client,
                ["Product.stock", "Product.reviews", "Product.reviews"],
            )
            .unwrap_err();
        assert_eq!(rejection.status, 403);
        assert_eq!(rejection.code, "FORBIDDEN");
        assert_eq!(rejection.message.matches("Product.reviews").count(), 1);
        assert!(!rejection.message.contains("Product.stock"), "{rejection}");
        assert!(rejection.message.contains("`reviews:read`"), "{rejection}");
        assert_eq!(
            rejection.www_authenticate.as_deref(),
            Some("Bearer error=\"insufficient_scope\", scope=\"reviews:read\"")
        );
    }
}
