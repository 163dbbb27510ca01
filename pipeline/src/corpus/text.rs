//! `.txt` and `.jsonl` inputs: ranges of lines turned into documents.
//!
//! - `.txt` (ELECTRA's convention): every non-blank line belongs to the current document; a blank
//!   (whitespace-only) line ends it. The end of a file also ends it.
//! - `.jsonl`: one JSON object per line; its text field (`--text-field`, default `text`) is one
//!   document, whose lines are the field's non-blank lines. A line that is not an object with a string
//!   in that field is skipped and counted (`skipped_records`), with a warning naming file and offset.
//!
//! A line that is not valid UTF-8 is decoded lossily (each bad sequence becomes U+FFFD) and counted
//! (`bad_lines`); it is never an error.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::lines::LineStream;
use super::{CorpusError, DocSink};

/// The line's text without its line break, decoded lossily when it is not UTF-8.
fn decode_line<'a>(raw: &'a [u8], sink: &mut dyn DocSink) -> Cow<'a, str> {
    let mut bytes = raw;
    if let Some(rest) = bytes.strip_suffix(b"\n") {
        bytes = rest;
    }
    if let Some(rest) = bytes.strip_suffix(b"\r") {
        bytes = rest;
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => {
            sink.bad_line();
            String::from_utf8_lossy(bytes)
        }
    }
}

/// Documents of the `.txt` lines that start before offset `end`.
pub(crate) fn read_text(
    stream: &mut LineStream,
    path: &Path,
    end: u64,
    sink: &mut dyn DocSink,
) -> Result<(), CorpusError> {
    let mut buf = Vec::new();
    while stream.pos() < end {
        if stream.next_line(path, &mut buf)?.is_none() {
            break;
        }
        sink.consumed(buf.len() as u64);
        let line = decode_line(&buf, sink);
        let line = line.trim();
        if line.is_empty() {
            sink.end_document()?;
        } else {
            sink.line(line)?;
        }
    }
    sink.end_document()
}

/// Documents of the `.jsonl` records that start before offset `end`.
pub(crate) fn read_jsonl(
    stream: &mut LineStream,
    path: &Path,
    end: u64,
    text_field: &str,
    sink: &mut dyn DocSink,
) -> Result<(), CorpusError> {
    let mut buf = Vec::new();
    while stream.pos() < end {
        let Some(start) = stream.next_line(path, &mut buf)? else {
            break;
        };
        sink.consumed(buf.len() as u64);
        let line = decode_line(&buf, sink);
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match extract_text_field(line, text_field) {
            Ok(Some(text)) => {
                push_document(&text, sink)?;
            }
            Ok(None) => {
                sink.skipped_record(path, &format!("byte offset {start}"), &format!("no string field {text_field:?}"))
            }
            Err(e) => sink.skipped_record(path, &format!("byte offset {start}"), &format!("not a JSON object: {e}")),
        }
    }
    sink.end_document()
}

/// One document from a text value (a JSONL field or a Parquet cell): its non-blank lines, trimmed.
pub(crate) fn push_document(text: &str, sink: &mut dyn DocSink) -> Result<(), CorpusError> {
    for line in text.lines() {
        let line = line.trim();
        if !line.is_empty() {
            sink.line(line)?;
        }
    }
    sink.end_document()
}

/// The string value of `field` in the JSON object `line`, without building the other values.
/// `Ok(None)`: the field is missing, null, or not a string.
fn extract_text_field(line: &str, field: &str) -> Result<Option<String>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(line);
    let value = FieldSeed { field }.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

struct FieldSeed<'f> {
    field: &'f str,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if found.is_none() && key == self.field {
                found = Some(map.next_value::<MaybeString>()?.0);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found.flatten())
    }
}

/// A JSON value kept only when it is a string.
struct MaybeString(Option<String>);

impl<'de> serde::Deserialize<'de> for MaybeString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MaybeString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "any JSON value")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<MaybeString, E> {
                Ok(MaybeString(Some(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<MaybeString, E> {
                Ok(MaybeString(Some(v)))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<MaybeString, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(MaybeString(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MaybeString, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(MaybeString(None))
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_field_extraction() {
        assert_eq!(extract_text_field(r#"{"id":1,"text":"a \"b\"\nc"}"#, "text").unwrap(), Some("a \"b\"\nc".into()));
        assert_eq!(extract_text_field(r#"{"body":"x","meta":{"text":"no"}}"#, "text").unwrap(), None);
        assert_eq!(extract_text_field(r#"{"text":null}"#, "text").unwrap(), None);
        assert_eq!(extract_text_field(r#"{"text":3}"#, "text").unwrap(), None);
        assert_eq!(extract_text_field(r#"{"content":"y"}"#, "content").unwrap(), Some("y".into()));
        assert!(extract_text_field(r#"["text"]"#, "text").is_err());
        assert!(extract_text_field(r#"{"text":"unterminated}"#, "text").is_err());
        assert!(extract_text_field(r#"{"text":"a"} trailing"#, "text").is_err());
    }
}
