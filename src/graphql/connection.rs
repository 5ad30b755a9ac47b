//! Relay-style paging shared by the connections: opaque offset cursors and `PageInfo`.

use async_graphql::SimpleObject;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::errors::bad_user_input;

#[derive(Debug, Clone, SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

const OFFSET_PREFIX: &str = "offset:";

/// The cursor of the item at `offset` (0-based).
pub fn offset_cursor(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("{OFFSET_PREFIX}{offset}"))
}

/// The offset right after the item an `after` cursor names.
pub fn offset_after(after: Option<&str>) -> async_graphql::Result<usize> {
    let Some(cursor) = after else {
        return Ok(0);
    };
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(OFFSET_PREFIX)?.parse::<usize>().ok())
        .map(|offset| offset + 1)
        .ok_or_else(|| bad_user_input(format!("`after` is not a cursor of this list: {cursor}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_bad_input() {
        assert_eq!(offset_after(Some(&offset_cursor(19))).unwrap(), 20);
        assert_eq!(offset_after(None).unwrap(), 0);
        assert!(offset_after(Some("not-a-cursor")).is_err());
        assert!(offset_after(Some(&URL_SAFE_NO_PAD.encode("offset:-1"))).is_err());
    }
}
