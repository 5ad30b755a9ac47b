//! The committed schema is the one the code serves.

#[test]
fn committed_schema_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/schema.graphql");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let current = switchyard::graphql::sdl();
    if committed != current {
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(path, &current).expect("write schema");
            return;
        }
        panic!(
            "schema/schema.graphql differs from the code; run `UPDATE_SCHEMA=1 cargo test --test schema` \
             (or `switchyard print-schema > schema/schema.graphql`) and review the diff"
        );
    }
}
