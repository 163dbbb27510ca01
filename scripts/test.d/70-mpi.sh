#!/usr/bin/env bash
# Data-parallel training over MPI, with a real MPI_Allreduce:
#  1. 2 ranks × batch 4 end with the same parameters as 1 rank × batch 8 over the same examples and masks,
#     after several AdamW steps (tolerance in train-host/examples/data_parallel.rs); the overlapped, bucketed
#     reduction ends bit-identical to one blocking allreduce, with any bucket size;
#  2. the `electra` CLI under mpirun: `electra shard` splits the corpus by rank with no extra flags and writes
#     the same shards as one process; `electra pretrain` on 2 ranks stopped half way and resumed follows the
#     uninterrupted 2-rank run bit for bit; resuming with another world size is refused with a clear message.
set -euo pipefail
source scripts/lib.sh
apt_install libopenmpi-dev openmpi-bin libclang-dev
command -v mpirun >/dev/null || die "mpirun not found after installing openmpi-bin"

# Step 30's binaries: the host's one feature set includes `mpi` (scripts/lib.sh), so nothing is rebuilt here.
build_host
bin=$HOST_RELEASE/examples/data_parallel
electra=$HOST_RELEASE/electra
[ -x "$bin" ] || die "$bin was not built by build_host (is HOST_FEATURES missing electra-train/mpi?)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# OpenMPI refuses root unless told; --oversubscribe lets 2 ranks share a 2-core (or smaller) machine.
mpi=(mpirun --allow-run-as-root --oversubscribe --bind-to none)
export RAYON_NUM_THREADS=1
passed=0

# 1. Equivalence of the data-parallel step.
"${mpi[@]}" -np 1 "$bin" train --global-batch 8 --steps 4 --out "$work/one_rank.f32"
"${mpi[@]}" -np 2 "$bin" train --global-batch 8 --steps 4 --out "$work/two_ranks.f32"
"$bin" compare "$work/one_rank.f32" "$work/two_ranks.f32"
passed=$((passed + 1))

# 1b. The overlapped reduction (the default above: buckets posted during the backward pass, reduced by
# MPI_Iallreduce on a communication thread) against one blocking MPI_Allreduce after the backward pass: with 2
# ranks each element is a + b either way, so the parameters must be bit-identical, also when the blob is cut into
# ~46 buckets of 2,500 floats (0.01 MB).
ELECTRA_GRAD_OVERLAP=0 "${mpi[@]}" -np 2 "$bin" train --global-batch 8 --steps 4 --out "$work/blocking.f32"
ELECTRA_GRAD_BUCKET_MB=0.01 "${mpi[@]}" -np 2 "$bin" train --global-batch 8 --steps 4 --out "$work/small_buckets.f32"
cmp "$work/two_ranks.f32" "$work/blocking.f32" || die "overlapped and blocking gradient reductions differ on 2 ranks"
cmp "$work/two_ranks.f32" "$work/small_buckets.f32" || die "0.01 MB buckets give other parameters than 25 MiB ones"
passed=$((passed + 1))

# 2a. `electra shard` under mpirun: each rank takes its slice from OMPI_COMM_WORLD_RANK/SIZE; the last one to
# finish writes the manifest, which must equal a single process's (same shards, same checksums).
corpus=data/corpus/us-speeches/inaugural
"$electra" shard --corpus "$corpus" --vocab data/vocab.txt --out "$work/shards1" --shards 2 --quiet
"${mpi[@]}" -np 2 "$electra" shard --corpus "$corpus" --vocab data/vocab.txt --out "$work/shards2" --shards 2 --quiet
cmp "$work/shards1/manifest.json" "$work/shards2/manifest.json" \
  || die "electra shard under mpirun -np 2 wrote another manifest than one process"
for f in "$work"/shards1/*.parquet; do
  cmp "$f" "$work/shards2/$(basename "$f")" || die "shard $(basename "$f") differs between 1 and 2 workers"
done
passed=$((passed + 1))

# 2b. `electra pretrain` on 2 ranks: straight, and stopped after step 3 then resumed.
train=(pretrain --data "$work/shards2" --model-size tiny --steps 6 --batch 8 --save-every 2 --quiet)
"${mpi[@]}" -np 2 "$electra" "${train[@]}" --out "$work/straight" >/dev/null
"${mpi[@]}" -np 2 "$electra" "${train[@]}" --out "$work/resumed" --stop-after 3 >/dev/null
[ "$(wc -l < "$work/resumed/metrics.jsonl")" -eq 3 ] || die "the stopped run should have logged 3 steps (rank 0 only)"
"${mpi[@]}" -np 2 "$electra" pretrain --out "$work/resumed" --resume --quiet >/dev/null
for model in discriminator generator; do
  cmp "$work/straight/checkpoint-latest/$model/model.safetensors" \
    "$work/resumed/checkpoint-latest/$model/model.safetensors" \
    || die "2-rank run resumed after step 3 ends with another $model than the uninterrupted one"
done
# Every logged step equal too, but for its timing fields.
losses() { sed -E 's/,"(tokens_per_s|seconds)":[^,}]*//g' "$1"; }
diff <(losses "$work/straight/metrics.jsonl") <(losses "$work/resumed/metrics.jsonl") \
  || die "2-rank resumed run logged other steps than the uninterrupted one"
passed=$((passed + 1))

# 2c. Resuming a 2-rank run on 1 rank is refused, naming the world size.
if "${mpi[@]}" -np 1 "$electra" pretrain --out "$work/resumed" --resume --quiet >"$work/wrong_world.log" 2>&1; then
  die "resuming a 2-rank run with 1 rank should fail"
fi
grep -qi "world size" "$work/wrong_world.log" || { cat "$work/wrong_world.log"; die "the refusal should name the world size"; }
passed=$((passed + 1))

# The launcher sanity check itself (a world of one where SLURM_NTASKS/OMPI_COMM_WORLD_SIZE say N) is unit-tested in
# train-host/src/distributed/launcher.rs: faking OpenMPI's variables outside mpirun would confuse OpenMPI itself.
echo "mpi: $passed passed, 0 failed"
