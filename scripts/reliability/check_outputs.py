#!/usr/bin/env python3
"""Checks for scripts/reliability/kill_resume.sh and full_disk.sh (standard library only).

  check_outputs.py visible JOB OUT REF   after a kill -9: nothing under a final name in OUT is half-written
  check_outputs.py same JOB REF OUT      after the resume: OUT holds exactly REF's files, byte for byte

A "final name" is any name a reader would take as the output: everything but the writers' temporaries
(`.NAME.tmp-PID`, `NAME.tmp-PID`, `metrics.jsonl.tmp`, `.shard-….parquet.tmp-PID`), the `.old` half of a directory
swap (checkpoint/atomic.rs: `dest` → `dest.old`, `dest.tmp-PID` → `dest`) and the output lock, which the kernel
releases at the kill and the next run takes over.

What "complete" means depends on the file, since a killed pretrain or finetune run legitimately leaves an earlier
checkpoint than the reference's final one:
- files whose content does not depend on when the run stopped (shards, the shard manifest, an exported model file,
  vocab.txt) must equal the reference's bytes;
- a `.safetensors` file must be whole: its 8-byte header length, JSON header and the tensors' byte ranges must end
  exactly at the end of the file (a truncated write fails this);
- a `.json` file must parse; a `.png` must end with its IEND chunk;
- a directory written by an atomic swap (`checkpoint-latest`, `model`) must hold the reference's set of files;
- `metrics.jsonl` is an append log, flushed line by line: every line but the last must be a JSON object; a last line
  cut by the kill is allowed, because both readers drop it on --resume (pretrain's `read_records`, finetune's
  `Log::open`) and the byte-identical check after the resume shows it was dropped.
"""
import json
import os
import re
import struct
import sys

TEMPORARY = re.compile(r"(\.tmp(-\d+)?$)|(\.tmp-\d+)|(\.old$)|(^\.electra\.lock)|(\.electra\.lock$)")
# Timing fields of the metrics logs and trainer states: they differ between any two runs, interrupted or not.
TIMING_FIELDS = ("tokens_per_s", "seconds", "examples_per_s", "elapsed_seconds")
# Files whose bytes do not depend on when the run was stopped, for each job.
STABLE = {
    "shard": re.compile(r".*"),
    "export": re.compile(r".*"),
    "pretrain": re.compile(r".*vocab\.txt$"),
    "finetune": re.compile(r".*vocab\.txt$"),
}


def is_temporary(rel):
    return any(TEMPORARY.search(part) for part in rel.split(os.sep))


def files(root):
    out = {}
    if os.path.isfile(root):
        return {"": root}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if not is_temporary(rel):
                out[rel] = path
    return out


def read(path):
    with open(path, "rb") as f:
        return f.read()


def safetensors_problem(data):
    if len(data) < 8:
        return f"{len(data)} bytes, shorter than the 8-byte header length"
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        return f"header of {n} bytes runs past the end of a {len(data)}-byte file"
    try:
        header = json.loads(data[8 : 8 + n])
    except ValueError as e:
        return f"header is not JSON: {e}"
    end = 0
    for name, t in header.items():
        if name == "__metadata__":
            continue
        end = max(end, t["data_offsets"][1])
    if 8 + n + end != len(data):
        return f"tensors end at byte {8 + n + end} but the file has {len(data)}"
    return None


def metrics_problem(data):
    lines = data.split(b"\n")
    # data ends with "\n" when whole: the last element is then empty.
    complete, last = lines[:-1], lines[-1]
    for i, line in enumerate(complete):
        if not line.strip():
            continue
        try:
            if not isinstance(json.loads(line), dict):
                return f"line {i + 1} is not a JSON object"
        except ValueError:
            return f"line {i + 1} is not JSON: {line[:80]!r}"
    del last  # a partial last line is tolerated (see the module doc)
    return None


def visible(job, out, ref):
    problems = []
    ref_files = files(ref)
    out_files = files(out) if os.path.exists(out) else {}
    stable = STABLE[job]
    for rel, path in sorted(out_files.items()):
        data = read(path)
        name = os.path.basename(path)
        where = rel or os.path.basename(out)
        if stable.match(rel) and rel in ref_files:
            problem = None if data == read(ref_files[rel]) else "differs from the uninterrupted run's file"
        elif stable.match(rel) and rel not in ref_files:
            problem = "not written by the uninterrupted run"
        elif name.endswith(".safetensors"):
            problem = safetensors_problem(data)
        elif name == "metrics.jsonl":
            problem = metrics_problem(data)
        elif name.endswith(".json"):
            try:
                json.loads(data)
                problem = None
            except ValueError as e:
                problem = f"not JSON: {e}"
        elif name.endswith(".png"):
            problem = None if data.endswith(b"IEND\xaeB`\x82") else "PNG without its IEND chunk"
        else:
            problem = None if rel in ref_files else "not written by the uninterrupted run"
        if problem:
            problems.append(f"{where}: {problem}")
    # An atomically swapped directory is whole: the reference's set of files.
    for d in ("checkpoint-latest", "model", "checkpoint-latest/model"):
        dir_out, dir_ref = os.path.join(out, d), os.path.join(ref, d)
        if os.path.isdir(dir_out) and os.path.isdir(dir_ref):
            have, want = set(files(dir_out)), set(files(dir_ref))
            if have != want:
                problems.append(f"{d}/ holds {sorted(have)}, a whole one holds {sorted(want)}")
    return problems


def without_timing(v):
    if isinstance(v, dict):
        return {k: without_timing(x) for k, x in v.items() if k not in TIMING_FIELDS}
    if isinstance(v, list):
        return [without_timing(x) for x in v]
    return v


def strip_timing(data):
    return [without_timing(json.loads(line)) for line in data.decode().splitlines()]


def same(job, ref, out):
    problems = []
    ref_files, out_files = files(ref), files(out)
    del job
    for rel in sorted(set(ref_files) | set(out_files)):
        if rel not in out_files:
            problems.append(f"{rel}: missing after the resume")
        elif rel not in ref_files:
            problems.append(f"{rel}: not written by the uninterrupted run")
        else:
            a, b = read(ref_files[rel]), read(out_files[rel])
            if os.path.basename(rel) == "metrics.jsonl":
                if strip_timing(a) != strip_timing(b):
                    problems.append(f"{rel}: other steps logged than the uninterrupted run (timings aside)")
            elif os.path.basename(rel) == "trainer_state.json":
                # The run's wall time is saved with it; everything else (step, data position, config) must match.
                if without_timing(json.loads(a)) != without_timing(json.loads(b)):
                    problems.append(f"{rel}: another trainer state than the uninterrupted run's (timings aside)")
            elif a != b:
                problems.append(f"{rel}: differs from the uninterrupted run")
    return problems


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("visible", "same"):
        sys.exit(__doc__)
    mode, job, a, b = sys.argv[1:]
    problems = visible(job, a, b) if mode == "visible" else same(job, a, b)
    for p in problems:
        print(f"  {mode}: {p}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
