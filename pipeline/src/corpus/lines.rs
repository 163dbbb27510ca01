//! Byte lines of a text or JSONL file with their offsets, through an optional decompressor.
//!
//! Offsets count bytes of the *decompressed* stream, so a position means the same thing for `a.txt`
//! and `a.txt.zst`. A plain file is sought directly; a compressed one is decompressed from its start
//! and the lines before the target are skipped (decompression is much faster than tokenizing).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::{Compression, CorpusError};

/// Longest line handed on in one piece. A longer one (a file without newlines) is cut into pieces of
/// this many bytes, each cut moved forward to the end of a UTF-8 character, so memory stays bounded.
pub const MAX_LINE_BYTES: usize = 8 << 20;

/// How far ahead a plain file is skipped by reading rather than by a fresh seek.
const SEEK_INSTEAD_OF_SKIP_BYTES: u64 = 1 << 20;

const READ_BUFFER_BYTES: usize = 256 << 10;

/// Open a file for reading through its decompressor.
pub(crate) fn open_decompressed(path: &Path, compression: Compression) -> Result<Box<dyn Read + Send>, CorpusError> {
    let file = File::open(path).map_err(|e| CorpusError::io(path, e))?;
    Ok(match compression {
        Compression::None => Box::new(file),
        Compression::Gzip => {
            Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(READ_BUFFER_BYTES, file)))
        }
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(file).map_err(|e| CorpusError::io(path, e))?),
    })
}

/// Decompressed length of a file: what its offsets run up to.
pub(crate) fn decompressed_len(path: &Path, compression: Compression) -> Result<u64, CorpusError> {
    match compression {
        Compression::None => std::fs::metadata(path).map(|m| m.len()).map_err(|e| CorpusError::io(path, e)),
        _ => {
            let mut reader = open_decompressed(path, compression)?;
            io::copy(&mut reader, &mut io::sink()).map_err(|e| CorpusError::io(path, e))
        }
    }
}

/// Lines of one file, each with the offset where it starts.
pub(crate) struct LineStream {
    reader: BufReader<Box<dyn Read + Send>>,
    compression: Compression,
    /// Offset of the next unread byte.
    pos: u64,
}

impl LineStream {
    /// Positioned at the first line that starts at or after `offset`.
    pub fn open_at(path: &Path, compression: Compression, offset: u64) -> Result<Self, CorpusError> {
        let mut stream = match compression {
            Compression::None if offset > 0 => {
                let mut file = File::open(path).map_err(|e| CorpusError::io(path, e))?;
                file.seek(SeekFrom::Start(offset - 1)).map_err(|e| CorpusError::io(path, e))?;
                let reader: Box<dyn Read + Send> = Box::new(file);
                let mut s = LineStream {
                    reader: BufReader::with_capacity(READ_BUFFER_BYTES, reader),
                    compression,
                    pos: offset - 1,
                };
                // The byte before `offset` decides: a newline there means a line starts exactly at `offset`.
                s.skip_line(path)?;
                return Ok(s);
            }
            _ => LineStream {
                reader: BufReader::with_capacity(READ_BUFFER_BYTES, open_decompressed(path, compression)?),
                compression,
                pos: 0,
            },
        };
        stream.skip_to(path, offset)?;
        Ok(stream)
    }

    /// Offset of the next line.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// Moves on to the first line starting at or after `offset` (which must not be behind [`Self::pos`]).
    pub fn skip_to(&mut self, path: &Path, offset: u64) -> Result<(), CorpusError> {
        if self.compression == Compression::None && offset > self.pos + SEEK_INSTEAD_OF_SKIP_BYTES {
            *self = LineStream::open_at(path, self.compression, offset)?;
            return Ok(());
        }
        while self.pos < offset {
            if self.skip_line(path)? == 0 {
                break;
            }
        }
        Ok(())
    }

    fn skip_line(&mut self, path: &Path) -> Result<usize, CorpusError> {
        let mut consumed = 0usize;
        loop {
            let avail = self.reader.fill_buf().map_err(|e| CorpusError::io(path, e))?;
            if avail.is_empty() {
                break;
            }
            match memchr::memchr(b'\n', avail) {
                Some(i) => {
                    self.reader.consume(i + 1);
                    consumed += i + 1;
                    break;
                }
                None => {
                    let n = avail.len();
                    self.reader.consume(n);
                    consumed += n;
                }
            }
        }
        self.pos += consumed as u64;
        Ok(consumed)
    }

    /// Reads the next line (with its newline, if any) into `buf`; returns its start offset, or `None` at
    /// the end of the file. Lines longer than [`MAX_LINE_BYTES`] come out in pieces.
    pub fn next_line(&mut self, path: &Path, buf: &mut Vec<u8>) -> Result<Option<u64>, CorpusError> {
        buf.clear();
        let start = self.pos;
        loop {
            let avail = self.reader.fill_buf().map_err(|e| CorpusError::io(path, e))?;
            if avail.is_empty() {
                break;
            }
            let room = MAX_LINE_BYTES.saturating_sub(buf.len());
            if room == 0 {
                // At the cap: finish a character cut in half, then stop.
                if incomplete_utf8_tail(buf) {
                    buf.push(avail[0]);
                    self.reader.consume(1);
                    continue;
                }
                break;
            }
            let window = &avail[..avail.len().min(room)];
            match memchr::memchr(b'\n', window) {
                Some(i) => {
                    buf.extend_from_slice(&window[..=i]);
                    self.reader.consume(i + 1);
                    break;
                }
                None => {
                    let n = window.len();
                    buf.extend_from_slice(window);
                    self.reader.consume(n);
                }
            }
        }
        self.pos += buf.len() as u64;
        Ok(if buf.is_empty() { None } else { Some(start) })
    }
}

/// Longest line a record reader accepts from a stream it cannot size beforehand (`electra infer` and
/// `electra tokenize` on stdin or a JSON-lines file): one JSON record per line, so a line is never cut (unlike
/// corpus text, [`MAX_LINE_BYTES`]) but refused. 64 MiB holds the JSON of ~9 million token ids, 17,000 times
/// ELECTRA's 512 positions, so no sequence a model can take is refused by it; an endless line stops here instead
/// of growing until memory runs out.
pub const MAX_RECORD_LINE_BYTES: usize = 64 << 20;

/// What [`read_record_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum RecordLine {
    /// A line is in the buffer, without its `\n`.
    Line,
    /// The stream ended (nothing was read).
    End,
    /// The line has more than `max` bytes; the buffer holds its first `max`, the rest is unread.
    TooLong,
}

/// Reads one line of `reader` into `buf` (cleared first, the `\n` dropped), reading at most `max` bytes of it:
/// the buffer never grows past `max`, whatever the stream holds.
pub fn read_record_line(reader: &mut impl BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<RecordLine> {
    buf.clear();
    append_record_line(reader, buf, max)
}

/// [`read_record_line`] appending to what `buf` already holds, for a caller that gathers many lines in one
/// buffer (`electra tokenize`'s chunks) without copying each from a line buffer: `buf` grows by at most `max`
/// bytes, whatever the stream holds; on [`RecordLine::TooLong`] it holds the line's first `max` after what it held.
pub fn append_record_line(reader: &mut impl BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<RecordLine> {
    let start = buf.len();
    let mut read_any = false;
    loop {
        let avail = reader.fill_buf()?;
        if avail.is_empty() {
            return Ok(if read_any { RecordLine::Line } else { RecordLine::End });
        }
        read_any = true;
        let room = max - (buf.len() - start);
        let window = &avail[..avail.len().min(room.saturating_add(1))];
        match memchr::memchr(b'\n', window) {
            Some(i) if i <= room => {
                buf.extend_from_slice(&window[..i]);
                reader.consume(i + 1);
                return Ok(RecordLine::Line);
            }
            _ if window.len() > room => {
                let n = room;
                buf.extend_from_slice(&window[..n]);
                reader.consume(n);
                return Ok(RecordLine::TooLong);
            }
            _ => {
                let n = window.len();
                buf.extend_from_slice(window);
                reader.consume(n);
            }
        }
    }
}

/// True when `bytes` ends inside a multi-byte UTF-8 sequence that more bytes could complete.
fn incomplete_utf8_tail(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(3)..];
    for (i, &b) in tail.iter().enumerate().rev() {
        if b & 0xC0 == 0x80 {
            continue; // continuation byte: look further back for the lead byte
        }
        let needed = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => return false,
        };
        return tail.len() - i < needed;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines_from(path: &Path, compression: Compression, offset: u64) -> Vec<(u64, Vec<u8>)> {
        let mut s = LineStream::open_at(path, compression, offset).unwrap();
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while let Some(start) = s.next_line(path, &mut buf).unwrap() {
            out.push((start, buf.clone()));
        }
        out
    }

    #[test]
    fn record_lines_are_read_whole_up_to_the_limit_and_refused_past_it() {
        let mut input: &[u8] = b"abc\n\nabcd\nabcde\nxy";
        let mut buf = Vec::new();
        let mut seen = Vec::new();
        loop {
            let found = read_record_line(&mut input, &mut buf, 4).unwrap();
            if found == RecordLine::End {
                break;
            }
            seen.push((found, String::from_utf8(buf.clone()).unwrap()));
            if seen.last().is_some_and(|(f, _)| *f == RecordLine::TooLong) {
                break;
            }
        }
        assert_eq!(
            seen,
            vec![
                (RecordLine::Line, "abc".into()),
                (RecordLine::Line, "".into()),
                (RecordLine::Line, "abcd".into()),
                (RecordLine::TooLong, "abcd".into()),
            ]
        );
        // A last line without a newline, exactly at the limit, is a line.
        let mut input: &[u8] = b"wxyz";
        assert_eq!(read_record_line(&mut input, &mut buf, 4).unwrap(), RecordLine::Line);
        assert_eq!(buf, b"wxyz");
        assert_eq!(read_record_line(&mut input, &mut buf, 4).unwrap(), RecordLine::End);
        // Through a reader that hands out one byte at a time, the buffer never passes the limit.
        let endless = std::io::repeat(b'a').take(1 << 20);
        let mut reader = std::io::BufReader::with_capacity(1, endless);
        assert_eq!(read_record_line(&mut reader, &mut buf, 1000).unwrap(), RecordLine::TooLong);
        assert_eq!(buf.len(), 1000);
    }

    #[test]
    fn record_lines_append_after_what_the_buffer_holds_with_the_limit_per_line() {
        let mut input: &[u8] = b"abc\nabcd\nabcde\n";
        let mut buf = b"kept|".to_vec();
        assert_eq!(append_record_line(&mut input, &mut buf, 4).unwrap(), RecordLine::Line);
        buf.push(b'|');
        // The limit counts this line's bytes only, not the buffer's.
        assert_eq!(append_record_line(&mut input, &mut buf, 4).unwrap(), RecordLine::Line);
        assert_eq!(buf, b"kept|abc|abcd");
        assert_eq!(append_record_line(&mut input, &mut buf, 4).unwrap(), RecordLine::TooLong);
        assert_eq!(buf, b"kept|abc|abcdabcd");
        let mut empty: &[u8] = b"";
        assert_eq!(append_record_line(&mut empty, &mut buf, 4).unwrap(), RecordLine::End);
        assert_eq!(buf, b"kept|abc|abcdabcd", "nothing appended at the end");
        // One byte at a time, the buffer grows by at most the limit.
        let endless = std::io::repeat(b'a').take(1 << 20);
        let mut reader = std::io::BufReader::with_capacity(1, endless);
        let mut buf = vec![b'x'; 10];
        assert_eq!(append_record_line(&mut reader, &mut buf, 1000).unwrap(), RecordLine::TooLong);
        assert_eq!(buf.len(), 1010);
    }

    #[test]
    fn offsets_and_seeks_agree_for_plain_and_compressed() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"alpha\n\nbeta gamma\ndelta\n\nlast line without newline";
        let plain = dir.path().join("a.txt");
        std::fs::write(&plain, text).unwrap();
        let zst = dir.path().join("a.txt.zst");
        std::fs::write(&zst, zstd::encode_all(&text[..], 3).unwrap()).unwrap();
        let gz = dir.path().join("a.txt.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(text).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();

        assert_eq!(decompressed_len(&zst, Compression::Zstd).unwrap(), text.len() as u64);
        assert_eq!(decompressed_len(&gz, Compression::Gzip).unwrap(), text.len() as u64);
        for offset in 0..=text.len() as u64 + 1 {
            let expected: Vec<(u64, Vec<u8>)> = {
                // Reference: every line whose start offset is >= `offset`.
                let mut v = Vec::new();
                let mut start = 0usize;
                for piece in text.split_inclusive(|&b| b == b'\n') {
                    if start as u64 >= offset {
                        v.push((start as u64, piece.to_vec()));
                    }
                    start += piece.len();
                }
                v
            };
            assert_eq!(lines_from(&plain, Compression::None, offset), expected, "plain at {offset}");
            assert_eq!(lines_from(&zst, Compression::Zstd, offset), expected, "zstd at {offset}");
            assert_eq!(lines_from(&gz, Compression::Gzip, offset), expected, "gzip at {offset}");
        }
    }

    #[test]
    fn utf8_tail_detection() {
        assert!(!incomplete_utf8_tail(b"abc"));
        assert!(incomplete_utf8_tail(&"é".as_bytes()[..1]));
        assert!(!incomplete_utf8_tail("é".as_bytes()));
        assert!(incomplete_utf8_tail(&"€".as_bytes()[..2]));
        // Latin-1 'é' (0xE9) looks like a 3-byte lead; taking up to 2 more bytes before cutting is harmless.
        assert!(incomplete_utf8_tail(&[b'a', 0xE9]));
        assert!(!incomplete_utf8_tail(&[b'a', 0xE9, b'b']));
    }
}
