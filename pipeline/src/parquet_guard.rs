//! One boundary around every call into the `parquet` crate on bytes from outside (shards, Parquet
//! corpora, Parquet task files).
//!
//! parquet 60.1 (the newest release) still `unwrap`s fields a corrupt file may lack: a page header of
//! type DATA_PAGE without its `data_page_header` panics in `PageMetadata::try_from`
//! (`column/page.rs:365`). The fuzz campaign of issue 17 found it through the shard reader
//! (`fuzz/regressions/shard_reader/`). Until the crate returns an error there, a panic inside one of
//! its calls becomes the caller's typed error naming the file, never the end of a training run.
//! Only the parquet call goes inside: a panic in this project's own checks stays a panic (a bug to
//! fix, not bad input).
//!
//! A panic guard cannot bound time, and the crate can also loop: [`check_footer`] bounds what its footer
//! parser can skip without reading, and [`check_row_group_pages`] walks every page header of a row group
//! with a bounded parser before the crate decodes it (the second and third findings of issue 17,
//! `fuzz/regressions/shard_reader/timeout-…`, explained there).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::panic::{catch_unwind, AssertUnwindSafe};

use parquet::file::metadata::ParquetMetaData;

/// Runs `call` (one call into the parquet crate); `Err` with the panic's message if it panicked.
/// The decoder's state after such a panic is not used again: callers return the error.
pub fn catch_decoder_panic<T>(call: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(call)).map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_string());
        format!("the Parquet decoder failed on corrupt data ({message})")
    })
}

// ---------------------------------------------------------------------------------------------------
// The footer, bounded before the parquet crate parses it.
//
// Why: parquet 60.1 parses the footer (FileMetaData) from memory with a Thrift reader that is strict about
// bytes, so every element it reads or skips costs at least one byte of the footer, except one kind: when it
// skips an unknown field, it skips a bool element of a list or set, and the entries of a map of (bool, bool),
// as zero bytes, and runs the element count read from the footer (up to 2^31 - 1). A 29-byte footer holding
// such a list of 1.2 billion bools (fuzz/regressions/shard_reader/timeout-ab7141df…) kept the fuzz build busy
// for more than 10 s in `ArrowReaderMetadata::load`, before any check of ours.
//
// The parser's cursor only moves forward, so it reads the header of such a container at most once at each
// position of the footer, and the zero-byte steps it can take are at most the sum, over every position, of
// the count a bool-list header or a (bool, bool) map header at that position would give (decoded as the
// crate decodes it). `check_footer` computes that sum without parsing (every position is taken as a possible
// header) and refuses a footer where it exceeds FOOTER_EMPTY_SKIPS. An honest footer comes nowhere near: its
// only candidates are bytes that happen to look like such headers (an ASCII byte before a quote reads as a
// map of up to 127 (bool, bool) entries): 7,702 for the seed shard's 1,821-byte footer.
// ---------------------------------------------------------------------------------------------------

/// Most zero-byte skip steps a footer may allow the crate's parser (see above): 2^24 steps of a function
/// that returns at once take milliseconds, against more than 10 s for the 2^30 the fuzz input asked for.
pub const FOOTER_EMPTY_SKIPS: u64 = 1 << 24;

/// Refuses a Parquet footer on which the crate's parser could spin (see the comment above); reads the
/// footer (its length checked against the file's first). A file too short to hold a footer passes: the
/// crate reports that itself, without looping.
pub fn check_footer(file: &File) -> Result<(), String> {
    let file_len = file.metadata().map_err(|e| e.to_string())?.len();
    if file_len < 12 {
        return Ok(());
    }
    let tail = read_range(file, file_len - 8, 8).map_err(|e| e.to_string())?;
    let footer_len = tail.get(..4).and_then(|b| b.try_into().ok()).map_or(0, u32::from_le_bytes);
    // The crate parses a footer that claims the whole file, "PAR1" at its start included.
    let Some(start) = (file_len - 8).checked_sub(u64::from(footer_len)) else {
        return Ok(());
    };
    let footer = read_range(file, start, u64::from(footer_len)).map_err(|e| e.to_string())?;
    let steps = footer_empty_skips(&footer);
    if steps > FOOTER_EMPTY_SKIPS {
        return Err(format!(
            "the footer holds containers of bools with up to {steps} elements in all (at most {FOOTER_EMPTY_SKIPS} \
             are read): a corrupt footer the Parquet decoder would spin on"
        ));
    }
    Ok(())
}

/// Bytes of a varint decoded at a candidate position before it is taken as the largest count: an honest
/// count takes at most 5.
const MAX_CANDIDATE_VARINT: usize = 16;

/// The bound on the crate's zero-byte skip steps over `footer` (see the comment above).
fn footer_empty_skips(footer: &[u8]) -> u64 {
    let is_bool = |t: u8| matches!(t, 1 | 2);
    let mut total = 0u64;
    for (p, &h) in footer.iter().enumerate() {
        // A list or set header: the count in the high nibble, or 15 and a varint after it.
        if is_bool(h & 0x0f) {
            let count = match h >> 4 {
                15 => candidate_count(&footer[p + 1..]).map_or(0, |(count, _)| count),
                n => u64::from(n),
            };
            total = total.saturating_add(count);
        }
        // A map header: a varint count, then the key and value types.
        if let Some((count, len)) = candidate_count(&footer[p..]) {
            if footer.get(p + len).is_some_and(|&kv| is_bool(kv >> 4) && is_bool(kv & 0x0f)) {
                total = total.saturating_add(count);
            }
        }
    }
    total
}

/// The count the crate would read from a varint at the start of `bytes` (parquet's `read_vlq`, then
/// `i32::try_from`: a larger value is refused there, 0 steps) and the varint's length; `None` if `bytes` ends
/// inside it. A varint longer than MAX_CANDIDATE_VARINT counts as the largest count the crate accepts.
fn candidate_count(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate() {
        if i >= MAX_CANDIDATE_VARINT {
            let len = bytes.iter().position(|&b| b & 0x80 == 0)? + 1;
            return Some((i32::MAX as u64, len));
        }
        value |= u64::from(b & 0x7f).wrapping_shl(7 * i as u32);
        if b & 0x80 == 0 {
            return Some((if value <= i32::MAX as u64 { value } else { 0 }, i + 1));
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------------
// Page headers, walked before the parquet crate reads them.
//
// Why: parquet 60.1 reads each page header with a Thrift compact-protocol reader over the file
// (`SerializedPageReader::get_next_page` -> `read_page_header_len`, `ThriftReadInputProtocol`). That
// reader is not bounded by the column chunk (it reads on to the end of the file), its `skip_bytes` at
// the end of the file returns Ok having skipped nothing, and its skip of a list, set or map runs the
// element count read from the file (up to 2^31) whatever is left to read. A header with an unknown
// field holding a map of 265,297,984 (bool, uuid) entries near the end of the file therefore costs
// 265 million skips of 16 bytes, each a `read` system call at end of file: about 200 s in a release
// build, more than 15 minutes in the fuzz build. Elements of type bool are skipped as zero bytes, so a
// list of 2^31 bools costs 2^31 iterations without reading anything even inside the chunk.
//
// The walk below parses every header of a column chunk as parquet does (the same field ids, wire
// types and varints, so a header it accepts is read by the crate byte for byte the same way), but
// only within the chunk's bytes, refuses a container whose element count exceeds the bytes left and
// any container of bools (no Parquet writer puts one in a page header), and so bounds the crate's work
// per header by the header's length. It then checks what the decoder trusts: each page body lies
// inside the chunk, value counts add up to the column's and stay under the caller's bound, and no
// page declares more uncompressed bytes than its values can need (the decoder reserves that much).
// ---------------------------------------------------------------------------------------------------

/// What one row group's column chunks may hold, given by the caller from what it knows of the file
/// (for a shard: the rows the manifest lists and the sequence length).
#[derive(Clone, Copy, Debug)]
pub struct PageLimits {
    /// Most values (repetition/definition level entries) one column chunk may hold.
    pub max_values: u64,
    /// Most uncompressed bytes one value may need in a page, levels included.
    pub max_bytes_per_value: u64,
}

/// Uncompressed page bytes on top of `max_bytes_per_value` per value: the two 4-byte level length
/// prefixes of a v1 data page, RLE and bit-packing run headers and encoding headers (bit width, delta
/// block headers), with room to spare: 1 KiB is a few times what such headers take for one page.
pub const PAGE_FIXED_BYTES: u64 = 1024;

/// Nesting parquet's Thrift reader allows when it skips a field (its `DEFAULT_SKIP_DEPTH`); deeper is
/// refused here too, which also bounds this parser's recursion.
const MAX_THRIFT_DEPTH: u32 = 64;

/// Checks the column chunks of row group `row_group` of `file` (whose footer is `metadata`) before the
/// parquet crate decodes them: each chunk's byte range lies inside the file, and every page header in it
/// is well formed, bounded and consistent with `limits` (see the comment above). Reads the chunks (at
/// most the file's length, checked before anything is allocated). `Err` says which column and why.
pub fn check_row_group_pages(
    file: &File,
    metadata: &ParquetMetaData,
    row_group: usize,
    limits: PageLimits,
) -> Result<(), String> {
    let rg = metadata.row_groups().get(row_group).ok_or_else(|| format!("no row group {row_group}"))?;
    let file_len = file.metadata().map_err(|e| e.to_string())?.len();
    // Column chunks lie between the opening "PAR1" and the footer, which the file's last 8 bytes (the
    // footer's length, then "PAR1") delimit.
    let tail = read_range(file, file_len.saturating_sub(8), 8.min(file_len)).map_err(|e| e.to_string())?;
    let footer_len = tail.get(..4).and_then(|b| b.try_into().ok()).map_or(0, u32::from_le_bytes);
    let (first, last) = (4u64, file_len.saturating_sub(8).saturating_sub(u64::from(footer_len)));
    for column in rg.columns() {
        let name = column.column_path().string();
        let err = |reason: String| format!("row group {row_group}, column {name}: {reason}");
        let start = column.dictionary_page_offset().unwrap_or(column.data_page_offset());
        let len = column.compressed_size();
        let range = u64::try_from(start).ok().zip(u64::try_from(len).ok());
        let (start, len) = match range {
            Some((s, l)) if s >= first && s.checked_add(l).is_some_and(|end| end <= last) => (s, l),
            _ => {
                return Err(err(format!(
                    "column chunk at byte {start}, {len} bytes, lies outside the file's data ({file_len} bytes)"
                )))
            }
        };
        let declared = column.num_values();
        if u64::try_from(declared).map_or(true, |v| v > limits.max_values) {
            return Err(err(format!("{declared} values, more than the {} the row group can hold", limits.max_values)));
        }
        let chunk =
            read_range(file, start, len).map_err(|e| err(format!("reading bytes {start}..{}: {e}", start + len)))?;
        let values = check_chunk_pages(&chunk, limits).map_err(&err)?;
        if values != declared as u64 {
            return Err(err(format!("data pages hold {values} values, the column chunk lists {declared}")));
        }
    }
    Ok(())
}

/// [`PageLimits`] for a Parquet file this project knows nothing more of (a Parquet corpus of `electra
/// shard`, a Parquet task file of `finetune`/`evaluate`): up to [`ANY_FILE_VALUES_PER_ROW`] list items a row
/// and a value as large as a page can declare. Only the page-header walk bounds the crate's work then
/// (the loops of issue 17's findings); a shard's reader knows its rows and sequence length and bounds more.
pub fn any_file_limits(rows: i64) -> PageLimits {
    PageLimits {
        max_values: u64::try_from(rows).unwrap_or(0).max(1).saturating_mul(ANY_FILE_VALUES_PER_ROW),
        max_bytes_per_value: i32::MAX as u64,
    }
}

/// Most values a row of a Parquet file of unknown layout may hold (its list items), for [`any_file_limits`]:
/// far past a corpus document's or a task example's, and still a bound on what a page may claim.
pub const ANY_FILE_VALUES_PER_ROW: u64 = 1 << 20;

/// [`check_row_group_pages`] with [`any_file_limits`], for row group `row_group` of a Parquet file of
/// unknown layout.
pub fn check_any_row_group(file: &File, metadata: &ParquetMetaData, row_group: usize) -> Result<(), String> {
    let rows = metadata.row_groups().get(row_group).map_or(0, |rg| rg.num_rows());
    check_row_group_pages(file, metadata, row_group, any_file_limits(rows))
}

/// `len` bytes of `file` from `start`; the caller checked the range against the file's length.
fn read_range(file: &File, start: u64, len: u64) -> std::io::Result<Vec<u8>> {
    let len = usize::try_from(len).map_err(|_| std::io::Error::other("range too long for memory"))?;
    let mut buf = Vec::new();
    buf.try_reserve_exact(len).map_err(|e| std::io::Error::new(std::io::ErrorKind::OutOfMemory, e.to_string()))?;
    let mut reader = file;
    reader.seek(SeekFrom::Start(start))?;
    reader.take(len as u64).read_to_end(&mut buf)?;
    if buf.len() != len {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the file ends inside the range"));
    }
    Ok(buf)
}

/// The fields of a page header the walk checks (parquet's `PageHeader`, read as it reads it).
#[derive(Default)]
struct PageHeader {
    page_type: Option<i32>,
    uncompressed: Option<i32>,
    compressed: Option<i32>,
    /// `num_values` of a `DataPageHeader`.
    data_values: Option<i32>,
    /// `num_values` of a `DictionaryPageHeader`.
    dictionary_values: Option<i32>,
    /// `num_values`, `num_rows` and the two level byte lengths of a `DataPageHeaderV2`.
    v2: Option<[Option<i32>; 4]>,
}

const PAGE_DATA: i32 = 0;
const PAGE_INDEX: i32 = 1;
const PAGE_DICTIONARY: i32 = 2;
const PAGE_DATA_V2: i32 = 3;

/// Walks the pages of one column chunk (all its bytes); the number of values its data pages hold.
fn check_chunk_pages(chunk: &[u8], limits: PageLimits) -> Result<u64, String> {
    let mut at = 0usize;
    let mut values = 0u64;
    let mut page = 0usize;
    while at < chunk.len() {
        let bad = |reason: String| format!("page {page} (byte {at} of the chunk): {reason}");
        let mut thrift = Thrift { buf: &chunk[at..], pos: 0 };
        let header = thrift.page_header().map_err(|e| bad(format!("page header: {e}")))?;
        let body_start = at + thrift.pos;
        let (Some(page_type), Some(uncompressed), Some(compressed)) =
            (header.page_type, header.uncompressed, header.compressed)
        else {
            return Err(bad("page header lacks its type or sizes".into()));
        };
        let left = chunk.len() - body_start;
        let compressed = usize::try_from(compressed)
            .ok()
            .filter(|&c| c <= left)
            .ok_or_else(|| bad(format!("page of {compressed} bytes, {left} left in the column chunk")))?;
        let uncompressed = u64::try_from(uncompressed).map_err(|_| bad(format!("uncompressed size {uncompressed}")))?;
        let nonnegative = |v: Option<i32>, what: &str| -> Result<u64, String> {
            match v {
                Some(v) => u64::try_from(v).map_err(|_| bad(format!("{what} {v}"))),
                None => Err(bad(format!("page header lacks {what}"))),
            }
        };
        let page_values = match page_type {
            PAGE_DATA => {
                let n = nonnegative(header.data_values, "the data page header's num_values")?;
                values = values.saturating_add(n);
                n
            }
            PAGE_DATA_V2 => {
                let [n, rows, def, rep] = header.v2.ok_or_else(|| bad("DATA_PAGE_V2 without its header".into()))?;
                let n = nonnegative(n, "num_values")?;
                nonnegative(rows, "num_rows")?;
                let levels = nonnegative(def, "definition_levels_byte_length")?
                    + nonnegative(rep, "repetition_levels_byte_length")?;
                if levels > compressed as u64 {
                    return Err(bad(format!("{levels} bytes of levels in a page of {compressed}")));
                }
                values = values.saturating_add(n);
                n
            }
            PAGE_DICTIONARY => nonnegative(header.dictionary_values, "the dictionary page header's num_values")?,
            // Skipped by the crate without reading its body.
            PAGE_INDEX => 0,
            other => return Err(bad(format!("unknown page type {other}"))),
        };
        if values > limits.max_values || page_values > limits.max_values {
            return Err(bad(format!("more than the {} values the row group can hold", limits.max_values)));
        }
        let most = page_values.saturating_mul(limits.max_bytes_per_value).saturating_add(PAGE_FIXED_BYTES);
        if page_type != PAGE_INDEX && uncompressed > most {
            return Err(bad(format!("{uncompressed} uncompressed bytes for {page_values} values (at most {most})")));
        }
        at = body_start + compressed;
        page += 1;
    }
    Ok(values)
}

/// Thrift compact protocol over one page header's bytes, read the way parquet 60.1's
/// `ThriftReadInputProtocol` reads them, but never past `buf` and never a container it cannot bound.
struct Thrift<'a> {
    buf: &'a [u8],
    pos: usize,
}

// Compact-protocol wire types (field and element types).
const T_TRUE: u8 = 1;
const T_FALSE: u8 = 2;
const T_BYTE: u8 = 3;
const T_I16: u8 = 4;
const T_I32: u8 = 5;
const T_I64: u8 = 6;
const T_DOUBLE: u8 = 7;
const T_BINARY: u8 = 8;
const T_LIST: u8 = 9;
const T_SET: u8 = 10;
const T_MAP: u8 = 11;
const T_STRUCT: u8 = 12;
const T_UUID: u8 = 13;

impl Thrift<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.buf.get(self.pos).ok_or("runs past the end of the column chunk")?;
        self.pos += 1;
        Ok(b)
    }

    fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn skip_bytes(&mut self, n: u64) -> Result<(), String> {
        if n > self.left() as u64 {
            return Err(format!("a field of {n} bytes runs past the end of the column chunk"));
        }
        self.pos += n as usize;
        Ok(())
    }

    /// ULEB128, with parquet's wrapping shift (an overlong varint gives the same value there and here).
    fn vlq(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        let mut shift = 0u32;
        loop {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f).wrapping_shl(shift);
            if b & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
        }
    }

    fn zigzag(&mut self) -> Result<i64, String> {
        let v = self.vlq()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn i32(&mut self) -> Result<i32, String> {
        Ok(self.zigzag()? as i32)
    }

    /// The next field's wire type and id, `None` at the struct's end.
    fn field(&mut self, last_id: i16) -> Result<Option<(u8, i16)>, String> {
        let b = self.byte()?;
        let wire = b & 0x0f;
        if wire == 0 {
            return Ok(None);
        }
        if wire > T_UUID {
            return Err(format!("field type {wire}"));
        }
        let delta = b >> 4;
        let id = if delta != 0 {
            last_id.checked_add(i16::from(delta)).ok_or("field id overflows")?
        } else {
            self.zigzag()? as i16
        };
        Ok(Some((wire, id)))
    }

    /// A field the reader knows must come with the wire type it reads it as (parquet reads a known
    /// field by its declared type whatever the wire says, which would part its reading from this one).
    fn expect(wire: u8, want: u8, id: i16) -> Result<(), String> {
        let ok = wire == want || (want == T_TRUE && wire == T_FALSE);
        if ok {
            Ok(())
        } else {
            Err(format!("field {id} has wire type {wire}, expected {want}"))
        }
    }

    /// A struct of which the reader knows the `i32` fields `ints` and the bool fields `bools`; any
    /// other field is skipped. Returns the `i32` fields' values in the order of `ints`.
    fn known_struct<const N: usize>(&mut self, ints: [i16; N], bools: &[i16]) -> Result<[Option<i32>; N], String> {
        let mut out = [None; N];
        let mut last = 0i16;
        while let Some((wire, id)) = self.field(last)? {
            if let Some(i) = ints.iter().position(|&k| k == id) {
                Self::expect(wire, T_I32, id)?;
                out[i] = Some(self.i32()?);
            } else if bools.contains(&id) {
                Self::expect(wire, T_TRUE, id)?;
            } else {
                self.skip(wire, MAX_THRIFT_DEPTH)?;
            }
            last = id;
        }
        Ok(out)
    }

    /// parquet's `PageHeader::read_thrift_without_stats` (page statistics are not read by default).
    fn page_header(&mut self) -> Result<PageHeader, String> {
        let mut h = PageHeader::default();
        let mut last = 0i16;
        while let Some((wire, id)) = self.field(last)? {
            match id {
                1..=4 => {
                    Self::expect(wire, T_I32, id)?;
                    let v = self.i32()?;
                    match id {
                        1 => h.page_type = Some(v),
                        2 => h.uncompressed = Some(v),
                        3 => h.compressed = Some(v),
                        _ => {} // crc
                    }
                }
                5 => {
                    Self::expect(wire, T_STRUCT, id)?;
                    // DataPageHeader: num_values, encoding, definition and repetition level encodings.
                    h.data_values = self.known_struct([1, 2, 3, 4], &[])?[0];
                }
                6 => {
                    Self::expect(wire, T_STRUCT, id)?;
                    // IndexPageHeader has no fields: all are skipped.
                    self.known_struct([], &[])?;
                }
                7 => {
                    Self::expect(wire, T_STRUCT, id)?;
                    // DictionaryPageHeader: num_values, encoding, is_sorted.
                    h.dictionary_values = self.known_struct([1, 2], &[3])?[0];
                }
                8 => {
                    Self::expect(wire, T_STRUCT, id)?;
                    // DataPageHeaderV2: num_values, num_nulls, num_rows, encoding, the two level
                    // byte lengths, is_compressed.
                    let [n, _, rows, _, def, rep] = self.known_struct([1, 2, 3, 4, 5, 6], &[7])?;
                    h.v2 = Some([n, rows, def, rep]);
                }
                _ => self.skip(wire, MAX_THRIFT_DEPTH)?,
            }
            last = id;
        }
        Ok(h)
    }

    /// parquet's `skip_till_depth`, within the buffer, refusing what would make the crate loop.
    fn skip(&mut self, wire: u8, depth: u32) -> Result<(), String> {
        if depth == 0 {
            return Err("nested deeper than the reader skips".into());
        }
        match wire {
            T_TRUE | T_FALSE => Ok(()),
            T_BYTE => self.byte().map(|_| ()),
            T_I16 | T_I32 | T_I64 => self.vlq().map(|_| ()),
            T_DOUBLE => self.skip_bytes(8),
            T_UUID => self.skip_bytes(16),
            T_BINARY => {
                let n = self.vlq()?;
                self.skip_bytes(n)
            }
            T_STRUCT => {
                // parquet skips a struct's fields with 0 as the last id.
                while let Some((wire, _)) = self.field(0)? {
                    self.skip(wire, depth - 1)?;
                }
                Ok(())
            }
            T_LIST | T_SET => {
                let header = self.byte()?;
                if header == 0 {
                    return Ok(());
                }
                let element = header & 0x0f;
                let count = match header >> 4 {
                    15 => i32::try_from(self.vlq()?).map_err(|_| "list size past i32".to_string())? as u64,
                    n => u64::from(n),
                };
                self.bounded_container(count, &[element])?;
                for _ in 0..count {
                    self.skip(element, depth - 1)?;
                }
                Ok(())
            }
            T_MAP => {
                let count = self.vlq()?;
                if i32::try_from(count).is_err() {
                    return Err("map size past i32".into());
                }
                if count == 0 {
                    return Ok(());
                }
                let kv = self.byte()?;
                let (key, value) = (kv >> 4, kv & 0x0f);
                self.bounded_container(count, &[key, value])?;
                for _ in 0..count {
                    self.skip(key, depth - 1)?;
                    self.skip(value, depth - 1)?;
                }
                Ok(())
            }
            other => Err(format!("field type {other}")),
        }
    }

    /// A list, set or map of `count` elements of the types `elements`: every element of a type the crate
    /// skips by reading at least one byte, and no more elements than bytes left. The crate skips a
    /// bool element as zero bytes (so 2^31 of them cost 2^31 steps and no input): refused, as no Parquet
    /// writer puts a container of bools in a page header.
    fn bounded_container(&self, count: u64, elements: &[u8]) -> Result<(), String> {
        if let Some(&bad) = elements.iter().find(|&&e| !(T_BYTE..=T_UUID).contains(&e)) {
            return Err(format!("a container of element type {bad}"));
        }
        if count > self.left() as u64 {
            return Err(format!("a container of {count} elements, {} bytes left in the column chunk", self.left()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message_and_a_value_passes_through() {
        assert_eq!(catch_decoder_panic(|| 7), Ok(7));
        let err = catch_decoder_panic(|| -> u8 { panic!("called `Option::unwrap()` on a `None` value") });
        assert_eq!(
            err,
            Err("the Parquet decoder failed on corrupt data (called `Option::unwrap()` on a `None` value)".into())
        );
        let code = 3;
        let err = catch_decoder_panic(|| -> u8 { panic!("page {code}") });
        assert_eq!(err, Err("the Parquet decoder failed on corrupt data (page 3)".into()));
    }

    #[test]
    fn the_footer_bound_counts_bool_containers_at_every_position() {
        // The fuzz input's footer: nested lists down to a list of 1.2 billion bools (0xf1, then a varint).
        let footer = [
            0xd9, 0xd9, 0xd9, 0x00, 0x0b, 0x2c, 0xd9, 0xd9, 0xd9, 0xb1, 0xb1, 0xb1, 0x31, 0xb1, 0xb1, 0xb1, 0xb1, 0xb1,
            0xb1, 0xf1, 0xd9, 0xd9, 0xd9, 0xd9, 0x04, 0x00, 0x00, 0x78, 0xc0,
        ];
        assert!(footer_empty_skips(&footer) > 1_000_000_000);
        // A map of 2^30 (bool, bool) entries.
        assert!(footer_empty_skips(&[0x80, 0x80, 0x80, 0x80, 0x04, 0x11]) >= 1 << 30);
        // Counts past i32 are refused by the crate itself: no steps.
        assert_eq!(footer_empty_skips(&[0xf1, 0x80, 0x80, 0x80, 0x80, 0x08]), 0);
        // Short lists count their nibble: 0x31 is 3 bools, 'a' (0x61) and 'b' 6 each; an ASCII byte before a
        // quote (0x22, the type byte of a (bool, bool) map) is a map count: 'a' 97, plus the quote read as a list
        // of 2.
        assert_eq!(footer_empty_skips(&[0x31]), 3);
        assert_eq!(footer_empty_skips(b"ab"), 12);
        assert_eq!(footer_empty_skips(b"a\""), 6 + 97 + 2);
    }

    const LIMITS: PageLimits = PageLimits { max_values: 100, max_bytes_per_value: 16 };

    /// A compact-protocol zigzag varint.
    fn zz(v: i64) -> Vec<u8> {
        let mut u = ((v << 1) ^ (v >> 63)) as u64;
        let mut out = Vec::new();
        loop {
            let b = (u & 0x7f) as u8;
            u >>= 7;
            if u == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    /// A DATA_PAGE header (type, sizes, data page header with `values`), `extra` before its stop byte, then a
    /// body of `body` bytes.
    fn data_page(values: i64, uncompressed: i64, body: usize, extra: &[u8]) -> Vec<u8> {
        let mut h = vec![0x15];
        h.extend(zz(PAGE_DATA.into()));
        h.push(0x15);
        h.extend(zz(uncompressed));
        h.push(0x15);
        h.extend(zz(body as i64));
        h.push(0x2c); // field 5, struct
        for (field, v) in [(0x15, values), (0x15, 0), (0x15, 3), (0x15, 3)] {
            h.push(field);
            h.extend(zz(v));
        }
        h.push(0);
        h.extend_from_slice(extra);
        h.push(0);
        h.extend(std::iter::repeat_n(7u8, body));
        h
    }

    #[test]
    fn well_formed_pages_are_walked_and_their_values_counted() {
        let mut chunk = data_page(10, 60, 20, &[]);
        // An unknown field 14 (delta 9 after 5), a binary of 3 bytes: skipped, as parquet skips it.
        chunk.extend(data_page(5, 40, 3, &[0x98, 0x03, 1, 2, 3]));
        assert_eq!(check_chunk_pages(&chunk, LIMITS), Ok(15));
    }

    #[test]
    fn containers_the_crate_would_loop_on_are_refused() {
        // field 14 (delta 9 after 5): a map of 2^28 (bool, uuid) entries, the shape of the fuzz finding.
        let mut map = vec![0x9b];
        map.extend([0x80, 0x80, 0x80, 0x80, 0x01, 0x1d]);
        let err = check_chunk_pages(&data_page(1, 16, 4, &map), LIMITS).unwrap_err();
        assert!(err.contains("page 0") && err.contains("container of element type 1"), "{err}");
        // A list of 2^30 bytes: more elements than bytes left.
        let list = [0x99, 0xf3, 0x80, 0x80, 0x80, 0x80, 0x04];
        let err = check_chunk_pages(&data_page(1, 16, 4, &list), LIMITS).unwrap_err();
        assert!(err.contains("container of 1073741824 elements"), "{err}");
        // Lists nested past parquet's skip depth.
        let deep: Vec<u8> = std::iter::once(0x99).chain(std::iter::repeat_n(0x19, 70)).collect();
        let err = check_chunk_pages(&data_page(1, 16, 0, &deep), LIMITS).unwrap_err();
        assert!(err.contains("nested deeper"), "{err}");
    }

    #[test]
    fn headers_the_crate_would_read_differently_or_past_the_chunk_are_refused() {
        // Field 6 (index page header, a struct) sent as an i32: the fuzz input's first byte.
        let mut chunk = vec![0x65, 0x65];
        chunk.extend(data_page(1, 16, 0, &[]));
        let err = check_chunk_pages(&chunk, LIMITS).unwrap_err();
        assert!(err.contains("field 6 has wire type 5, expected 12"), "{err}");
        let page = data_page(1, 16, 4, &[]);
        let err = check_chunk_pages(&page[..page.len() - 6], LIMITS).unwrap_err();
        assert!(err.contains("runs past the end of the column chunk"), "{err}");
        let err = check_chunk_pages(&page[..page.len() - 1], LIMITS).unwrap_err();
        assert!(err.contains("page of 4 bytes, 3 left"), "{err}");
    }

    #[test]
    fn counts_and_sizes_beyond_the_limits_are_refused() {
        let err = check_chunk_pages(&data_page(101, 16, 0, &[]), LIMITS).unwrap_err();
        assert!(err.contains("more than the 100 values"), "{err}");
        let mut chunk = data_page(60, 16, 0, &[]);
        chunk.extend(data_page(60, 16, 0, &[]));
        let err = check_chunk_pages(&chunk, LIMITS).unwrap_err();
        assert!(err.starts_with("page 1 ") && err.contains("more than the 100 values"), "{err}");
        let err = check_chunk_pages(&data_page(2, 2 * 16 + PAGE_FIXED_BYTES as i64 + 1, 0, &[]), LIMITS).unwrap_err();
        assert!(err.contains("1057 uncompressed bytes for 2 values (at most 1056)"), "{err}");
        let err = check_chunk_pages(&data_page(-1, 16, 0, &[]), LIMITS).unwrap_err();
        assert!(err.contains("num_values -1"), "{err}");
    }
}
