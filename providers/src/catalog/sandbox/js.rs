//! The JavaScript semantics the server's behaviour rests on: `qs` query values, `Number()`,
//! `parseInt`, number printing, and the `<`/`>`/`===` of `sortArray`.

use std::cmp::Ordering;
use std::collections::HashMap;

use serde_json::Value;

use super::express::percent_decode;
use crate::catalog::wire::is_js_whitespace;

/// A query value as the `qs` parser produces it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Param {
    Str(String),
    /// `a=1&a=2`, `a[]=1`, `a[0]=1`.
    Arr(Vec<String>),
    /// `a[key]=1`.
    Obj(Vec<(String, String)>),
}

impl Param {
    pub(super) fn truthy(&self) -> bool {
        !matches!(self, Param::Str(s) if s.is_empty())
    }

    /// `ToString`: arrays join with `,`, objects print as `[object Object]`.
    pub(super) fn to_js_string(&self) -> String {
        match self {
            Param::Str(s) => s.clone(),
            Param::Arr(items) => items.join(","),
            Param::Obj(_) => "[object Object]".to_owned(),
        }
    }

    /// `Number(value)`.
    pub(super) fn to_number(&self) -> f64 {
        string_to_number(&self.to_js_string())
    }
}

/// `qs.parse` with Express's defaults, for the shapes that matter here: repeated keys and
/// one level of brackets.
pub(super) fn parse_query(raw: &str) -> HashMap<String, Param> {
    let mut query: HashMap<String, Param> = HashMap::new();
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let split = part.find("]=").map(|i| i + 1).or_else(|| part.find('='));
        let (key, value) = match split {
            Some(i) => (decode(&part[..i]), decode(&part[i + 1..])),
            None => (decode(part), String::new()),
        };
        let (name, incoming) = match bracket(&key) {
            Some((name, inner)) if inner.is_empty() || is_array_index(inner) => {
                (name.to_owned(), Param::Arr(vec![value]))
            }
            Some((name, inner)) => (name.to_owned(), Param::Obj(vec![(inner.to_owned(), value)])),
            None => (key.clone(), Param::Str(value)),
        };
        if name.is_empty() {
            continue;
        }
        let merged = match query.remove(&name) {
            None => incoming,
            Some(existing) => combine(existing, incoming),
        };
        query.insert(name, merged);
    }
    query
}

/// `qs` arrays stop at index 20; past it `a[21]=x` is an object key.
fn is_array_index(inner: &str) -> bool {
    inner.bytes().all(|b| b.is_ascii_digit()) && inner.parse::<u32>().is_ok_and(|i| i <= 20)
}

/// `name[inner]...` -> `(name, inner)`, when the key has a closed bracket.
fn bracket(key: &str) -> Option<(&str, &str)> {
    let open = key.find('[')?;
    let close = open + 1 + key[open + 1..].find(']')?;
    let inner = &key[open + 1..close];
    if inner.contains('[') {
        return None;
    }
    Some((&key[..open], inner))
}

fn combine(existing: Param, incoming: Param) -> Param {
    match (existing, incoming) {
        (Param::Str(a), Param::Str(b)) => Param::Arr(vec![a, b]),
        (Param::Str(a), Param::Arr(mut b)) => {
            b.insert(0, a);
            Param::Arr(b)
        }
        (Param::Arr(mut a), Param::Str(b)) => {
            a.push(b);
            Param::Arr(a)
        }
        (Param::Arr(mut a), Param::Arr(b)) => {
            a.extend(b);
            Param::Arr(a)
        }
        (Param::Obj(mut a), Param::Obj(b)) => {
            a.extend(b);
            Param::Obj(a)
        }
        (Param::Obj(a), _) | (_, Param::Obj(a)) => Param::Obj(a),
    }
}

/// `qs`'s decoder: `+` is a space; a malformed escape leaves the text as it was.
fn decode(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_decode(&spaced).unwrap_or(spaced)
}

/// `Number(string)` (ECMA-262 StringToNumber).
pub(super) fn string_to_number(s: &str) -> f64 {
    let t = s.trim_matches(is_js_whitespace);
    if t.is_empty() {
        return 0.0;
    }
    for (prefix, radix) in [
        ("0x", 16),
        ("0X", 16),
        ("0o", 8),
        ("0O", 8),
        ("0b", 2),
        ("0B", 2),
    ] {
        if let Some(digits) = t.strip_prefix(prefix) {
            return parse_radix(digits, radix);
        }
    }
    let (sign, unsigned) = match t.as_bytes().first() {
        Some(b'+') => (1.0, &t[1..]),
        Some(b'-') => (-1.0, &t[1..]),
        _ => (1.0, t),
    };
    if unsigned == "Infinity" {
        return sign * f64::INFINITY;
    }
    if !is_decimal_literal(unsigned) {
        return f64::NAN;
    }
    unsigned.parse::<f64>().map_or(f64::NAN, |v| sign * v)
}

fn parse_radix(digits: &str, radix: u32) -> f64 {
    if digits.is_empty() {
        return f64::NAN;
    }
    let mut value = 0.0f64;
    for c in digits.chars() {
        match c.to_digit(radix) {
            Some(d) => value = value * f64::from(radix) + f64::from(d),
            None => return f64::NAN,
        }
    }
    value
}

/// `digits [. digits] [e [+-] digits]` or `. digits [e ...]`.
fn is_decimal_literal(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let int_digits = count_digits(&b[i..]);
    i += int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = count_digits(&b[i..]);
        i += frac_digits;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_digits = count_digits(&b[i..]);
        if exp_digits == 0 {
            return false;
        }
        i += exp_digits;
    }
    i == b.len()
}

fn count_digits(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_digit()).count()
}

/// `parseInt(string, 10)`: leading decimal digits after optional whitespace and sign.
pub(super) fn parse_int(s: &str) -> f64 {
    let t = s.trim_start_matches(is_js_whitespace);
    let (sign, unsigned) = match t.as_bytes().first() {
        Some(b'+') => (1.0, &t[1..]),
        Some(b'-') => (-1.0, &t[1..]),
        _ => (1.0, t),
    };
    let digits = count_digits(unsigned.as_bytes());
    if digits == 0 {
        return f64::NAN;
    }
    unsigned[..digits]
        .parse::<f64>()
        .map_or(f64::NAN, |v| sign * v)
}

/// `Number.prototype.toString()`.
pub(super) fn number_to_string(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x == 0.0 {
        return "0".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if x < 0.0 {
        return format!("-{}", number_to_string(-x));
    }
    // Shortest round-trip digits and exponent, then ECMA-262 Number::toString's layout.
    let scientific = format!("{x:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let k = digits.len() as i64;
    let n = exponent.parse::<i64>().unwrap_or(0) + 1;
    if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let sign = if n > 0 { "+" } else { "-" };
        format!("{first}{fraction}e{sign}{}", (n - 1).abs())
    }
}

/// `JSON.stringify(number)`: non-finite numbers are `null`.
pub(super) fn number_to_json(x: f64) -> String {
    if x.is_finite() {
        number_to_string(x)
    } else {
        "null".to_owned()
    }
}

/// `String(value)` of a JSON value.
pub(super) fn value_to_string(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => u.to_string(),
            (None, Some(i)) => i.to_string(),
            _ => number_to_string(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::Null => String::new(),
                other => value_to_string(other),
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".to_owned(),
    }
}

/// `Array.prototype.slice`'s index for a non-negative-or-negative integer argument.
pub(super) fn relative_index(index: f64, len: usize) -> usize {
    let len_f = len as f64;
    let index = if index.is_nan() { 0.0 } else { index.trunc() };
    let at = if index < 0.0 {
        (len_f + index).max(0.0)
    } else {
        index.min(len_f)
    };
    at as usize
}

/// One product's `a[sortBy]`.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum SortKey {
    Undefined,
    Null,
    Bool(bool),
    Number(f64),
    Str(String),
    /// An array or object: never `===` another, compared through its `ToPrimitive` text.
    Object(String),
}

impl SortKey {
    pub(super) fn of(value: Option<&Value>) -> SortKey {
        match value {
            None => SortKey::Undefined,
            Some(Value::Null) => SortKey::Null,
            Some(Value::Bool(b)) => SortKey::Bool(*b),
            Some(Value::Number(n)) => SortKey::Number(n.as_f64().unwrap_or(f64::NAN)),
            Some(Value::String(s)) => SortKey::Str(s.clone()),
            Some(other) => SortKey::Object(value_to_string(other)),
        }
    }

    fn primitive_text(&self) -> Option<&str> {
        match self {
            SortKey::Str(s) | SortKey::Object(s) => Some(s),
            _ => None,
        }
    }

    fn to_number(&self) -> f64 {
        match self {
            SortKey::Undefined => f64::NAN,
            SortKey::Null => 0.0,
            SortKey::Bool(b) => f64::from(u8::from(*b)),
            SortKey::Number(n) => *n,
            SortKey::Str(s) | SortKey::Object(s) => string_to_number(s),
        }
    }
}

/// `a === b` (`same_element`: the comparator holds two references to one object).
fn strict_equals(a: &SortKey, b: &SortKey, same_element: bool) -> bool {
    match (a, b) {
        (SortKey::Undefined, SortKey::Undefined) | (SortKey::Null, SortKey::Null) => true,
        (SortKey::Bool(x), SortKey::Bool(y)) => x == y,
        (SortKey::Number(x), SortKey::Number(y)) => x == y,
        (SortKey::Str(x), SortKey::Str(y)) => x == y,
        (SortKey::Object(_), SortKey::Object(_)) => same_element,
        _ => false,
    }
}

/// `a < b` (ECMA-262 IsLessThan): two strings compare by UTF-16 code units, anything else
/// as numbers, where NaN (e.g. from `undefined`) makes it false.
fn less_than(a: &SortKey, b: &SortKey) -> bool {
    if let (Some(x), Some(y)) = (a.primitive_text(), b.primitive_text()) {
        return x.encode_utf16().cmp(y.encode_utf16()) == Ordering::Less;
    }
    let (x, y) = (a.to_number(), b.to_number());
    x < y
}

/// `sortArray`'s comparator:
/// `a === b ? 0 : asc ? (a > b ? 1 : -1) : (a < b ? 1 : -1)`.
pub(super) fn sort_array_compare(
    a: &SortKey,
    b: &SortKey,
    same_element: bool,
    ascending: bool,
) -> i8 {
    if strict_equals(a, b, same_element) {
        0
    } else if ascending {
        if less_than(b, a) { 1 } else { -1 }
    } else if less_than(a, b) {
        1
    } else {
        -1
    }
}

#[cfg(test)]
mod tests {
    use super::{number_to_string, parse_int, string_to_number};

    #[test]
    fn numbers_convert_like_javascript() {
        for (text, number) in [
            ("", 0.0),
            ("  12 ", 12.0),
            ("1e3", 1000.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("-Infinity", f64::NEG_INFINITY),
            ("0x1F", 31.0),
            ("0b101", 5.0),
            ("\u{feff}7\n", 7.0),
        ] {
            assert_eq!(string_to_number(text), number, "{text:?}");
        }
        for text in [
            "abc",
            "1,2",
            ".",
            "1e",
            "inf",
            "NaN",
            "-0x10",
            "1_000",
            "[object Object]",
        ] {
            assert!(string_to_number(text).is_nan(), "{text:?}");
        }
        assert_eq!(parse_int(" 12px"), 12.0);
        assert_eq!(parse_int("1e3"), 1.0);
        assert_eq!(parse_int("-7.9"), -7.0);
        assert!(parse_int("0x10") == 0.0 && parse_int("").is_nan());
        for (number, text) in [
            (194.0, "194"),
            (9.99, "9.99"),
            (-0.0, "0"),
            (1e21, "1e+21"),
            (123456789012345680000.0, "123456789012345680000"),
            (1.5e-7, "1.5e-7"),
            (0.000001, "0.000001"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(number_to_string(number), text);
        }
    }
}
