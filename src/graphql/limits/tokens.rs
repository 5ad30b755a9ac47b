//! Counts a document's lexical tokens and bracket nesting before it is parsed, so that a
//! 20,000-token or 10,000-level document is turned away for the price of one pass over its
//! bytes instead of a parse (the parser recurses once per level, and builds a node per token).
//!
//! Hand-written: async-graphql's parser has no token or nesting limit, and this needs only
//! GraphQL's lexical grammar (punctuators, names, numbers, strings, block strings, comments),
//! not a parser.

use super::LimitError;

/// How deep `{`, `(` and `[` may nest before parsing: far beyond any document within
/// `max_depth`, far below what the parser's recursion could not take.
pub const MAX_NESTING: usize = 64;

/// Checks that `text` has at most `max_tokens` tokens and nests brackets at most
/// [`MAX_NESTING`] deep.
pub fn scan(text: &str, max_tokens: usize) -> Result<(), LimitError> {
    let bytes = text.as_bytes();
    let mut tokens = 0usize;
    let mut nesting = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            // Ignored: white space, line terminators, commas, a byte-order mark.
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            0xEF if bytes[i..].starts_with("\u{feff}".as_bytes()) => {
                i += 3;
                continue;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => i = block_string_end(bytes, i + 3),
            b'"' => i = string_end(bytes, i + 1),
            b'.' if bytes[i..].starts_with(b"...") => i += 3,
            b'{' | b'(' | b'[' => {
                nesting += 1;
                if nesting > MAX_NESTING {
                    return Err(LimitError::new(
                        "MAX_DEPTH_LIMIT",
                        format!("the document nests brackets more than {MAX_NESTING} deep"),
                    ));
                }
                i += 1;
            }
            b'}' | b')' | b']' => {
                nesting = nesting.saturating_sub(1);
                i += 1;
            }
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                while i < bytes.len() && (bytes[i] == b'_' || bytes[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
            }
            b'-' | b'0'..=b'9' => {
                i += 1;
                while i < bytes.len()
                    && matches!(bytes[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
                {
                    i += 1;
                }
            }
            // Punctuators and anything the parser will reject: one token each.
            _ => i += utf8_len(b),
        }
        tokens += 1;
        if tokens > max_tokens {
            return Err(LimitError::new(
                "MAX_TOKENS_LIMIT",
                format!("the document has more than {max_tokens} tokens"),
            ));
        }
    }
    Ok(())
}

/// The index after a `"..."` string whose body starts at `i` (or the end of the text).
fn string_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' | b'\n' | b'\r' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index after a `"""..."""` block string whose body starts at `i`.
fn block_string_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        if bytes[i..].starts_with(b"\\\"\"\"") {
            i += 4;
        } else if bytes[i..].starts_with(b"\"\"\"") {
            return i + 3;
        } else {
            i += 1;
        }
    }
    bytes.len()
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(text: &str) -> usize {
        (0..)
            .find(|&limit| scan(text, limit).is_ok())
            .expect("some limit fits")
    }

    #[test]
    fn counts_the_tokens_of_the_lexical_grammar() {
        assert_eq!(count(""), 0);
        assert_eq!(count("{ a }"), 3);
        assert_eq!(
            count("query Q($n: Int = -1.5e3) { a(n: $n) @skip(if: true) }"),
            26
        );
        assert_eq!(count("{ a(s: \"x { y } \\\" z\") }"), 8);
        assert_eq!(count("{ a(s: \"\"\"\n { \\\"\"\" \n\"\"\") }"), 8);
        assert_eq!(count("# { { {\n{ ...F }"), 4);
        assert_eq!(count("{ é }"), 3);
    }

    #[test]
    fn stops_at_the_limit_and_on_deep_nesting() {
        let long = format!("{{ {} }}", "a ".repeat(20_000));
        let err = scan(&long, 15_000).unwrap_err();
        assert_eq!(err.code, "MAX_TOKENS_LIMIT");
        let deep = format!("{}{}", "{a".repeat(100), "}".repeat(100));
        let err = scan(&deep, 15_000).unwrap_err();
        assert_eq!(err.code, "MAX_DEPTH_LIMIT");
        let fine = format!("{}{}", "{a".repeat(40), "}".repeat(40));
        assert!(scan(&fine, 15_000).is_ok());
    }
}
