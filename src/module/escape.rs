//! Case encoding of module paths and versions in URLs and storage keys.
//!
//! Each upper-case ASCII letter is written as `!` followed by its lower-case
//! form, so `github.com/Azure/x` becomes `github.com/!azure/x`. Decoding fails
//! on non-ASCII input, on a raw upper-case letter, on `!` followed by anything
//! but `a`–`z`, and on a trailing `!`.

/// Encodes upper-case letters as `!` plus the lower-case letter.
pub fn encode_element(decoded: &str) -> String {
    let mut out = String::with_capacity(decoded.len() + 4);
    for c in decoded.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Decodes the `!x` case encoding; returns `None` for text that no encoder
/// could have produced.
pub fn decode_element(encoded: &str) -> Option<String> {
    let mut out = String::with_capacity(encoded.len());
    let mut bang = false;
    for c in encoded.chars() {
        if !c.is_ascii() {
            return None;
        }
        if bang {
            bang = false;
            if !c.is_ascii_lowercase() {
                return None;
            }
            out.push(c.to_ascii_uppercase());
            continue;
        }
        if c == '!' {
            bang = true;
            continue;
        }
        if c.is_ascii_uppercase() {
            return None;
        }
        out.push(c);
    }
    if bang {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_marks_each_capital() {
        assert_eq!(encode_element("github.com/Azure/SDK"), "github.com/!azure/!s!d!k");
        assert_eq!(encode_element("v1.0.0-RC1"), "v1.0.0-!r!c1");
        assert_eq!(encode_element("plain"), "plain");
    }

    #[test]
    fn decode_reverses_encode() {
        for s in ["github.com/Azure/SDK", "v1.0.0-RC1", "a.b/c~d_e"] {
            assert_eq!(decode_element(&encode_element(s)).as_deref(), Some(s));
        }
    }

    #[test]
    fn decode_rejects_malformed_input() {
        assert_eq!(decode_element("github.com/Azure"), None, "raw capital");
        assert_eq!(decode_element("github.com/!"), None, "trailing bang");
        assert_eq!(decode_element("github.com/!1"), None, "bang before digit");
        assert_eq!(decode_element("github.com/!!a"), None, "double bang");
        assert_eq!(decode_element("exämple.com"), None, "non-ASCII");
    }
}
