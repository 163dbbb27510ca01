//! Chunks: the unit of parallel work. The corpus reader cuts the documents of one shard into chunks of
//! about [`CHUNK_TARGET_BYTES`] of text, at document boundaries; worker threads tokenize and pack whole
//! chunks. Where the cuts fall depends only on the documents, never on the thread count, and each
//! chunk draws its random numbers from its own stream keyed by (seed, shard, chunk ordinal), so the
//! output is the same whatever the number of threads.

use std::path::Path;

use crate::corpus::{CorpusError, DocSink};

/// A chunk is closed at the first document end after this much text.
pub const CHUNK_TARGET_BYTES: usize = 1 << 20;
/// A document longer than this is cut (at a line boundary) so that a chunk's memory stays bounded; the
/// cut is an example boundary, as if the document had ended there.
pub const CHUNK_MAX_BYTES: usize = 8 << 20;

/// Counts made while reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReadStats {
    /// Documents that start in this chunk.
    pub documents: u64,
    /// Lines that were not valid UTF-8 and were decoded lossily.
    pub bad_lines: u64,
    /// JSONL/Parquet records skipped because they held no text.
    pub skipped_records: u64,
    /// Input bytes read (decompressed; for Parquet, the text column's uncompressed size).
    pub input_bytes: u64,
}

impl ReadStats {
    pub fn add(&mut self, o: &ReadStats) {
        self.documents += o.documents;
        self.bad_lines += o.bad_lines;
        self.skipped_records += o.skipped_records;
        self.input_bytes += o.input_bytes;
    }
}

/// Documents (lists of trimmed lines) of one stretch of a shard.
#[derive(Debug, Default)]
pub struct Chunk {
    pub shard: usize,
    /// Position of this chunk within its shard: 0, 1, 2, ...
    pub ordinal: u64,
    text: String,
    /// End offset in `text` of each line.
    line_ends: Vec<u32>,
    /// End (exclusive index into `line_ends`) of each document.
    doc_ends: Vec<u32>,
    pub stats: ReadStats,
}

impl Chunk {
    /// The documents, each an iterator over its lines.
    pub fn documents(&self) -> impl Iterator<Item = impl Iterator<Item = &str> + '_> + '_ {
        let mut line_start = 0usize;
        self.doc_ends.iter().map(move |&end| {
            let lines = &self.line_ends[line_start..end as usize];
            let first_byte = if line_start == 0 { 0 } else { self.line_ends[line_start - 1] as usize };
            line_start = end as usize;
            let mut at = first_byte;
            lines.iter().map(move |&e| {
                let line = &self.text[at..e as usize];
                at = e as usize;
                line
            })
        })
    }

    pub fn text_bytes(&self) -> usize {
        self.text.len()
    }
}

/// Builds the chunks of one shard from the documents a corpus cursor delivers, handing each finished
/// chunk to `emit`.
pub struct ChunkBuilder<F: FnMut(Chunk) -> Result<(), CorpusError>> {
    current: Chunk,
    shard: usize,
    next_ordinal: u64,
    in_document: bool,
    emit: F,
    /// How many skipped-record warnings were printed (only the first few are).
    warnings: usize,
}

/// Skipped records named one by one on stderr before the rest are only counted.
const MAX_WARNINGS: usize = 10;

impl<F: FnMut(Chunk) -> Result<(), CorpusError>> ChunkBuilder<F> {
    pub fn new(shard: usize, emit: F) -> Self {
        ChunkBuilder {
            current: Chunk { shard, ..Chunk::default() },
            shard,
            next_ordinal: 1,
            in_document: false,
            emit,
            warnings: 0,
        }
    }

    fn close_document(&mut self) {
        if self.in_document {
            self.current.doc_ends.push(self.current.line_ends.len() as u32);
            self.in_document = false;
        }
    }

    fn emit_current(&mut self) -> Result<(), CorpusError> {
        let next = Chunk { shard: self.shard, ordinal: self.next_ordinal, ..Chunk::default() };
        self.next_ordinal += 1;
        let done = std::mem::replace(&mut self.current, next);
        (self.emit)(done)
    }

    /// Emits the last chunk of the shard (possibly empty, so every shard has at least one chunk).
    pub fn finish(mut self) -> Result<(), CorpusError> {
        self.close_document();
        let done = std::mem::take(&mut self.current);
        (self.emit)(done)
    }
}

impl<F: FnMut(Chunk) -> Result<(), CorpusError>> DocSink for ChunkBuilder<F> {
    fn line(&mut self, text: &str) -> Result<(), CorpusError> {
        if self.current.text.len() >= CHUNK_MAX_BYTES {
            // A very long document: cut it here (the rest continues as the same document, not counted again).
            self.close_document();
            self.emit_current()?;
            self.in_document = true;
        }
        if !self.in_document {
            self.in_document = true;
            self.current.stats.documents += 1;
        }
        self.current.text.push_str(text);
        self.current.line_ends.push(self.current.text.len() as u32);
        Ok(())
    }

    fn end_document(&mut self) -> Result<(), CorpusError> {
        self.close_document();
        if self.current.text.len() >= CHUNK_TARGET_BYTES {
            self.emit_current()?;
        }
        Ok(())
    }

    fn bad_line(&mut self) {
        self.current.stats.bad_lines += 1;
    }

    fn skipped_record(&mut self, path: &Path, location: &str, why: &str) {
        self.current.stats.skipped_records += 1;
        if self.warnings < MAX_WARNINGS {
            eprintln!("warning: skipped the record at {location} of {}: {why}", path.display());
            self.warnings += 1;
            if self.warnings == MAX_WARNINGS {
                eprintln!("warning: further skipped records in this shard are only counted");
            }
        }
    }

    fn consumed(&mut self, bytes: u64) {
        self.current.stats.input_bytes += bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_round_trip_and_cuts_are_at_document_ends() {
        let mut chunks = Vec::new();
        let mut b = ChunkBuilder::new(3, |c| {
            chunks.push(c);
            Ok(())
        });
        let line = "x".repeat(400_000);
        for doc in 0..7 {
            b.line(&format!("doc {doc}")).unwrap();
            b.line(&line).unwrap();
            b.end_document().unwrap();
            b.end_document().unwrap(); // a second blank line is not a document
        }
        b.finish().unwrap();
        // 400 kB per document, cut after the first document end at or past 1 MiB: 3 + 3 + 1.
        assert_eq!(chunks.iter().map(|c| c.stats.documents).collect::<Vec<_>>(), vec![3, 3, 1]);
        assert_eq!(chunks.iter().map(|c| c.ordinal).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert!(chunks.iter().all(|c| c.shard == 3));
        let firsts: Vec<String> =
            chunks.iter().flat_map(|c| c.documents().map(|mut d| d.next().unwrap().to_string())).collect();
        assert_eq!(firsts, (0..7).map(|d| format!("doc {d}")).collect::<Vec<_>>());
        for c in &chunks {
            for d in c.documents() {
                let lines: Vec<&str> = d.collect();
                assert_eq!(lines.len(), 2);
                assert_eq!(lines[1], line);
            }
        }
    }

    #[test]
    fn empty_shard_still_has_one_chunk() {
        let mut chunks = Vec::new();
        ChunkBuilder::new(0, |c| {
            chunks.push(c);
            Ok(())
        })
        .finish()
        .unwrap();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].documents().count(), 0);
    }
}
