//! The threaded pipeline: a reader thread cutting chunks, the rayon pool packing and encoding them, this
//! thread putting them back in order and writing them; a counting semaphore bounds the chunks in flight.

use super::*;

/// Counting semaphore bounding the chunks in flight; closing it releases a blocked reader.
pub(super) struct Permits {
    state: Mutex<(usize, bool)>,
    freed: Condvar,
}

impl Permits {
    pub(super) fn new(n: usize) -> Self {
        Permits { state: Mutex::new((n, false)), freed: Condvar::new() }
    }

    /// Takes a permit; `false` once closed.
    pub(super) fn acquire(&self) -> bool {
        let mut g = match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        loop {
            if g.1 {
                return false;
            }
            if g.0 > 0 {
                g.0 -= 1;
                return true;
            }
            g = match self.freed.wait(g) {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
        }
    }

    pub(super) fn release(&self) {
        let mut g = match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.0 += 1;
        self.freed.notify_one();
    }

    pub(super) fn close(&self) {
        let mut g = match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.1 = true;
        self.freed.notify_all();
    }
}

/// Work items in reading order; `u64` is the sequence number the writer restores the order by.
pub(super) enum Work {
    Chunk(u64, Chunk),
    ShardEnd(u64, usize),
    Failed(u64, CorpusError),
}

/// A chunk packed and encoded as one row group of its shard.
pub(super) struct PackedRowGroup {
    shard: usize,
    read: ReadStats,
    pack: PackStats,
    row_group: EncodedRowGroup,
}

pub(super) enum Done {
    Packed(u64, PackedRowGroup),
    ShardEnd(u64, usize),
    Failed(u64, ShardError),
}

impl Done {
    pub(super) fn seq(&self) -> u64 {
        match self {
            Done::Packed(s, _) | Done::ShardEnd(s, _) | Done::Failed(s, _) => *s,
        }
    }
}

/// Sends work items in order, each holding a permit.
pub(super) struct Feeder<'a> {
    seq: u64,
    tx: mpsc::SyncSender<Work>,
    permits: &'a Permits,
}

impl Feeder<'_> {
    pub(super) fn send(&mut self, make: impl FnOnce(u64) -> Work) -> Result<(), CorpusError> {
        if !self.permits.acquire() {
            return Err(CorpusError::Cancelled);
        }
        let item = make(self.seq);
        self.seq += 1;
        self.tx.send(item).map_err(|_| CorpusError::Cancelled)
    }
}

pub(super) struct Outcome {
    pub(super) written: Vec<usize>,
    pub(super) stats: ShardStats,
    pub(super) stopped_early: bool,
}

#[allow(clippy::too_many_arguments)]
pub(super) fn pipeline<E: Encoder>(
    opts: &ShardOptions,
    encoder: &E,
    pool: &rayon::ThreadPool,
    corpus: &Corpus,
    num_shards: usize,
    todo: &[usize],
    run: &RunDescription,
    bar: &indicatif::ProgressBar,
) -> Result<Outcome, ShardError> {
    let threads = pool.current_num_threads();
    let permits = Permits::new(IN_FLIGHT_PER_THREAD * threads + 2);
    let (work_tx, work_rx) = mpsc::sync_channel::<Work>(2 * threads);
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    let seq_len = opts.seq_len;
    let seed = opts.seed;
    let row_groups = RowGroupEncoder::new()?;
    let row_groups = &row_groups;
    let output = opts.output.as_path();

    std::thread::scope(|scope| {
        // Reader: this worker's shards, in order, as chunks.
        let permits_ref = &permits;
        scope.spawn(move || {
            let mut feeder = Feeder { seq: 0, tx: work_tx, permits: permits_ref };
            let mut cursor = CorpusCursor::new(corpus);
            for &shard in todo {
                let start = corpus.slice_start(shard, num_shards);
                let end = corpus.slice_start(shard + 1, num_shards);
                let mut builder = ChunkBuilder::new(shard, |chunk| feeder.send(|seq| Work::Chunk(seq, chunk)));
                let read = cursor.read_slice(start, end, &mut builder).and_then(|()| builder.finish());
                let result = read.and_then(|()| feeder.send(|seq| Work::ShardEnd(seq, shard)));
                match result {
                    Ok(()) => {}
                    Err(CorpusError::Cancelled) => return,
                    Err(e) => {
                        let seq = feeder.seq;
                        let _ = feeder.tx.send(Work::Failed(seq, e));
                        return;
                    }
                }
            }
        });

        // Packers: the rayon pool.
        scope.spawn(move || {
            pool.install(|| {
                work_rx.into_iter().par_bridge().for_each_with(done_tx, |tx, work| {
                    let done = match work {
                        Work::Chunk(seq, chunk) => {
                            let path = ShardWriter::path(output, chunk.shard, num_shards);
                            let packed = pack_chunk(&chunk, encoder, seq_len, seed).map_err(ShardError::from);
                            drop(chunk);
                            let encoded = packed.and_then(|p| {
                                let row_group = row_groups.encode(p.examples, &path)?;
                                Ok(PackedRowGroup { shard: p.shard, read: p.read, pack: p.pack, row_group })
                            });
                            match encoded {
                                Ok(p) => Done::Packed(seq, p),
                                Err(e) => Done::Failed(seq, e),
                            }
                        }
                        Work::ShardEnd(seq, shard) => Done::ShardEnd(seq, shard),
                        Work::Failed(seq, e) => Done::Failed(seq, e.into()),
                    };
                    // The writer may have stopped; then the result is not needed.
                    let _ = tx.send(done);
                });
            });
        });

        // Writer: this thread.
        let result = write_in_order(opts, run, num_shards, done_rx, &permits, bar);
        permits.close();
        result
    })
}

pub(super) fn write_in_order(
    opts: &ShardOptions,
    run: &RunDescription,
    num_shards: usize,
    done_rx: mpsc::Receiver<Done>,
    permits: &Permits,
    bar: &indicatif::ProgressBar,
) -> Result<Outcome, ShardError> {
    let mut outcome = Outcome { written: Vec::new(), stats: ShardStats::default(), stopped_early: false };
    let mut pending: BTreeMap<u64, Done> = BTreeMap::new();
    let mut next = 0u64;
    let mut current: Option<(usize, ShardWriter)> = None;
    for done in done_rx {
        pending.insert(done.seq(), done);
        while let Some(done) = pending.remove(&next) {
            next += 1;
            permits.release();
            match done {
                Done::Packed(_, packed) => {
                    let writer = match &mut current {
                        Some((s, w)) if *s == packed.shard => w,
                        _ => {
                            let w = ShardWriter::create(
                                &opts.output,
                                packed.shard,
                                num_shards,
                                run.footer(packed.shard, num_shards),
                            )?;
                            &mut current.insert((packed.shard, w)).1
                        }
                    };
                    bar.inc(packed.read.input_bytes);
                    writer.add_stats(&packed.read, &packed.pack);
                    writer.append(packed.row_group)?;
                }
                Done::ShardEnd(_, shard) => {
                    let Some((s, writer)) = current.take() else {
                        return Err(ShardError::Config { message: format!("shard {shard} ended before it began") });
                    };
                    if s != shard {
                        return Err(ShardError::Config { message: format!("shard {shard} ended while writing {s}") });
                    }
                    let entry = writer.finish()?;
                    outcome.stats.add(&entry.stats);
                    write_record(&opts.output, shard, num_shards, &run.fingerprint, entry)?;
                    outcome.written.push(shard);
                    bar.set_message(format!("{} shard(s) done", outcome.written.len()));
                    if opts.stop_after_shards == Some(outcome.written.len()) {
                        outcome.stopped_early = true;
                        return Ok(outcome);
                    }
                }
                Done::Failed(_, e) => return Err(e),
            }
        }
    }
    Ok(outcome)
}
