//! One module per `electra` subcommand: `Args` (clap) and `run(args)`.
//!
//! Every subcommand follows one grammar ([`GRAMMAR`], printed by `electra --help`): one flag name per kind of
//! path, whichever subcommand reads or writes it. Retired spellings stay as hidden aliases so that existing
//! scripts keep working.

use anyhow::Context;
use std::fmt;
use std::path::{Path, PathBuf};

pub mod bench_infer;
pub mod eval;
pub mod evaluate;
pub mod export;
pub mod finetune;
pub mod infer;
pub mod inspect;
pub mod pretrain;
pub mod quickstart;
pub mod shard;
pub mod tokenize;

/// The command line's grammar, as `electra --help` prints it after the subcommands.
pub const GRAMMAR: &str = "\
CLI grammar (every subcommand):
  --model PATH    a model to read: an HF checkpoint directory, or an int8 model file (.elq) from `export`
                  (`inspect` takes the .elq file as its argument)
  --out PATH      everything a subcommand writes, written atomically: a directory (shard, pretrain, finetune,
                  quickstart) or a file (export; evaluate's predictions; tokenize and infer, which write to
                  stdout when it is left out)
  --corpus PATH   raw text to shard: files or directories (shard, quickstart)
  --data DIR      shards written by `electra shard` (pretrain, eval)
  --train/--dev   labelled task files (finetune reads both, quickstart --train, evaluate --dev)
  --input FILE    JSON lines a filter reads (tokenize, infer; stdin when left out)
  --vocab FILE    BERT vocab.txt; when left out: the model's own (embedded in the .elq file, or vocab.txt in
                  its directory), else the bundled BERT uncased vocab (data/vocab.txt); `export --vocab`
                  names the vocab to embed
Choices (--task, --recipe, --gemm, export's --weights and --embeddings) list their values in each
subcommand's --help.";

/// Where [`resolve_vocab`] found the vocabulary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VocabSource {
    /// The `--vocab` file.
    Flag(PathBuf),
    /// The vocab embedded in the model file.
    Embedded,
    /// `vocab.txt` in the model's directory.
    ModelDir(PathBuf),
    /// The bundled BERT uncased vocab (`data/vocab.txt`, compiled in).
    Bundled,
}

impl fmt::Display for VocabSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag(path) | Self::ModelDir(path) => write!(f, "{}", path.display()),
            Self::Embedded => f.write_str("the model's embedded vocab"),
            Self::Bundled => f.write_str("the bundled BERT uncased vocab"),
        }
    }
}

/// The vocabulary a subcommand tokenizes with, by the one rule of [`GRAMMAR`]: `flag` (`--vocab`) when given;
/// else the model's own, `embedded` in its model file or `vocab.txt` in `model_dir`; else the bundled BERT
/// uncased vocab. Returns the bytes and where they came from.
pub fn resolve_vocab(
    flag: Option<&Path>,
    embedded: Option<&[u8]>,
    model_dir: Option<&Path>,
) -> anyhow::Result<(Vec<u8>, VocabSource)> {
    let read = |path: &Path| std::fs::read(path).with_context(|| format!("reading the vocab {}", path.display()));
    if let Some(path) = flag {
        return Ok((read(path)?, VocabSource::Flag(path.to_path_buf())));
    }
    if let Some(bytes) = embedded {
        return Ok((bytes.to_vec(), VocabSource::Embedded));
    }
    if let Some(path) = model_dir.map(|dir| dir.join("vocab.txt")).filter(|p| p.is_file()) {
        return Ok((read(&path)?, VocabSource::ModelDir(path)));
    }
    Ok((crate::pretrain::BUNDLED_VOCAB.to_vec(), VocabSource::Bundled))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn vocab_rule_flag_then_embedded_then_model_dir_then_bundled() {
        let dir = tempfile::tempdir().unwrap();
        let (flag, own) = (dir.path().join("flag.txt"), dir.path().join("vocab.txt"));
        std::fs::write(&flag, b"flag").unwrap();
        let bundled = crate::pretrain::BUNDLED_VOCAB;
        assert_eq!(resolve_vocab(None, None, Some(dir.path())).unwrap().0, bundled, "no vocab.txt there yet");
        std::fs::write(&own, b"own").unwrap();
        assert_eq!(resolve_vocab(None, None, Some(dir.path())).unwrap().0, b"own");
        assert_eq!(resolve_vocab(None, Some(b"embedded"), Some(dir.path())).unwrap().0, b"embedded");
        assert_eq!(resolve_vocab(Some(&flag), Some(b"embedded"), Some(dir.path())).unwrap().0, b"flag");
        assert_eq!(resolve_vocab(None, None, None).unwrap(), (bundled.to_vec(), VocabSource::Bundled));
        assert_eq!(resolve_vocab(None, None, Some(dir.path())).unwrap().1, VocabSource::ModelDir(own));
        let missing = dir.path().join("missing.txt");
        let err = resolve_vocab(Some(&missing), None, None).unwrap_err();
        assert!(format!("{err:#}").contains("missing.txt"), "{err:#}");
    }
}
