#!/usr/bin/env bash
# Hard stops and full disks, fast (issue 17): kill -9 at 3 random moments of each of `electra shard`, `pretrain`,
# `finetune` and `export`, each resumed to a byte-identical end with nothing half-written visible after the kill;
# then a full tmpfs as --out of shard, pretrain and finetune: a clear error naming the path, the last good
# checkpoint intact and resumable. The full campaign is `scripts/reliability/kill_resume.sh` (20 kills per job;
# docs/RELIABILITY.md). The fuzz corpora are replayed by step 30 (train-host/tests/fuzz_corpus.rs).
set -euo pipefail
source scripts/lib.sh
build_host
export ELECTRA_HOST_BUILT=1
KILL_TRIALS=${KILL_TRIALS:-3}
bash scripts/reliability/kill_resume.sh "$KILL_TRIALS"
if [ "$(id -u)" -eq 0 ]; then
  bash scripts/reliability/full_disk.sh
else
  # Mounting a tmpfs needs root; fail rather than skip, as every step does.
  die "the full-disk check mounts a tmpfs and needs root (sudo scripts/test.sh, or run as root in CI)"
fi
