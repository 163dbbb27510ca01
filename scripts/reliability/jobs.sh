# The long jobs of scripts/reliability/kill_resume.sh and full_disk.sh, on tiny bundled data. Sourced, never run
# (after scripts/lib.sh, from the repository root).
# A single thread: every run then takes the same path through the code as the reference, and 2 shared cores suffice.
export RAYON_NUM_THREADS=1
build_host
electra="$HOST_RELEASE/electra"
check="scripts/reliability/check_outputs.py"
# make_inputs DIR: the inputs, made once: the shards pretrain reads, the checkpoint finetune starts from and export
# converts, the fine-tuning files (160 training and 40 dev movie reviews).
make_inputs() {
  inputs=$1
  model="$inputs/pretrained/checkpoint-latest/discriminator"
  mkdir -p "$inputs"
  "$electra" shard --corpus data/corpus/us-speeches/inaugural --vocab data/vocab.txt --out "$inputs/shards" \
    --shards 4 --seq-len 64 --quiet >/dev/null
  "$electra" pretrain --data "$inputs/shards" --model-size tiny --steps 2 --batch 4 --out "$inputs/pretrained" \
    --quiet >/dev/null
  python3 - "$inputs" <<'EOF'
import random, sys
lines = open("data/classification/movie-reviews.jsonl").read().splitlines()
random.Random(0).shuffle(lines)
open(f"{sys.argv[1]}/train.jsonl", "w").write("\n".join(lines[:160]) + "\n")
open(f"{sys.argv[1]}/dev.jsonl", "w").write("\n".join(lines[160:200]) + "\n")
EOF
}

# job_fresh JOB OUT: the job's command, as first run. It execs the binary, so that `job_fresh … &` is the job's
# own pid (a subshell killed instead would leave the job running on); called in the foreground as `(job_fresh …)`.
job_fresh() {
  case $1 in
    shard) exec "$electra" shard --corpus data/corpus/us-speeches/inaugural --vocab data/vocab.txt --out "$2" \
      --shards 4 --seq-len 64 --quiet ;;
    pretrain) exec "$electra" pretrain --data "$inputs/shards" --model-size tiny --steps 12 --batch 4 --save-every 2 \
      --out "$2" --quiet ;;
    finetune) exec "$electra" finetune --model "$model" --task custom --train "$inputs/train.jsonl" \
      --dev "$inputs/dev.jsonl" --out "$2" --max-len 32 --batch 8 --epochs 1 --eval-every 5 --quiet ;;
    export) exec "$electra" export --model "$model" --out "$2" --vocab "$model/vocab.txt" ;;
  esac
}
# job_continue JOB OUT: what a user does after a crash.
job_continue() {
  case $1 in
    pretrain | finetune)
      # A run killed before its first checkpoint has nothing to resume: it is started again.
      if [ -e "$2/checkpoint-latest" ] || [ -e "$2/checkpoint-latest.old" ]; then
        "$electra" "$1" --out "$2" --resume --quiet
      else
        (job_fresh "$@")
      fi
      ;;
    *) (job_fresh "$@") ;;
  esac
}
