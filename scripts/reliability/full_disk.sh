#!/usr/bin/env bash
# A full disk as --out (issue 17): `scripts/reliability/full_disk.sh [JOB...]` (default: shard pretrain finetune).
# For each job, a tmpfs (root only: `mount -t tmpfs`) too small for the whole run but big enough for its first
# checkpoint (or first shards) is given as the output. The run must fail with exit status 1 and an error that names
# a path on that disk and says it is full (ENOSPC, "No space left on device"); nothing under a final name may be
# half-written (check_outputs.py visible: the last good checkpoint is whole, the shards written are the reference's
# bytes). Then the tmpfs is grown (`mount -o remount,size=…`) and the run continued as after a crash (`--resume`,
# or the first command again): it must end byte-identical to an uninterrupted run on a roomy disk, which shows the
# checkpoint left by the failed save was the last good one, intact.
set -euo pipefail
cd "$(dirname "$0")/../.."
export ELECTRA_REPO="$PWD"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
[ "$(id -u)" -eq 0 ] || die "full_disk.sh mounts a tmpfs: run it as root"
JOBS=("$@")
[ ${#JOBS[@]} -gt 0 ] || JOBS=(shard pretrain finetune)

# shellcheck source=scripts/reliability/jobs.sh
source scripts/reliability/jobs.sh
work=$(mktemp -d "${TMPDIR:-/tmp}/full-disk.XXXXXX")
mnt="$work/disk"
mkdir -p "$mnt"
cleanup() {
  mountpoint -q "$mnt" && umount "$mnt"
  rm -rf "$work"
}
trap cleanup EXIT
make_inputs "$work/inputs"

# The disk's size, in KiB, per job: room for the first save but not for the run (measured from the reference's
# outputs below: shard: the 4 shards are 250 KB, 150 KiB holds two; pretrain: a checkpoint is 17.5 MB and a save
# needs the old one and the new one side by side, so 26 MiB holds one checkpoint and fails the second save; finetune:
# a checkpoint (12.9 MB) plus the best model (4.4 MB) fit in 20 MiB, the next save does not).
declare -A DISK_KIB=([shard]=150 [pretrain]=26624 [finetune]=20480)
# Grown to this for the continued run: the whole run fits.
ROOMY_KIB=131072

failures=0
for job in "${JOBS[@]}"; do
  ref="$work/$job-reference"
  (job_fresh "$job" "$ref") >"$work/$job-reference.log" 2>&1 || { cat "$work/$job-reference.log"; die "$job: the run on a roomy disk failed"; }
  mount -t tmpfs -o "size=${DISK_KIB[$job]}k" tmpfs "$mnt"
  out="$mnt/out"
  log="$work/$job.log"
  status=0
  (job_fresh "$job" "$out") >"$log" 2>&1 || status=$?
  problem=""
  if [ "$status" -ne 1 ]; then
    problem="exit status $status on a full disk, not 1"
  elif ! grep -q "$mnt/out.*No space left on device" "$log"; then
    problem="the error does not name a path on the full disk with 'No space left on device': $(grep -m1 -i error "$log")"
  elif grep -q "panicked at" "$log"; then
    problem="panicked"
  elif [ "$job" != shard ] && [ ! -d "$out/checkpoint-latest" ]; then
    problem="no checkpoint-latest after the failure: the disk size no longer tests a save failing after a good one"
  elif ! python3 "$check" visible "$job" "$out" "$ref"; then
    problem="a half-written file under its final name after the failure"
  else
    mount -o "remount,size=${ROOMY_KIB}k" "$mnt"
    if ! job_continue "$job" "$out" >>"$log" 2>&1; then
      problem="the continued run failed on the grown disk: $(grep -m1 -i error "$log" || tail -n1 "$log")"
    elif ! python3 "$check" same "$job" "$ref" "$out"; then
      problem="the continued run ends unlike the uninterrupted one"
    fi
  fi
  echo "$job on a ${DISK_KIB[$job]} KiB disk: $(grep -m1 'No space left' "$log" | cut -c1-220)"
  umount "$mnt"
  if [ -n "$problem" ]; then
    echo "  $job: FAILED: $problem" >&2
    sed 's/^/    /' "$log" | head -n 20 >&2
    failures=$((failures + 1))
  else
    echo "  $job: clear error, last good state intact, resumed to the uninterrupted run's bytes"
  fi
done
[ "$failures" -eq 0 ] || die "$failures job(s) mishandled a full disk"
echo "full disk: ${#JOBS[@]}/${#JOBS[@]} jobs"
