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

use std::panic::{catch_unwind, AssertUnwindSafe};

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
}
