//! Who is calling: an API key's holder, a JWT's subject, or an anonymous address.

use std::collections::BTreeSet;
use std::net::IpAddr;

/// The caller of one request, as `Authenticator::authenticate` established it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// What its rate limits are kept under: `key:<name>`, `jwt:<iss>|<sub>` or `ip:<addr>`.
    pub id: String,
    /// For logs: the key's name, the token's subject, or `anonymous`.
    pub name: String,
    pub scopes: BTreeSet<String>,
    pub anonymous: bool,
}

impl Client {
    /// The holder of the API key named `name`.
    pub fn api_key(name: &str, scopes: impl IntoIterator<Item = String>) -> Client {
        Client {
            id: format!("key:{name}"),
            name: name.to_string(),
            scopes: scopes.into_iter().collect(),
            anonymous: false,
        }
    }

    /// The subject of a verified token.
    pub fn jwt(issuer: &str, subject: &str, scopes: BTreeSet<String>) -> Client {
        Client {
            id: format!("jwt:{issuer}|{subject}"),
            name: subject.to_string(),
            scopes,
            anonymous: false,
        }
    }

    /// A caller without credentials, known by its address. IPv6 callers are grouped by their
    /// /64, the block one host usually holds, so that rotating addresses in it does not
    /// escape the limit.
    pub fn anonymous(peer: IpAddr) -> Client {
        let id = match peer.to_canonical() {
            IpAddr::V4(v4) => format!("ip:{v4}"),
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                format!("ip:{}/64", std::net::Ipv6Addr::from(prefix))
            }
        };
        Client {
            id,
            name: "anonymous".to_string(),
            scopes: BTreeSet::new(),
            anonymous: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_ids_are_the_address_or_its_ipv6_block() {
        let v4 = Client::anonymous("192.0.2.7".parse().unwrap());
        assert_eq!(v4.id, "ip:192.0.2.7");
        assert!(v4.anonymous);
        let mapped = Client::anonymous("::ffff:192.0.2.7".parse().unwrap());
        assert_eq!(mapped.id, "ip:192.0.2.7");
        let a = Client::anonymous("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = Client::anonymous("2001:db8:1:2:bbbb::9".parse().unwrap());
        assert_eq!(a.id, "ip:2001:db8:1:2::/64");
        assert_eq!(a.id, b.id);
        let other = Client::anonymous("2001:db8:1:3::1".parse().unwrap());
        assert_ne!(a.id, other.id);
    }

    #[test]
    fn identified_clients_are_keyed_by_kind() {
        let key = Client::api_key("web", ["read".to_string()]);
        assert_eq!(key.id, "key:web");
        assert!(key.scopes.contains("read") && !key.anonymous);
        let jwt = Client::jwt("https://idp/", "user-1", BTreeSet::new());
        assert_eq!(jwt.id, "jwt:https://idp/|user-1");
        assert_eq!(jwt.name, "user-1");
    }
}
