//! Request limits, checked before anything runs: tokens and bracket nesting before parsing
//! ([`tokens`]), then on the parsed document depth, aliases, root fields, directives,
//! introspection and cost ([`walk`], priced by [`cost`]). They key off the document's
//! structure only: a fragment's or an operation's name changes nothing.

pub mod cost;
mod tokens;
mod walk;

use std::collections::BTreeSet;

use async_graphql::Variables;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
};

use crate::config::LimitsConfig;
use cost::CostModel;
use walk::Walk;

/// A request refused by a limit: its error code and a message that says which and how much.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitError {
    pub code: &'static str,
    pub message: String,
}

impl LimitError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        LimitError {
            code,
            message: message.into(),
        }
    }
}

/// What the walk measured of the operation that will run.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    pub cost: u64,
    pub depth: u64,
    /// `Type.field` of every field it selects (for field scopes).
    pub fields: BTreeSet<String>,
}

/// The limits of one gateway, with the cost model of its schema.
pub struct RequestLimits {
    config: LimitsConfig,
    model: CostModel,
    introspection: bool,
}

impl RequestLimits {
    pub fn new(config: &LimitsConfig, introspection: bool) -> Self {
        RequestLimits {
            config: config.clone(),
            model: CostModel::from_sdl(&super::sdl()),
            introspection,
        }
    }

    /// Whether the schema has the field `Type.field`.
    pub fn knows_field(&self, coordinate: &str) -> bool {
        self.model.knows(coordinate)
    }

    pub fn config(&self) -> &LimitsConfig {
        &self.config
    }

    /// Before parsing: the document's tokens and bracket nesting, then its size.
    pub fn scan(&self, query: &str) -> Result<(), LimitError> {
        tokens::scan(query, self.config.max_tokens)?;
        let max = self.config.max_document_bytes;
        if query.len() > max {
            return Err(LimitError::new(
                "PAYLOAD_TOO_LARGE",
                format!(
                    "the document is {} bytes; at most {max} are allowed (send large values as variables)",
                    query.len()
                ),
            ));
        }
        Ok(())
    }

    /// After parsing: every operation and fragment of `doc` within the limits; the measures
    /// of the one that will run (`operation`, or the only one).
    pub fn analyze(
        &self,
        doc: &ExecutableDocument,
        operation: Option<&str>,
        variables: &Variables,
    ) -> Result<Analysis, LimitError> {
        self.directives(doc)?;
        let variables = with_defaults(doc, operation, variables);
        let mut walk = Walk::new(
            doc,
            &self.model,
            &variables,
            u64::from(self.config.max_list_size),
        );
        let mut selected = Analysis::default();
        for (name, op) in doc.operations.iter() {
            let root = match op.node.ty {
                OperationType::Query => "Query",
                OperationType::Mutation => "Mutation",
                OperationType::Subscription => "Subscription",
            };
            let summary = walk.selection_set(&op.node.selection_set.node, root, None, 1)?;
            let what = match name {
                Some(name) => format!("operation `{name}`"),
                None => "the operation".to_owned(),
            };
            self.check(&summary, &what)?;
            if summary.fields_here > self.config.max_root_fields as u64 {
                return Err(LimitError::new(
                    "MAX_ROOT_FIELDS_LIMIT",
                    format!(
                        "{what} selects {} root fields; at most {} are allowed",
                        summary.fields_here, self.config.max_root_fields
                    ),
                ));
            }
            if summary.introspection && !self.introspection {
                return Err(LimitError::new(
                    "INTROSPECTION_DISABLED",
                    "introspection is disabled on this gateway",
                ));
            }
            let is_selected = match (operation, name) {
                (Some(wanted), Some(name)) => wanted == name.as_str(),
                (None, _) => matches!(doc.operations, DocumentOperations::Single(_)),
                (Some(_), None) => false,
            };
            if is_selected || (operation.is_none() && summary.cost() > selected.cost) {
                selected = Analysis {
                    cost: summary.cost(),
                    depth: summary.depth,
                    fields: summary.coordinates,
                };
            }
        }
        // Validation also visits each fragment on its own, expanding what it spreads: its
        // size is bounded too (its depth and aliases count where it is spread).
        for (name, fragment) in doc.fragments.iter() {
            let on = fragment.node.type_condition.node.on.node.as_str();
            let summary = walk.selection_set(&fragment.node.selection_set.node, on, None, 1)?;
            self.check_cost(&summary, &format!("fragment `{name}`"))?;
        }
        Ok(selected)
    }

    fn check(&self, summary: &walk::Summary, what: &str) -> Result<(), LimitError> {
        let limits = &self.config;
        if summary.introspection_depth > walk::MAX_INTROSPECTION_DEPTH {
            return Err(LimitError::new(
                "MAX_DEPTH_LIMIT",
                format!(
                    "{what} nests introspection fields {} deep; at most {} is allowed",
                    summary.introspection_depth,
                    walk::MAX_INTROSPECTION_DEPTH
                ),
            ));
        }
        if summary.depth > limits.max_depth as u64 {
            return Err(LimitError::new(
                "MAX_DEPTH_LIMIT",
                format!(
                    "{what} nests fields {} deep; at most {} is allowed",
                    summary.depth, limits.max_depth
                ),
            ));
        }
        if summary.aliases > limits.max_aliases as u64 {
            return Err(LimitError::new(
                "MAX_ALIASES_LIMIT",
                format!(
                    "{what} has {} aliases (fragments expanded); at most {} are allowed",
                    summary.aliases, limits.max_aliases
                ),
            ));
        }
        self.check_cost(summary, what)
    }

    fn check_cost(&self, summary: &walk::Summary, what: &str) -> Result<(), LimitError> {
        let limits = &self.config;
        if summary.cost() > limits.max_cost {
            return Err(LimitError::new(
                "MAX_COMPLEXITY_LIMIT",
                format!(
                    "{what} costs {} ({} fields selected, up to {} provider calls); at most {} is allowed",
                    summary.cost(),
                    summary.selections,
                    summary.calls,
                    limits.max_cost
                ),
            ));
        }
        Ok(())
    }

    /// Directives per selection and in the whole document, as written (not expanded).
    fn directives(&self, doc: &ExecutableDocument) -> Result<(), LimitError> {
        let per_field = self.config.max_directives_per_field;
        let mut total = 0usize;
        let mut count = |n: usize| -> Result<(), LimitError> {
            if n > per_field {
                return Err(LimitError::new(
                    "MAX_DIRECTIVES_LIMIT",
                    format!("a selection has {n} directives; at most {per_field} are allowed"),
                ));
            }
            total += n;
            Ok(())
        };
        fn walk_set(
            set: &SelectionSet,
            count: &mut dyn FnMut(usize) -> Result<(), LimitError>,
        ) -> Result<(), LimitError> {
            for selection in &set.items {
                count(selection.node.directives().len())?;
                match &selection.node {
                    Selection::Field(f) => walk_set(&f.node.selection_set.node, count)?,
                    Selection::InlineFragment(i) => walk_set(&i.node.selection_set.node, count)?,
                    Selection::FragmentSpread(_) => {}
                }
            }
            Ok(())
        }
        for (_, op) in doc.operations.iter() {
            count(op.node.directives.len())?;
            for var in &op.node.variable_definitions {
                count(var.node.directives.len())?;
            }
            walk_set(&op.node.selection_set.node, &mut count)?;
        }
        for (_, fragment) in doc.fragments.iter() {
            count(fragment.node.directives.len())?;
            walk_set(&fragment.node.selection_set.node, &mut count)?;
        }
        if total > self.config.max_directives {
            return Err(LimitError::new(
                "MAX_DIRECTIVES_LIMIT",
                format!(
                    "the document has {total} directives; at most {} are allowed",
                    self.config.max_directives
                ),
            ));
        }
        Ok(())
    }
}

/// The request's variables, with the selected operation's defaults for those it leaves out.
fn with_defaults(
    doc: &ExecutableDocument,
    operation: Option<&str>,
    variables: &Variables,
) -> Variables {
    let op = match (&doc.operations, operation) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(map), Some(name)) => map.get(name),
        (DocumentOperations::Multiple(_), None) => None,
    };
    let mut variables = variables.clone();
    for def in op.iter().flat_map(|op| op.node.variable_definitions.iter()) {
        let name = &def.node.name.node;
        if variables.get(name).is_none()
            && let Some(default) = &def.node.default_value
        {
            variables.insert(name.clone(), default.node.clone());
        }
    }
    variables
}

#[cfg(test)]
mod tests;
