//! `electra shard`: tokenize, pack and shard a corpus into Parquet for pre-training.
//!
//! ```text
//! electra shard --corpus data/corpus/us-speeches --out shards/ --seq-len 128
//! mpirun -n 4 electra shard --corpus /corpus --vocab vocab.txt --out /shared/shards --shards 256
//! ```
//!
//! Under `mpirun`/`srun` every process takes its worker index and count from the launcher's environment
//! (`OMPI_COMM_WORLD_RANK/SIZE`, `PMI_RANK/SIZE`, `PMIX_RANK/SIZE`, `SLURM_PROCID/NTASKS`) unless
//! `--worker-index/--workers` are given. Re-running the same command resumes an interrupted run.

use std::path::PathBuf;

use anyhow::{bail, Context};
use electra_pipeline::encode::Encoder;
use electra_pipeline::shard::{self, ShardOptions, ShardSummary};

use crate::distributed::{launcher_rank, launcher_world_size};

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Corpus files or directories (walked recursively): .txt (blank lines separate documents), .jsonl,
    /// .parquet, each optionally .gz or .zst
    #[arg(long = "corpus", alias = "input", required = true, num_args = 1..)]
    pub corpus: Vec<PathBuf>,
    /// WordPiece vocabulary (BERT uncased vocab.txt) [default: the bundled BERT uncased vocab]
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    /// Directory for the shards and manifest.json
    #[arg(long, alias = "output")]
    pub out: PathBuf,
    /// Tokens per example, `[CLS]` and `[SEP]` included
    #[arg(long, default_value_t = 128)]
    pub seq_len: usize,
    /// Number of shards [default: one per 64 MiB of input, at least one per worker]
    #[arg(long)]
    pub shards: Option<usize>,
    /// Seed of the packing randomness (segment splits, short examples)
    #[arg(long, default_value_t = 12345)]
    pub seed: u64,
    /// This worker's index when several machines shard one corpus [default: from MPI/Slurm, else 0]
    #[arg(long, requires = "workers")]
    pub worker_index: Option<usize>,
    /// Number of workers sharding the corpus together [default: from MPI/Slurm, else 1]
    #[arg(long, requires = "worker_index")]
    pub workers: Option<usize>,
    /// Threads for tokenizing and packing (0: all cores)
    #[arg(long, default_value_t = 0, hide_default_value = true)]
    pub threads: usize,
    /// Text field of .jsonl records and text column of .parquet inputs
    #[arg(long, default_value = "text")]
    pub text_field: String,
    /// No progress bar
    #[arg(long)]
    pub quiet: bool,
}

/// Worker index and count: the flags, else the launcher's environment, else a single worker.
pub fn resolve_worker(args: &Args, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<(usize, usize)> {
    let (index, count) = match (args.worker_index, args.workers) {
        (Some(i), Some(n)) => (i, n),
        _ => match (launcher_rank(&env), launcher_world_size(&env)) {
            (Some(rank), Some(size)) => (rank.size, size.size),
            (None, None) => (0, 1),
            (rank, size) => bail!(
                "the launcher's environment gives {} but not {}; pass --worker-index and --workers",
                rank.map(|r| r.var).or(size.map(|s| s.var)).unwrap_or("?"),
                if rank.is_some() { "the world size" } else { "the rank" }
            ),
        },
    };
    if count == 0 || index >= count {
        bail!("worker index {index} is not below the worker count {count}");
    }
    Ok((index, count))
}

pub fn options(args: &Args, worker: (usize, usize)) -> ShardOptions {
    let mut o = ShardOptions::new(args.corpus.clone(), args.out.clone());
    o.seq_len = args.seq_len;
    o.num_shards = args.shards;
    o.seed = args.seed;
    o.worker_index = worker.0;
    o.workers = worker.1;
    o.threads = args.threads;
    o.text_field = args.text_field.clone();
    o.progress = !args.quiet;
    o
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let (vocab, source) = super::resolve_vocab(args.vocab.as_deref(), None, None)?;
    let tokenizer =
        electra_pipeline::tokenizer::HostTokenizer::from_bytes(vocab).with_context(|| source.to_string())?;
    let worker = resolve_worker(&args, |k| std::env::var(k).ok())?;
    let opts = options(&args, worker);
    let summary = shard::run(&opts, &tokenizer).with_context(|| format!("sharding into {}", args.out.display()))?;
    print_summary(&opts, &summary, &tokenizer);
    Ok(())
}

/// Megabytes (10^6 bytes), the unit of the benchmarks.
fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn print_summary<E: Encoder>(opts: &ShardOptions, s: &ShardSummary, _encoder: &E) {
    let secs = s.elapsed.as_secs_f64().max(1e-9);
    let st = &s.stats;
    println!(
        "worker {} of {}: shards {}..{} of {} ({} written, {} already complete and verified)",
        opts.worker_index,
        opts.workers,
        s.worker_shards.start,
        s.worker_shards.end,
        s.num_shards,
        s.written.len(),
        s.reused.len()
    );
    println!(
        "read {:.1} MB in {:.2} s on {} threads: {:.1} MB/s ({:.1} MB/s per thread)",
        mb(st.read.input_bytes),
        secs,
        s.threads,
        mb(st.read.input_bytes) / secs,
        mb(st.read.input_bytes) / secs / s.threads as f64
    );
    let pct = |a: u64, b: u64| if b == 0 { 0.0 } else { 100.0 * a as f64 / b as f64 };
    println!(
        "written: {} documents, {} examples, {} tokens; [UNK] {:.3}%, dropped by packing {:.1}%, bad lines {}, skipped records {}",
        st.read.documents,
        st.rows,
        st.tokens,
        pct(st.pack.unk_tokens, st.pack.text_tokens),
        pct(st.pack.dropped_tokens, st.pack.text_tokens),
        st.read.bad_lines,
        st.read.skipped_records
    );
    if s.ignored_files > 0 {
        println!(
            "passed over {} file(s) with other extensions, e.g. {}",
            s.ignored_files,
            s.ignored_example.as_ref().map(|p| p.display().to_string()).unwrap_or_default()
        );
    }
    match (&s.manifest, s.stopped_early) {
        (Some(m), _) => println!(
            "manifest: {} ({} shards, {} examples, {} tokens in all)",
            opts.output.join(shard::format::MANIFEST_FILE).display(),
            m.shards.len(),
            m.totals.examples,
            m.totals.tokens
        ),
        (None, true) => println!("stopped early; run the same command again to finish"),
        (None, false) => {
            println!("other workers' shards are not complete yet; the last worker to finish writes manifest.json")
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(extra: &[&str]) -> Args {
        let mut argv = vec!["electra", "--corpus", "a", "b", "--vocab", "v.txt", "--out", "o"];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).unwrap().args
    }

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(name, _)| *name == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn worker_from_flags_environment_or_default() {
        let args = parse(&[]);
        assert_eq!(args.corpus, vec![PathBuf::from("a"), PathBuf::from("b")]);
        assert_eq!(resolve_worker(&args, env_of(&[])).unwrap(), (0, 1));
        let mpi = env_of(&[("OMPI_COMM_WORLD_RANK", "2"), ("OMPI_COMM_WORLD_SIZE", "4")]);
        assert_eq!(resolve_worker(&args, mpi).unwrap(), (2, 4));
        let slurm = env_of(&[("SLURM_PROCID", "1"), ("SLURM_NTASKS", "3")]);
        assert_eq!(resolve_worker(&args, slurm).unwrap(), (1, 3));
        let pmi = env_of(&[("PMI_RANK", "0"), ("PMI_SIZE", "2")]);
        assert_eq!(resolve_worker(&args, pmi).unwrap(), (0, 2));
        // Flags win over the environment.
        let args = parse(&["--worker-index", "1", "--workers", "2"]);
        let mpi = env_of(&[("OMPI_COMM_WORLD_RANK", "2"), ("OMPI_COMM_WORLD_SIZE", "4")]);
        assert_eq!(resolve_worker(&args, mpi).unwrap(), (1, 2));
        // Nonsense is an error, not a silent single worker.
        let args = parse(&["--worker-index", "2", "--workers", "2"]);
        assert!(resolve_worker(&args, env_of(&[])).is_err());
        assert!(resolve_worker(&parse(&[]), env_of(&[("SLURM_PROCID", "1")])).is_err());
        assert!(
            Cli::try_parse_from(["electra", "--corpus", "a", "--vocab", "v", "--out", "o", "--workers", "2"]).is_err()
        );
    }

    /// The retired spellings still parse, to the same arguments; the vocab may be left out.
    #[test]
    fn old_flag_names_are_aliases() {
        let old = Cli::try_parse_from(["electra", "--input", "a", "b", "--output", "o"]).unwrap().args;
        assert_eq!((old.corpus, old.out, old.vocab), (vec![PathBuf::from("a"), PathBuf::from("b")], "o".into(), None));
    }
}
