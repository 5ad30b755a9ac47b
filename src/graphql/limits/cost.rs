//! What each field of the schema costs: the provider calls resolving it can cause (before any
//! cache or batching helps), and how many items a list field holds.

use std::collections::HashMap;

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{BaseType, TypeKind, TypeSystemDefinition};
use async_graphql::{Name, Value as ConstValue};

/// Provider calls one resolution of the field can cause, at worst. Every other field is
/// answered from its parent's data and costs nothing beyond being selected.
pub const PROVIDER_CALLS: &[(&str, u64)] = &[
    ("Query.products", 1),        // a catalog page
    ("Query.product", 1),         // a catalog item
    ("Query.categories", 1),      // the catalog's categories
    ("Query.exchangeRates", 1),   // the FX provider
    ("Product.price", 1),         // the FX provider (rates for the currency)
    ("Product.stock", 1),         // the inventory (batched, up to 50 SKUs a call)
    ("Product.reviews", 1),       // the reviews vendor: no batch endpoint, billed per call
    ("Product.reviewSummary", 1), // the reviews vendor
];

/// Items assumed in a list that no `first` argument sizes (categories, images, rates): none
/// of them holds fields that call providers.
pub const DEFAULT_LIST_SIZE: u64 = 10;

/// One field of an object type, as the cost walk needs it.
#[derive(Debug, Clone)]
pub struct FieldInfo {
    /// The named type the field returns (inside any list and non-null wrappers).
    pub type_name: Name,
    pub is_list: bool,
    /// Provider calls per resolution.
    pub calls: u64,
    /// The default of its `first` argument, when it has one.
    pub first_default: Option<u64>,
}

/// Fields by type and name, from the schema's SDL.
#[derive(Debug)]
pub struct CostModel {
    types: HashMap<Name, HashMap<Name, FieldInfo>>,
    pub query_type: Name,
}

impl CostModel {
    /// Reads the object types of `sdl`. Panics on an SDL the gateway itself did not produce:
    /// it is the schema's own, built into the binary.
    pub fn from_sdl(sdl: &str) -> CostModel {
        let document = parse_schema(sdl).expect("the schema's own SDL parses");
        let mut types = HashMap::new();
        for definition in document.definitions {
            let TypeSystemDefinition::Type(ty) = definition else {
                continue;
            };
            let TypeKind::Object(object) = &ty.node.kind else {
                continue;
            };
            let type_name = ty.node.name.node.clone();
            let fields = object
                .fields
                .iter()
                .filter_map(|field| {
                    let field = &field.node;
                    let coordinate = format!("{type_name}.{}", field.name.node);
                    let calls = PROVIDER_CALLS
                        .iter()
                        .find(|(c, _)| *c == coordinate)
                        .map_or(0, |(_, n)| *n);
                    let mut ty = &field.ty.node;
                    let mut is_list = false;
                    while let BaseType::List(inner) = &ty.base {
                        is_list = true;
                        ty = inner;
                    }
                    let BaseType::Named(named) = &ty.base else {
                        return None;
                    };
                    let first_default = field
                        .arguments
                        .iter()
                        .find(|a| a.node.name.node == "first")
                        .and_then(|a| a.node.default_value.as_ref())
                        .and_then(|v| match &v.node {
                            ConstValue::Number(n) => n.as_u64(),
                            _ => None,
                        });
                    let info = FieldInfo {
                        type_name: named.clone(),
                        is_list,
                        calls,
                        first_default,
                    };
                    Some((field.name.node.clone(), info))
                })
                .collect();
            types.insert(type_name, fields);
        }
        CostModel {
            types,
            query_type: Name::new("Query"),
        }
    }

    /// The field `name` of `type_name`; `None` for introspection and unknown fields.
    pub fn field(&self, type_name: &str, name: &str) -> Option<&FieldInfo> {
        self.types.get(type_name)?.get(name)
    }

    /// Whether the model knows the field `Type.field`.
    pub fn knows(&self, coordinate: &str) -> bool {
        coordinate
            .split_once('.')
            .is_some_and(|(ty, field)| self.field(ty, field).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_costed_field_is_in_the_schema() {
        let model = CostModel::from_sdl(&crate::graphql::sdl());
        for (coordinate, _) in PROVIDER_CALLS {
            assert!(model.knows(coordinate), "{coordinate} is not in the schema");
        }
        let products = model.field("Query", "products").unwrap();
        assert_eq!(products.first_default, Some(20));
        assert_eq!(products.calls, 1);
        let edges = model.field("ProductConnection", "edges").unwrap();
        assert!(edges.is_list);
        assert_eq!(edges.type_name.as_str(), "ProductEdge");
    }
}
