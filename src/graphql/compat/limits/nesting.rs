//! The scan of a document's text that bounds the nesting of brackets before the parser, which
//! is recursive, runs.

use super::Refusal;
use crate::graphql::error::codes;

/// Refuses a document whose brackets nest deeper than `max_nesting`, without parsing it: strings,
/// block strings and comments are skipped, everything else is one pass over the bytes.
pub fn check_nesting(query: &str, max_nesting: usize) -> Result<(), Refusal> {
    let bytes = query.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > max_nesting {
                    return Err(Refusal::new(
                        codes::QUERY_TOO_DEEP,
                        format!("the document nests brackets more than {max_nesting} levels deep"),
                    ));
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::check_nesting;
    use crate::graphql::compat::limits::{max_nesting, test_limits as limits};

    #[test]
    fn nesting_is_scanned_outside_strings_and_comments() {
        assert!(check_nesting("{ a { b } }", 2).is_ok());
        assert!(check_nesting("{ a { b { c } } }", 2).is_err());
        assert!(check_nesting(r#"{ a(x: "{{{{{{") }"#, 2).is_ok());
        assert!(check_nesting(r#"{ a(x: "\"{{{{{{") }"#, 2).is_ok());
        assert!(check_nesting("{ a(x: \"\"\"{{{\\\"\"\"{{{\"\"\") }", 2).is_ok());
        assert!(check_nesting("{ a # {{{{{{\n}", 2).is_ok());
        assert!(check_nesting("[[[", 2).is_err());
        assert!(check_nesting(&"{".repeat(1 << 20), 74).is_err());
    }

    /// The scan lets through what the recursive parser survives with a wide margin: brackets at
    /// the default limit parse on a quarter of a tokio worker's 2 MiB stack (a debug build
    /// overflows 2 MiB somewhere beyond 1,200 levels of nested values).
    #[test]
    fn the_parser_survives_the_nesting_limit_on_a_small_stack() {
        let n = max_nesting(&limits()) - 2;
        let document = format!("{{ a(x: {}1{}) }}", "[".repeat(n), "]".repeat(n));
        assert!(check_nesting(&document, n + 2).is_ok());
        let parsed = std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(move || parse_query(&document).is_ok())
            .expect("spawn")
            .join()
            .expect("no overflow");
        assert!(parsed);
    }
}
