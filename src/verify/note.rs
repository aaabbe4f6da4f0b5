//! Go's signed notes (golang.org/x/mod/sumdb/note): verifier and signer keys,
//! signing, and opening a note with one trusted key.
//!
//! A signed note is UTF-8 text ending in `\n`, a blank line, then one or more
//! lines `— <name> <base64(4-byte key hash ‖ Ed25519 signature)>` (em dash
//! U+2014). A verifier key is `<name>+<8 hex key hash>+<base64(0x01 ‖ public
//! key)>`; the key hash is the first 4 bytes (big-endian) of
//! `sha256(name ‖ "\n" ‖ 0x01 ‖ public key)`.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rand::RngCore as _;
use sha2::{Digest, Sha256};

/// The only key algorithm notes use: Ed25519.
const ALGORITHM_ED25519: u8 = 1;
/// Go rejects notes with more signature lines than this.
const MAX_SIGNATURES: usize = 100;
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Errors from parsing keys, signing and opening notes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("invalid verifier key {key:?}: {reason}; want <name>+<8 hex digits>+<base64 key>")]
    InvalidVerifierKey { key: String, reason: String },
    #[error("invalid signer key: {reason}; want PRIVATE+KEY+<name>+<8 hex digits>+<base64 key>")]
    InvalidSignerKey { reason: String },
    #[error("invalid key name {name:?}: a name must be non-empty and contain no spaces or '+'")]
    InvalidName { name: String },
    #[error("malformed signed note: {reason}")]
    Malformed { reason: String },
    #[error("invalid signature for key {name}+{hash:08x}")]
    InvalidSignature { name: String, hash: u32 },
    #[error("note has no signature by key {name}+{hash:08x}")]
    NotSignedByKey { name: String, hash: u32 },
}

fn malformed(reason: &str) -> NoteError {
    NoteError::Malformed {
        reason: reason.to_string(),
    }
}

/// Reports whether `name` may name a key: non-empty, no Unicode space, no `+`.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// Computes the key hash for a name and an encoded public key (algorithm byte
/// followed by the key).
fn key_hash(name: &str, encoded_key: &[u8]) -> u32 {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update(b"\n")
        .chain_update(encoded_key)
        .finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// A trusted public key that verifies note signatures.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    hash: u32,
    key: VerifyingKey,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Verifier({})", self.encode())
    }
}

impl Verifier {
    /// Parses a verifier key `<name>+<hash>+<base64 key>` and checks its hash.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let invalid = |reason: &str| NoteError::InvalidVerifierKey {
            key: vkey.to_string(),
            reason: reason.to_string(),
        };
        let (name, rest) = vkey.split_once('+').ok_or_else(|| invalid("missing '+'"))?;
        let (hash_hex, key_base64) = rest.split_once('+').ok_or_else(|| invalid("missing second '+'"))?;

        if !is_valid_name(name) {
            return Err(invalid("the name is empty or contains a space"));
        }
        let hash = parse_key_hash(hash_hex).ok_or_else(|| invalid("the hash is not 8 hex digits"))?;
        let encoded = BASE64
            .decode(key_base64)
            .map_err(|_| invalid("the key is not valid base64"))?;
        if key_hash(name, &encoded) != hash {
            return Err(invalid("the hash does not match the name and key"));
        }

        let (&algorithm, key) = encoded.split_first().ok_or_else(|| invalid("the key is empty"))?;
        if algorithm != ALGORITHM_ED25519 {
            return Err(invalid("unknown key algorithm"));
        }
        let key: [u8; 32] = key.try_into().map_err(|_| invalid("an Ed25519 key must be 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| invalid("not a valid Ed25519 public key"))?;
        Ok(Self {
            name: name.to_string(),
            hash,
            key,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_hash(&self) -> u32 {
        self.hash
    }

    /// Returns the verifier key text `<name>+<hash>+<base64 key>`.
    pub fn encode(&self) -> String {
        let mut encoded = vec![ALGORITHM_ED25519];
        encoded.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.hash, BASE64.encode(encoded))
    }

    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        let Ok(signature) = Signature::from_slice(signature) else {
            return false;
        };
        // The plain (cofactorless) check, as Go's crypto/ed25519 does.
        ed25519_dalek::Verifier::verify(&self.key, text, &signature).is_ok()
    }
}

fn parse_key_hash(hex_digits: &str) -> Option<u32> {
    if hex_digits.len() != 8 || !hex_digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(hex_digits, 16).ok()
}

/// Opens a signed note and returns its text when it carries a valid signature
/// by `verifier`. Signatures by other keys are ignored, as Go ignores unknown
/// keys; a signature by the trusted key that does not verify is an error.
pub fn open<'a>(msg: &'a [u8], verifier: &Verifier) -> Result<&'a str, NoteError> {
    let msg = std::str::from_utf8(msg).map_err(|_| malformed("not valid UTF-8"))?;
    if msg.chars().any(|c| (c as u32) < 0x20 && c != '\n') {
        return Err(malformed("contains a control character"));
    }
    let split = msg
        .rfind("\n\n")
        .ok_or_else(|| malformed("no blank line before the signatures"))?;
    let (text, signatures) = (&msg[..split + 1], &msg[split + 2..]);
    if !signatures.ends_with('\n') {
        return Err(malformed("the signature block does not end in a newline"));
    }

    let mut verified = false;
    for (count, line) in signatures.lines().enumerate() {
        if count >= MAX_SIGNATURES {
            return Err(malformed("too many signatures"));
        }
        let line = line
            .strip_prefix(SIGNATURE_PREFIX)
            .ok_or_else(|| malformed("a signature line does not start with an em dash"))?;
        let (name, signature_base64) = line.split_once(' ').unwrap_or((line, ""));
        let signature = BASE64.decode(signature_base64).ok().filter(|sig| sig.len() >= 5);
        let Some(signature) = signature.filter(|_| is_valid_name(name)) else {
            return Err(malformed("a signature line is not <name> <base64 signature>"));
        };
        let hash = u32::from_be_bytes([signature[0], signature[1], signature[2], signature[3]]);
        if name != verifier.name || hash != verifier.hash || verified {
            continue;
        }
        if !verifier.verify(text.as_bytes(), &signature[4..]) {
            return Err(NoteError::InvalidSignature {
                name: name.to_string(),
                hash,
            });
        }
        verified = true;
    }
    if !verified {
        return Err(NoteError::NotSignedByKey {
            name: verifier.name.clone(),
            hash: verifier.hash,
        });
    }
    Ok(text)
}

/// A private key that signs notes. Its `Debug` output does not show the key.
#[derive(Clone)]
pub struct Signer {
    name: String,
    hash: u32,
    key: SigningKey,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signer({}+{:08x})", self.name, self.hash)
    }
}

impl Signer {
    /// Generates a new Ed25519 key for the named server from the OS random source.
    pub fn generate(name: &str) -> Result<Self, NoteError> {
        if !is_valid_name(name) {
            return Err(NoteError::InvalidName { name: name.to_string() });
        }
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        Ok(Self::from_seed(name, seed))
    }

    fn from_seed(name: &str, seed: [u8; 32]) -> Self {
        let key = SigningKey::from_bytes(&seed);
        let mut encoded = vec![ALGORITHM_ED25519];
        encoded.extend_from_slice(key.verifying_key().as_bytes());
        Self {
            name: name.to_string(),
            hash: key_hash(name, &encoded),
            key,
        }
    }

    /// Parses a signer key `PRIVATE+KEY+<name>+<hash>+<base64(0x01 ‖ seed)>`
    /// and checks the hash against the derived public key. Errors never
    /// include the key text.
    pub fn parse(skey: &str) -> Result<Self, NoteError> {
        let invalid = |reason: &str| NoteError::InvalidSignerKey {
            reason: reason.to_string(),
        };
        let rest = skey
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| invalid("missing PRIVATE+KEY+ prefix"))?;
        let mut fields = rest.splitn(3, '+');
        let (Some(name), Some(hash_hex), Some(key_base64)) = (fields.next(), fields.next(), fields.next()) else {
            return Err(invalid("missing '+'"));
        };

        if !is_valid_name(name) {
            return Err(invalid("the name is empty or contains a space"));
        }
        let hash = parse_key_hash(hash_hex).ok_or_else(|| invalid("the hash is not 8 hex digits"))?;
        let encoded = BASE64
            .decode(key_base64)
            .map_err(|_| invalid("the key is not valid base64"))?;

        let (&algorithm, seed) = encoded.split_first().ok_or_else(|| invalid("the key is empty"))?;
        if algorithm != ALGORITHM_ED25519 {
            return Err(invalid("unknown key algorithm"));
        }
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| invalid("an Ed25519 seed must be 32 bytes"))?;
        let signer = Self::from_seed(name, seed);
        if signer.hash != hash {
            return Err(invalid("the hash does not match the name and key"));
        }
        Ok(signer)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the signer key text; it is a secret.
    pub fn encode_private(&self) -> String {
        let mut encoded = vec![ALGORITHM_ED25519];
        encoded.extend_from_slice(self.key.as_bytes());
        format!("PRIVATE+KEY+{}+{:08x}+{}", self.name, self.hash, BASE64.encode(encoded))
    }

    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            hash: self.hash,
            key: self.key.verifying_key(),
        }
    }

    /// Returns the signed note for `text`, which must end in a newline.
    pub fn sign(&self, text: &str) -> Result<Vec<u8>, NoteError> {
        if !text.ends_with('\n') {
            return Err(malformed("the text does not end in a newline"));
        }
        let signature = self.key.sign(text.as_bytes());
        let mut raw = self.hash.to_be_bytes().to_vec();
        raw.extend_from_slice(&signature.to_bytes());
        Ok(format!("{text}\n{SIGNATURE_PREFIX}{} {}\n", self.name, BASE64.encode(raw)).into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PETER_VERIFIER: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const PETER_SIGNER: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n";
    const PETER_SIGNATURE_LINE: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIGNATURE_LINE: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    fn signed_example() -> String {
        format!("{TEXT}\n{PETER_SIGNATURE_LINE}")
    }

    #[test]
    fn verifier_key_round_trips() {
        let verifier = Verifier::parse(PETER_VERIFIER).unwrap();
        assert_eq!(verifier.name(), "PeterNeumann");
        assert_eq!(verifier.key_hash(), 0xc74f20a3);
        assert_eq!(verifier.encode(), PETER_VERIFIER);
    }

    #[test]
    fn sum_golang_org_key_parses() {
        let verifier = Verifier::parse("sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8").unwrap();
        assert_eq!(verifier.name(), "sum.golang.org");
        assert_eq!(verifier.key_hash(), 0x033de0ae);
    }

    #[test]
    fn verifier_key_with_wrong_hash_is_rejected() {
        let err = Verifier::parse("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").unwrap_err();
        assert!(err.to_string().contains("the hash does not match"), "{err}");
        for bad in [
            "",
            "name",
            "name+c74f20a3",
            "na me+c74f20a3+AAAA",
            "PeterNeumann+c74f20+ARpc",
        ] {
            assert!(Verifier::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn signer_reproduces_go_example_signature() {
        let signer = Signer::parse(PETER_SIGNER).unwrap();
        assert_eq!(signer.verifier().encode(), PETER_VERIFIER);
        assert_eq!(signer.encode_private(), PETER_SIGNER);
        assert_eq!(String::from_utf8(signer.sign(TEXT).unwrap()).unwrap(), signed_example());
    }

    #[test]
    fn open_returns_text_of_go_example() {
        let verifier = Verifier::parse(PETER_VERIFIER).unwrap();
        assert_eq!(open(signed_example().as_bytes(), &verifier).unwrap(), TEXT);
    }

    #[test]
    fn open_ignores_signatures_by_other_keys() {
        let verifier = Verifier::parse(PETER_VERIFIER).unwrap();
        let doubly_signed = format!("{TEXT}\n{PETER_SIGNATURE_LINE}{ENOCH_SIGNATURE_LINE}");
        assert_eq!(open(doubly_signed.as_bytes(), &verifier).unwrap(), TEXT);

        let only_enoch = format!("{TEXT}\n{ENOCH_SIGNATURE_LINE}");
        assert_eq!(
            open(only_enoch.as_bytes(), &verifier).unwrap_err(),
            NoteError::NotSignedByKey {
                name: "PeterNeumann".to_string(),
                hash: 0xc74f20a3
            }
        );
    }

    #[test]
    fn open_rejects_changed_text() {
        let verifier = Verifier::parse(PETER_VERIFIER).unwrap();
        let tampered = signed_example().replace("answer", "ANSWER");
        assert_eq!(
            open(tampered.as_bytes(), &verifier).unwrap_err(),
            NoteError::InvalidSignature {
                name: "PeterNeumann".to_string(),
                hash: 0xc74f20a3
            }
        );
    }

    #[test]
    fn open_rejects_malformed_notes() {
        let verifier = Verifier::parse(PETER_VERIFIER).unwrap();
        let cases = [
            TEXT.to_string(),
            format!("{TEXT}\n{}", PETER_SIGNATURE_LINE.trim_end()),
            format!("{TEXT}\n- PeterNeumann x08go\n"),
            format!("{TEXT}\r\n{PETER_SIGNATURE_LINE}"),
            format!("{TEXT}\n\u{2014} PeterNeumann !!!\n"),
        ];
        for case in cases {
            assert!(
                matches!(open(case.as_bytes(), &verifier), Err(NoteError::Malformed { .. })),
                "{case:?}"
            );
        }
        assert!(open(b"\xff\n\n", &verifier).is_err());
    }

    #[test]
    fn generated_key_signs_and_verifies() {
        let signer = Signer::generate("test.example").unwrap();
        let verifier = Verifier::parse(&signer.verifier().encode()).unwrap();
        let note = signer.sign("hello\n").unwrap();
        assert_eq!(open(&note, &verifier).unwrap(), "hello\n");
        assert!(signer.sign("no newline").is_err());
        assert!(Signer::generate("bad name").is_err());
        assert!(!format!("{signer:?}").contains("PRIVATE"));
    }
}
