//! electra-core's WordPiece beside the HF `tokenizers` crate (0.23, BERT uncased built in code), in the same
//! process on the same text: every non-empty line of the bundled corpus `data/corpus/us-speeches` (all files
//! concatenated; Latin-1 files decoded as such). Single thread (one line at a time, in order) and all threads
//! (ours: rayon over lines; HF: `encode_batch`, which uses rayon too). Throughput is input MB/s.
//!
//! `cargo bench -p electra-tests --bench tokenizer`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use electra_pipeline::tokenizer::HostTokenizer;
use rayon::prelude::*;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;

const VOCAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/vocab.txt");
const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/corpus/us-speeches");

fn corpus_lines() -> Vec<String> {
    let mut files: Vec<_> = walk(std::path::Path::new(CORPUS));
    files.sort();
    let mut text = String::new();
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        match String::from_utf8(bytes) {
            Ok(s) => text.push_str(&s),
            Err(e) => text.extend(e.into_bytes().iter().map(|&b| b as char)),
        }
        text.push('\n');
    }
    text.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn hf_tokenizer() -> tokenizers::Tokenizer {
    let wordpiece =
        WordPiece::from_file(VOCAB).unk_token("[UNK]".into()).max_input_chars_per_word(100).build().unwrap();
    let mut hf = tokenizers::Tokenizer::new(wordpiece);
    let _ = hf.with_normalizer(Some(BertNormalizer::new(true, true, None, true)));
    hf.with_pre_tokenizer(Some(BertPreTokenizer));
    hf
}

fn bench(c: &mut Criterion) {
    let lines = corpus_lines();
    let bytes: usize = lines.iter().map(|l| l.len()).sum();
    let ours = HostTokenizer::from_file(VOCAB).unwrap();
    let hf = hf_tokenizer();

    // Same ids before timing anything: the comparison is only fair if both do the same job.
    let tok = ours.tokenizer();
    let mut ids = vec![0u32; 1 << 16];
    for line in &lines {
        let n = tok.encode(line, &mut ids).unwrap();
        assert_eq!(&ids[..n], hf.encode(line.as_str(), false).unwrap().get_ids(), "{line}");
    }

    let mut group = c.benchmark_group("tokenize_us_speeches");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(10);
    group.bench_function("electra_core_1_thread", |b| {
        b.iter(|| {
            let mut total = 0usize;
            for line in &lines {
                total += tok.encode(line, &mut ids).unwrap();
            }
            total
        })
    });
    group.bench_function("hf_tokenizers_1_thread", |b| {
        b.iter(|| {
            let mut total = 0usize;
            for line in &lines {
                total += hf.encode(line.as_str(), false).unwrap().get_ids().len();
            }
            total
        })
    });
    group.bench_function("electra_core_all_threads", |b| {
        b.iter(|| lines.par_iter().map(|line| ours.encode(line).unwrap().len()).sum::<usize>())
    });
    group.bench_function("hf_tokenizers_all_threads", |b| {
        b.iter_batched(
            || lines.iter().map(|l| l.as_str()).collect::<Vec<&str>>(),
            |batch| hf.encode_batch(batch, false).unwrap().iter().map(|e| e.get_ids().len()).sum::<usize>(),
            BatchSize::LargeInput,
        )
    });
    group.finish();
    eprintln!("corpus: {} lines, {:.2} MB, {} threads", lines.len(), bytes as f64 / 1e6, rayon::current_num_threads());
}

criterion_group!(benches, bench);
criterion_main!(benches);
