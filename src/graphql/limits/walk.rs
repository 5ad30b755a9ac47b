//! One walk over a parsed document, fragments expanded, that measures what the limits key off:
//! depth, aliases, root fields, nesting, the fields selected and the cost.
//!
//! Each fragment is measured once per list size it is spread under and reused, so a chain of
//! fragments that each spread the next twice costs a walk of the text, not of its 2^n
//! expansion (sums saturate instead of overflowing).
//!
//! Hand-written: async-graphql's own depth and complexity visitors expand every fragment
//! spread anew (exponential in such chains) and report no code, and its complexity knows
//! nothing of provider calls.

use std::collections::{BTreeSet, HashMap};

use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::{Name, Value, Variables};

use super::LimitError;
use super::cost::{CostModel, DEFAULT_LIST_SIZE};

/// How deep selection sets may nest, fields and fragments alike: what async-graphql's parser
/// check allows (its `limit_recursive_depth` default), reported with a code here first.
pub const MAX_NESTING: u64 = 32;

/// How deep an introspection query (`__schema`, `__type`) may nest its fields: GraphiQL's asks
/// for 15 levels.
pub const MAX_INTROSPECTION_DEPTH: u64 = 20;

/// A selection set's measures, fragments expanded.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Fields selected (each counts once, however many items hold it).
    pub selections: u64,
    /// Provider calls one resolution of the parent can cause.
    pub calls: u64,
    /// Deepest field nesting, this level being 1.
    pub depth: u64,
    /// Levels of selection sets, this one included (fields, spreads and inline fragments
    /// each open one); for a field, its own selection set's.
    pub nesting: u64,
    pub aliases: u64,
    /// Fields at this level.
    pub fields_here: u64,
    /// `Type.field` of every field the model knows.
    pub coordinates: BTreeSet<String>,
    /// Whether `__schema` or `__type` is selected on the query type.
    pub introspection: bool,
    /// Deepest field nesting inside those (not counted in `depth`).
    pub introspection_depth: u64,
}

impl Summary {
    fn merge(&mut self, other: &Summary) {
        self.selections = self.selections.saturating_add(other.selections);
        self.calls = self.calls.saturating_add(other.calls);
        self.depth = self.depth.max(other.depth);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.fields_here = self.fields_here.saturating_add(other.fields_here);
        self.coordinates.extend(other.coordinates.iter().cloned());
        self.introspection |= other.introspection;
        self.introspection_depth = self.introspection_depth.max(other.introspection_depth);
    }

    /// The cost: every field selected, plus every provider call the operation can cause.
    pub fn cost(&self) -> u64 {
        self.selections.saturating_add(self.calls)
    }
}

pub struct Walk<'a> {
    doc: &'a ExecutableDocument,
    model: &'a CostModel,
    variables: &'a Variables,
    max_list: u64,
    /// Measured fragments, by name and the list size they were spread under.
    memo: HashMap<(Name, Option<u64>), Summary>,
    in_progress: Vec<Name>,
}

impl<'a> Walk<'a> {
    pub fn new(
        doc: &'a ExecutableDocument,
        model: &'a CostModel,
        variables: &'a Variables,
        max_list: u64,
    ) -> Self {
        Walk {
            doc,
            model,
            variables,
            max_list,
            memo: HashMap::new(),
            in_progress: Vec::new(),
        }
    }

    /// Measures `set`, selected on `parent`; `slice` is the `first` of the connection field
    /// whose lists this set holds.
    pub fn selection_set(
        &mut self,
        set: &SelectionSet,
        parent: &str,
        slice: Option<u64>,
        nesting: u64,
    ) -> Result<Summary, LimitError> {
        if nesting > MAX_NESTING {
            return Err(too_nested());
        }
        let mut summary = Summary::default();
        let mut deepest = 0;
        for selection in &set.items {
            let part = match &selection.node {
                Selection::Field(field) => self.field(&field.node, parent, slice, nesting)?,
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    match self.fragment(name, slice, nesting)? {
                        Some(part) => part,
                        // An unknown fragment: validation names it.
                        None => continue,
                    }
                }
                Selection::InlineFragment(inline) => {
                    let on = inline
                        .node
                        .type_condition
                        .as_ref()
                        .map_or(parent, |t| t.node.on.node.as_str());
                    self.selection_set(&inline.node.selection_set.node, on, slice, nesting + 1)?
                }
            };
            deepest = deepest.max(part.nesting);
            summary.merge(&part);
        }
        summary.nesting = 1 + deepest;
        Ok(summary)
    }

    fn field(
        &mut self,
        field: &Field,
        parent: &str,
        slice: Option<u64>,
        nesting: u64,
    ) -> Result<Summary, LimitError> {
        let name = field.name.node.as_str();
        let info = self.model.field(parent, name);
        let mut summary = Summary {
            selections: 1,
            calls: info.map_or(0, |i| i.calls),
            depth: 1,
            nesting: 0,
            aliases: u64::from(field.alias.is_some()),
            fields_here: 1,
            coordinates: BTreeSet::new(),
            introspection: parent == self.model.query_type.as_str()
                && matches!(name, "__schema" | "__type"),
            introspection_depth: 0,
        };
        if info.is_some() {
            summary.coordinates.insert(format!("{parent}.{name}"));
        }
        if field.selection_set.node.items.is_empty() {
            return Ok(summary);
        }
        let first = info.and_then(|i| self.first(field, i.first_default));
        let is_list = info.is_some_and(|i| i.is_list);
        let (multiplier, child_slice) = match (is_list, first) {
            (true, Some(n)) => (n, None),
            (true, None) => (slice.unwrap_or(DEFAULT_LIST_SIZE), None),
            (false, n) => (1, n),
        };
        let child_type = info.map_or("", |i| i.type_name.as_str());
        let children = self.selection_set(
            &field.selection_set.node,
            child_type,
            child_slice,
            nesting + 1,
        )?;
        summary.selections = summary.selections.saturating_add(children.selections);
        summary.calls = summary
            .calls
            .saturating_add(multiplier.saturating_mul(children.calls));
        summary.depth = 1 + children.depth;
        summary.nesting = children.nesting;
        summary.aliases = summary.aliases.saturating_add(children.aliases);
        summary.coordinates.extend(children.coordinates);
        let is_introspection = summary.introspection;
        summary.introspection |= children.introspection;
        summary.introspection_depth = children.introspection_depth;
        if is_introspection {
            // The schema's description is read from memory, never from a provider: its depth
            // has a bound of its own (tools ask for type references 9 levels deep).
            summary.introspection_depth = summary.introspection_depth.max(summary.depth);
            summary.depth = 1;
        }
        Ok(summary)
    }

    /// A fragment's measures, from the memo when it was measured under this list size before.
    fn fragment(
        &mut self,
        name: &Name,
        slice: Option<u64>,
        nesting: u64,
    ) -> Result<Option<Summary>, LimitError> {
        let Some(fragment) = self.doc.fragments.get(name) else {
            return Ok(None);
        };
        if self.in_progress.contains(name) {
            return Err(LimitError::new(
                "GRAPHQL_VALIDATION_FAILED",
                format!("fragment `{name}` spreads itself (a fragment cycle)"),
            ));
        }
        let key = (name.clone(), slice);
        let part = match self.memo.get(&key) {
            Some(part) => part.clone(),
            None => {
                self.in_progress.push(name.clone());
                let on = fragment.node.type_condition.node.on.node.clone();
                let part =
                    self.selection_set(&fragment.node.selection_set.node, &on, slice, nesting + 1);
                self.in_progress.pop();
                let part = part?;
                self.memo.insert(key, part.clone());
                part
            }
        };
        if nesting + part.nesting > MAX_NESTING {
            return Err(too_nested());
        }
        Ok(Some(part))
    }

    /// The field's `first`: its value (literal or variable), else its default; at most the
    /// largest list size, never negative.
    fn first(&self, field: &Field, default: Option<u64>) -> Option<u64> {
        let given = field.get_argument("first").map(|v| {
            v.node
                .clone()
                .into_const_with(|var| self.variables.get(&var).cloned().ok_or(()))
        });
        let value = match given {
            Some(Ok(Value::Number(n))) => n.as_u64().or_else(|| n.as_i64().map(|_| 0)),
            // Absent, null or mistyped (validation reports the last): the default.
            _ => default,
        };
        value.map(|n| n.min(self.max_list))
    }
}

fn too_nested() -> LimitError {
    LimitError::new(
        "MAX_DEPTH_LIMIT",
        format!("selection sets (fields and fragments) nest more than {MAX_NESTING} deep"),
    )
}
