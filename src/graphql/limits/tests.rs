use async_graphql::Variables;
use async_graphql::parser::parse_query;

use super::*;

fn limits() -> RequestLimits {
    RequestLimits::new(&LimitsConfig::default(), true)
}

fn analyze(limits: &RequestLimits, query: &str) -> Result<Analysis, LimitError> {
    limits.scan(query)?;
    let doc = parse_query(query).expect("parses");
    limits.analyze(&doc, None, &Variables::default())
}

fn code(query: &str) -> &'static str {
    analyze(&limits(), query).unwrap_err().code
}

#[test]
fn cost_counts_fields_and_the_provider_calls_lists_multiply() {
    let titles = analyze(
        &limits(),
        "{ products(first: 100) { edges { node { title } } } }",
    )
    .unwrap();
    // 4 fields, 1 catalog call.
    assert_eq!(titles.cost, 5);
    let reviews = analyze(
        &limits(),
        "{ products(first: 100) { edges { node { title reviews { nodes { body } } } } } }",
    )
    .unwrap();
    // 7 fields, 1 catalog call and 100 reviews calls.
    assert_eq!(reviews.cost, 7 + 1 + 100);
    assert!(reviews.fields.contains("Product.reviews"));
    // The default page (20) and a variable.
    let default = analyze(
        &limits(),
        "{ products { edges { node { stock { available } } } } }",
    );
    assert_eq!(default.unwrap().cost, 5 + 1 + 20);
    let doc = parse_query(
        "query($n: Int) { products(first: $n) { edges { node { price { amount } } } } }",
    )
    .unwrap();
    let vars = Variables::from_json(serde_json::json!({ "n": 50 }));
    assert_eq!(
        limits().analyze(&doc, None, &vars).unwrap().cost,
        5 + 1 + 50
    );
    // `first` beyond the largest list size counts as the largest.
    let capped = analyze(
        &limits(),
        "{ products(first: 100000) { edges { node { stock { available } } } } }",
    );
    assert_eq!(capped.unwrap().cost, 5 + 1 + 100);
}

#[test]
fn the_costliest_queries_are_refused() {
    let everything = "products(first: 100) { edges { node { price { amount } stock { available } reviews { nodes { body } } reviewSummary { count } } } }";
    assert!(analyze(&limits(), &format!("{{ {everything} }}")).is_ok());
    assert_eq!(
        code(&format!(
            "{{ a: {everything} b: {everything} c: {everything} }}"
        )),
        "MAX_COMPLEXITY_LIMIT"
    );
}

#[test]
fn depth_aliases_and_root_fields_are_limited_through_fragments() {
    let deep = "{ product(id: 1) { reviews { edges { node { id } } } } }";
    assert_eq!(analyze(&limits(), deep).unwrap().depth, 5);
    let nested = format!("{}{}", "{ a ".repeat(13), "}".repeat(13));
    assert_eq!(code(&nested), "MAX_DEPTH_LIMIT");
    let aliases: String = (0..31).map(|i| format!("a{i}: __typename ")).collect();
    assert_eq!(code(&format!("{{ {aliases} }}")), "MAX_ALIASES_LIMIT");
    // Ten aliases in a fragment spread four times are forty.
    let ten: String = (0..10).map(|i| format!("a{i}: title ")).collect();
    let spread =
        format!("{{ product(id: 1) {{ ...F ...F ...F ...F }} }} fragment F on Product {{ {ten} }}");
    assert_eq!(code(&spread), "MAX_ALIASES_LIMIT");
    let roots: String = (0..21)
        .map(|i| format!("c{i}: categories {{ slug }} "))
        .collect();
    assert_eq!(code(&format!("{{ {roots} }}")), "MAX_ROOT_FIELDS_LIMIT");
    // A fragment named like an introspection field is measured as any other.
    let named = format!(
        "{{ ...__schema }} fragment __schema on Query {{ {} }}",
        (0..21)
            .map(|i| format!("c{i}: categories {{ slug }} "))
            .collect::<String>()
    );
    assert_eq!(code(&named), "MAX_ROOT_FIELDS_LIMIT");
}

#[test]
fn fragment_cycles_and_exponential_chains_are_refused_quickly() {
    assert_eq!(
        code("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }"),
        "GRAPHQL_VALIDATION_FAILED"
    );
    // F0 spreads F1 twice, F1 spreads F2 twice, ...: 2^30 fields once expanded.
    let mut doc = String::from("{ ...F0 }");
    for i in 0..30 {
        doc.push_str(&format!(
            " fragment F{i} on Query {{ ...F{} ...F{} }}",
            i + 1,
            i + 1
        ));
    }
    doc.push_str(" fragment F30 on Query { __typename }");
    assert_eq!(code(&doc), "MAX_COMPLEXITY_LIMIT");
    // A long chain nests too deep.
    let mut chain = String::from("{ ...F0 }");
    for i in 0..40 {
        chain.push_str(&format!(" fragment F{i} on Query {{ ...F{} }}", i + 1));
    }
    chain.push_str(" fragment F40 on Query { __typename }");
    assert_eq!(code(&chain), "MAX_DEPTH_LIMIT");
}

#[test]
fn directives_are_limited_per_field_and_per_document() {
    let six = "@skip(if: false) ".repeat(6);
    assert_eq!(
        code(&format!("{{ __typename {six} }}")),
        "MAX_DIRECTIVES_LIMIT"
    );
    let fields: String = (0..26)
        .map(|i| format!("a{i}: __typename @skip(if: false) @include(if: true) "))
        .collect();
    let config = LimitsConfig {
        max_aliases: 100,
        max_root_fields: 100,
        ..LimitsConfig::default()
    };
    let err = analyze(
        &RequestLimits::new(&config, true),
        &format!("{{ {fields} }}"),
    )
    .unwrap_err();
    assert_eq!(err.code, "MAX_DIRECTIVES_LIMIT");
}

#[test]
fn introspection_is_refused_when_off_whatever_the_fragment_is_called() {
    let off = RequestLimits::new(&LimitsConfig::default(), false);
    let err = analyze(&off, "{ __schema { types { name } } }").unwrap_err();
    assert_eq!(err.code, "INTROSPECTION_DISABLED");
    let err = analyze(
        &off,
        "{ ...X } fragment X on Query { __type(name: \"Product\") { name } }",
    )
    .unwrap_err();
    assert_eq!(err.code, "INTROSPECTION_DISABLED");
    assert!(analyze(&off, "{ __typename }").is_ok());
    assert!(analyze(&limits(), "{ __schema { types { name } } }").is_ok());
}

#[test]
fn graphiql_introspection_fits_and_deeper_introspection_does_not() {
    let type_ref = format!(
        "fragment TypeRef on __Type {{ kind name {}{} }}",
        "ofType { kind name ".repeat(9),
        "}".repeat(9)
    );
    let graphiql = format!(
        "query IntrospectionQuery {{ __schema {{ queryType {{ name }} types {{ ...FullType }} \
         directives {{ name locations args {{ ...InputValue }} }} }} }} \
         fragment FullType on __Type {{ kind name fields(includeDeprecated: true) {{ name \
         args {{ ...InputValue }} type {{ ...TypeRef }} isDeprecated }} inputFields {{ ...InputValue }} \
         interfaces {{ ...TypeRef }} enumValues(includeDeprecated: true) {{ name }} \
         possibleTypes {{ ...TypeRef }} }} \
         fragment InputValue on __InputValue {{ name type {{ ...TypeRef }} defaultValue }} {type_ref}"
    );
    assert!(analyze(&limits(), &graphiql).is_ok());
    let deeper = format!(
        "{{ __schema {{ types {{ fields {{ type {{ {}kind{} }} }} }} }} }}",
        "ofType { ".repeat(20),
        " }".repeat(20)
    );
    assert_eq!(code(&deeper), "MAX_DEPTH_LIMIT");
}
