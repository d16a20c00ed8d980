//! Sealing the state a 2026-07-28 client carries between an `input_required` answer and its
//! retry. XChaCha20-Poly1305 (AEAD): the client can neither read the journal of tool results
//! inside nor change a byte of it. The associated data binds a token to the principal, the
//! method and a digest of the request's arguments, so it opens only for the same caller
//! retrying the same call; the expiry is inside the sealed bytes.
//!
//! Keys form a ring: the first key seals, every key opens, so a key can be rotated in while
//! the old one still opens what it sealed. Configure the same ring on every replica and any
//! of them can resume; without configured keys each process makes one of its own, and a
//! restart forgets it.
//!
//! Token: `cm1.<key id>.<base64url(nonce ‖ ciphertext)>`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

const VERSION: &str = "cm1";
const NONCE_BYTES: usize = 24;
/// Mixed into every key and every associated data, so these keys and tags mean nothing
/// anywhere else.
const DOMAIN: &[u8] = b"codemode/approval-state/v1";
/// Shortest secret accepted: a key ring entry must carry at least 256 bits.
pub const MIN_SECRET_BYTES: usize = 32;

/// Why a token did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the request state is not one this gateway issued")]
    Malformed,
    #[error("the request state was sealed with key {0:?}, which this gateway does not hold")]
    UnknownKey(String),
    #[error("the request state was altered, or belongs to another caller or another call")]
    Forged,
    #[error("the approval request expired; call execute again")]
    Expired,
    #[error("key {id:?} is {len} bytes; approval keys need at least {MIN_SECRET_BYTES}")]
    ShortKey { id: String, len: usize },
    #[error("the approval key ring is empty")]
    NoKeys,
    #[error("key id {0:?} must be 1 to 64 letters, digits, '-' or '_', and unique")]
    BadKeyId(String),
}

/// The keys that seal and open approval state.
pub struct KeyRing {
    /// (id, cipher); the first one seals.
    keys: Vec<(String, XChaCha20Poly1305)>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("KeyRing").field("ids", &ids).finish()
    }
}

impl KeyRing {
    /// A ring from `(id, secret)` pairs, the sealing key first. Each secret is stretched
    /// into a key with SHA-256 under a domain label, so any high-entropy text will do.
    pub fn new<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<KeyRing, SealError> {
        let mut keys: Vec<(String, XChaCha20Poly1305)> = Vec::new();
        for (id, secret) in entries {
            let valid_id = !id.is_empty()
                && id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && !keys.iter().any(|(known, _)| known == id);
            if !valid_id {
                return Err(SealError::BadKeyId(id.to_string()));
            }
            if secret.len() < MIN_SECRET_BYTES {
                return Err(SealError::ShortKey {
                    id: id.to_string(),
                    len: secret.len(),
                });
            }
            let key = Sha256::new()
                .chain_update(DOMAIN)
                .chain_update(b"key")
                .chain_update(secret)
                .finalize();
            let cipher = XChaCha20Poly1305::new_from_slice(key.as_slice())
                .map_err(|_| SealError::Malformed)?;
            keys.push((id.to_string(), cipher));
        }
        if keys.is_empty() {
            return Err(SealError::NoKeys);
        }
        Ok(KeyRing { keys })
    }

    /// A ring of one random key that lives as long as this process.
    pub fn ephemeral() -> KeyRing {
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        KeyRing {
            keys: vec![("process".to_string(), XChaCha20Poly1305::new(&key))],
        }
    }

    /// Seals `payload`, valid for `ttl`, bound to `binding`.
    pub fn seal(&self, payload: &[u8], binding: &[u8], ttl: Duration) -> String {
        let (id, cipher) = &self.keys[0];
        let expiry = unix_millis().saturating_add(ttl.as_millis() as u64);
        let mut plain = Vec::with_capacity(8 + payload.len());
        plain.extend_from_slice(&expiry.to_be_bytes());
        plain.extend_from_slice(payload);
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = associated_data(id, binding);
        // Encryption only fails for plaintexts beyond 256 GiB.
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &plain,
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        let mut body = Vec::with_capacity(NONCE_BYTES + sealed.len());
        body.extend_from_slice(nonce.as_slice());
        body.extend_from_slice(&sealed);
        format!("{VERSION}.{id}.{}", URL_SAFE_NO_PAD.encode(body))
    }

    /// Opens a token sealed by [`Self::seal`] with the same `binding`.
    pub fn open(&self, token: &str, binding: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut parts = token.splitn(3, '.');
        let (Some(VERSION), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(SealError::Malformed);
        };
        let (_, cipher) = self
            .keys
            .iter()
            .find(|(known, _)| known == id)
            .ok_or_else(|| SealError::UnknownKey(id.chars().take(64).collect()))?;
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| SealError::Malformed)?;
        if body.len() < NONCE_BYTES + 8 {
            return Err(SealError::Malformed);
        }
        let (nonce, sealed) = body.split_at(NONCE_BYTES);
        let aad = associated_data(id, binding);
        let plain = cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::Forged)?;
        let (expiry, payload) = plain.split_at(8);
        let expiry = u64::from_be_bytes(expiry.try_into().map_err(|_| SealError::Malformed)?);
        if unix_millis() > expiry {
            return Err(SealError::Expired);
        }
        Ok(payload.to_vec())
    }
}

fn associated_data(key_id: &str, binding: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(DOMAIN.len() + key_id.len() + binding.len() + 2);
    aad.extend_from_slice(DOMAIN);
    aad.push(0);
    aad.extend_from_slice(key_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(binding);
    aad
}

pub(crate) fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const OTHER: &[u8] = b"fedcba9876543210fedcba9876543210";

    #[test]
    fn opens_what_it_sealed_for_the_same_binding_only() {
        let ring = KeyRing::new([("k1", SECRET)]).unwrap();
        let token = ring.seal(b"journal", b"alice|execute|abc", Duration::from_secs(60));
        assert!(token.starts_with("cm1.k1."));
        assert!(!token.contains("journal"), "the payload is encrypted");
        assert_eq!(ring.open(&token, b"alice|execute|abc").unwrap(), b"journal");
        assert_eq!(
            ring.open(&token, b"bob|execute|abc"),
            Err(SealError::Forged)
        );
    }

    #[test]
    fn a_changed_byte_is_refused() {
        let ring = KeyRing::new([("k1", SECRET)]).unwrap();
        let token = ring.seal(b"journal", b"b", Duration::from_secs(60));
        let mut bytes = token.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let token = String::from_utf8(bytes).unwrap();
        assert_eq!(ring.open(&token, b"b"), Err(SealError::Forged));
    }

    #[test]
    fn expired_tokens_do_not_open() {
        let ring = KeyRing::new([("k1", SECRET)]).unwrap();
        let token = ring.seal(b"x", b"b", Duration::ZERO);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(ring.open(&token, b"b"), Err(SealError::Expired));
    }

    #[test]
    fn rotation_keeps_old_tokens_open() {
        let old = KeyRing::new([("k1", SECRET)]).unwrap();
        let token = old.seal(b"x", b"b", Duration::from_secs(60));
        let rotated = KeyRing::new([("k2", OTHER), ("k1", SECRET)]).unwrap();
        assert_eq!(rotated.open(&token, b"b").unwrap(), b"x");
        assert!(rotated
            .seal(b"y", b"b", Duration::from_secs(60))
            .starts_with("cm1.k2."));
        let retired = KeyRing::new([("k2", OTHER)]).unwrap();
        assert_eq!(
            retired.open(&token, b"b"),
            Err(SealError::UnknownKey("k1".into()))
        );
    }

    #[test]
    fn weak_rings_are_refused() {
        assert!(matches!(
            KeyRing::new([("k1", b"short".as_slice())]),
            Err(SealError::ShortKey { .. })
        ));
        assert!(matches!(
            KeyRing::new([("a.b", SECRET)]),
            Err(SealError::BadKeyId(_))
        ));
        assert!(matches!(
            KeyRing::new([("k", SECRET), ("k", OTHER)]),
            Err(SealError::BadKeyId(_))
        ));
        assert!(matches!(KeyRing::new([]), Err(SealError::NoKeys)));
        assert_eq!(
            KeyRing::ephemeral().open("junk", b"b"),
            Err(SealError::Malformed)
        );
    }
}
