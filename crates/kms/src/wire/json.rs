//! The field helpers of the wire structs: how one JSON field becomes a typed value (strings,
//! base64 blobs in wiped buffers, encryption contexts, counts, tags) with the service's error for a
//! value of the wrong shape, and how secrets and blobs become base64 again.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::ops::RangeInclusive;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Deserializer, Serializer};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::error::{ErrorCode, KmsError, KmsResult};

/// Key material and plaintexts (and, through the same decoder, ciphertext blobs): wiped on drop.
pub type Secret = Zeroizing<Vec<u8>>;
/// An encryption context.
pub type Context = BTreeMap<String, String>;

/// A request field's wire name, for its error messages.
pub trait Name {
    /// The name, as in the JSON.
    const NAME: &'static str;
}

macro_rules! names {
    ($($name:ident),* $(,)?) => {
        /// Markers naming the request fields whose errors name them.
        pub mod field {
            $(
                #[doc = concat!("`", stringify!($name), "`")]
                pub struct $name;
                impl super::Name for $name {
                    const NAME: &'static str = stringify!($name);
                }
            )*
        }
    };
}

names!(
    KeyId,
    AliasName,
    TargetKeyId,
    Description,
    KeySpec,
    EncryptionAlgorithm,
    Marker,
    SourceKeyId,
    DestinationKeyId,
    Plaintext,
    CiphertextBlob,
    EncryptionContext,
    SourceEncryptionContext,
    DestinationEncryptionContext,
    Message,
    MessageType,
    SigningAlgorithm,
    Signature,
    WrappingAlgorithm,
    WrappingKeySpec,
    ImportToken,
    EncryptedKeyMaterial,
    ValidTo,
    ExpirationModel,
    ReplicaRegion,
    PrimaryRegion,
);

/// A JSON type a field can hold; `null` reads as absent.
pub trait FromJson: Sized {
    /// The value of `field`, `None` for `null`, or the error for a value of the wrong shape.
    fn from_json(v: Value, field: &str) -> KmsResult<Option<Self>>;
}

impl FromJson for String {
    fn from_json(v: Value, field: &str) -> KmsResult<Option<Self>> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            _ => Err(KmsError::new(
                ErrorCode::Serialization,
                format!("{field} must be a string"),
            )),
        }
    }
}

/// A timestamp: seconds since the epoch, as the JSON protocol writes them.
impl FromJson for f64 {
    fn from_json(v: Value, field: &str) -> KmsResult<Option<Self>> {
        match v {
            Value::Null => Ok(None),
            Value::Number(n) => n.as_f64().map(Some).ok_or_else(|| {
                KmsError::new(ErrorCode::Serialization, format!("{field} is out of range"))
            }),
            _ => Err(KmsError::new(
                ErrorCode::Serialization,
                format!("{field} must be a timestamp"),
            )),
        }
    }
}

/// A base64 blob. The text is wiped once decoded, and the bytes live in a wiped buffer.
impl FromJson for Secret {
    fn from_json(v: Value, field: &str) -> KmsResult<Option<Self>> {
        let Some(text) = String::from_json(v, field)?.map(Zeroizing::new) else {
            return Ok(None);
        };
        decode_base64(&text).map(Some).ok_or_else(|| {
            KmsError::new(ErrorCode::Serialization, format!("{field} is not base64"))
        })
    }
}

/// An encryption context: a map of strings.
impl FromJson for Context {
    fn from_json(v: Value, field: &str) -> KmsResult<Option<Self>> {
        match v {
            Value::Null => Ok(None),
            Value::Object(map) => map
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k, s)),
                    _ => Err(KmsError::new(
                        ErrorCode::Serialization,
                        format!("{field} values must be strings"),
                    )),
                })
                .collect::<KmsResult<Context>>()
                .map(Some),
            _ => Err(KmsError::new(
                ErrorCode::Serialization,
                format!("{field} must be a map"),
            )),
        }
    }
}

/// Decodes standard base64 straight into a wiped buffer (sized up front: no reallocation).
fn decode_base64(text: &str) -> Option<Secret> {
    let mut out = Zeroizing::new(vec![0u8; base64::decoded_len_estimate(text.len())]);
    let n = B64.decode_slice(text, &mut out[..]).ok()?;
    out.truncate(n);
    Some(out)
}

/// A required field: absent or `null` is a ValidationException "`F` is required".
pub struct Req<F, T = String> {
    value: KmsResult<Option<T>>,
    name: PhantomData<F>,
}

/// An optional field (`null` reads as absent).
pub struct Opt<F, T = String> {
    value: KmsResult<Option<T>>,
    name: PhantomData<F>,
}

impl<F: Name, T> Req<F, T> {
    /// The value, or the field's error.
    pub fn get(self) -> KmsResult<T> {
        self.value?
            .ok_or_else(|| KmsError::new(ErrorCode::Validation, format!("{} is required", F::NAME)))
    }
}

impl<F, T> Opt<F, T> {
    /// The value if given, or the field's error.
    pub fn get(self) -> KmsResult<Option<T>> {
        self.value
    }
}

impl<F, T: Default> Opt<F, T> {
    /// The value, the empty one if absent, or the field's error.
    pub fn get_or_default(self) -> KmsResult<T> {
        self.value.map(Option::unwrap_or_default)
    }
}

impl<F, T> Default for Req<F, T> {
    fn default() -> Self {
        Self {
            value: Ok(None),
            name: PhantomData,
        }
    }
}

impl<F, T> Default for Opt<F, T> {
    fn default() -> Self {
        Self {
            value: Ok(None),
            name: PhantomData,
        }
    }
}

impl<'de, F: Name, T: FromJson> Deserialize<'de> for Req<F, T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self {
            value: T::from_json(Value::deserialize(d)?, F::NAME),
            name: PhantomData,
        })
    }
}

impl<'de, F: Name, T: FromJson> Deserialize<'de> for Opt<F, T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self {
            value: T::from_json(Value::deserialize(d)?, F::NAME),
            name: PhantomData,
        })
    }
}

/// A whole-number field. Absent (or `null`) takes the default; any other value that is not a
/// whole number within range, whatever its JSON type, is a ValidationException.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Count {
    /// Not in the request.
    #[default]
    Absent,
    /// In the request: the number, if it is a non-negative integer.
    Given(Option<u64>),
}

impl Count {
    /// The number within `range`, `default` if absent.
    pub fn within(self, field: &str, range: RangeInclusive<u64>, default: u64) -> KmsResult<u64> {
        match self {
            Count::Absent => Ok(default),
            Count::Given(n) => n.filter(|n| range.contains(n)).ok_or_else(|| {
                KmsError::new(
                    ErrorCode::Validation,
                    format!(
                        "{field} must be between {} and {}",
                        range.start(),
                        range.end()
                    ),
                )
            }),
        }
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Null => Count::Absent,
            v => Count::Given(v.as_u64()),
        })
    }
}

/// A count for which even `null` counts as given (GenerateDataKey's `NumberOfBytes`).
pub(super) fn count_even_null<'de, D: Deserializer<'de>>(d: D) -> Result<Count, D::Error> {
    Ok(Count::Given(Value::deserialize(d)?.as_u64()))
}

/// A string that is only looked at when it is one: another JSON type reads as absent.
pub(super) fn loose_str<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        _ => None,
    })
}

/// A flag that is set only by JSON `true`: anything else reads as `false`.
pub(super) fn loose_true<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Value::deserialize(d)? == Value::Bool(true))
}

/// A tag of CreateKey.
#[derive(Debug, PartialEq, Eq)]
pub struct Tag {
    /// `TagKey`.
    pub key: String,
    /// `TagValue`.
    pub value: String,
}

/// CreateKey's `Tags`: anything but a list means no tags; an entry without a string `TagKey` and
/// `TagValue` is kept as `None`, for the handler to refuse.
pub(super) fn tags<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Option<Tag>>, D::Error> {
    let Value::Array(items) = Value::deserialize(d)? else {
        return Ok(Vec::new());
    };
    Ok(items
        .iter()
        .map(|t| {
            let text = |k: &str| t.get(k).and_then(Value::as_str).map(str::to_owned);
            Some(Tag {
                key: text("TagKey")?,
                value: text("TagValue")?,
            })
        })
        .collect())
}

/// Base64 of a ciphertext blob.
pub(super) fn blob_base64<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&B64.encode(bytes))
}

/// Base64 of a secret, encoded into a wiped buffer sized up front.
pub(super) fn secret_base64<S: Serializer>(secret: &Secret, s: S) -> Result<S::Ok, S::Error> {
    let mut text = Zeroizing::new(String::with_capacity(
        base64::encoded_len(secret.len(), true).unwrap_or_default(),
    ));
    B64.encode_string(&secret[..], &mut text);
    s.serialize_str(&text)
}

pub(super) fn optional_secret_base64<S: Serializer>(
    secret: &Option<Secret>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => secret_base64(secret, s),
        None => s.serialize_none(),
    }
}
