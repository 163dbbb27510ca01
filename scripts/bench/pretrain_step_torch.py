"""ELECTRA-Small pre-training steps in PyTorch + HF transformers, the reference for
train-host/benches/pretrain_step.rs: generator (ElectraForMaskedLM) and discriminator (ElectraForPreTraining)
sharing the whole embeddings module, ELECTRA's masking (15%, 85% [MASK]), Gumbel-max samples, loss
MLM + 50 * RTD, backward, global-norm clipping at 1.0, AdamW (weight decay 0.01 except biases and LayerNorm).

The generator's head, two ways (--head):
  gathered  (default) as ELECTRA's own code (pretrain_helpers.gather_positions): the generator's encoder on every
            token, then its MLM head (generator_predictions, then the tied vocabulary projection) on the masked
            positions only, the strongest reference;
  full      HF's ElectraForMaskedLM as it stands: vocabulary logits at all 128 positions, loss on the masked ones.

Usage: python pretrain_step_torch.py [STEPS] [--batch B] [--head gathered|full] [--json FILE]

Data-parallel (the PyTorch DDP bar of scripts/bench/cluster_sim.sh): with WORLD_SIZE > 1 in the environment
(and RANK, MASTER_ADDR, MASTER_PORT; GLOO_SOCKET_IFNAME names the link), the generator and the discriminator run
as one module under torch.nn.parallel.DistributedDataParallel with the gloo backend: its default 25 MB buckets
are all-reduced while the backward pass still runs. B is then the batch of one rank; rank 0 prints and writes.
"""
import argparse
import json
import os
import resource
import sys
import time

import torch
from transformers import ElectraConfig, ElectraForMaskedLM, ElectraForPreTraining

SEQ_LEN = 128
CLS, SEP, MASK = 101, 102, 103


class Electra(torch.nn.Module):
    """Generator and discriminator as one module (DDP wraps one module): forward returns MLM + 50 * RTD."""

    def __init__(self, head="gathered"):
        super().__init__()
        self.head = head
        common = dict(vocab_size=30522, embedding_size=128, max_position_embeddings=512, type_vocab_size=2,
                      hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        self.disc = ElectraForPreTraining(ElectraConfig(hidden_size=256, num_hidden_layers=12,
                                                        num_attention_heads=4, intermediate_size=1024, **common))
        self.gen = ElectraForMaskedLM(ElectraConfig(hidden_size=64, num_hidden_layers=12, num_attention_heads=1,
                                                    intermediate_size=256, **common))
        self.gen.electra.embeddings = self.disc.electra.embeddings  # the whole module, as ELECTRA shares it
        self.gen.generator_lm_head.weight = self.disc.electra.embeddings.word_embeddings.weight

    def forward(self, ids, gen_ids, labels, masked, mask):
        if self.head == "full":
            gen_out = self.gen(input_ids=gen_ids, attention_mask=mask, labels=labels)
            mlm_loss, logits = gen_out.loss, gen_out.logits[masked]
        else:
            hidden = self.gen.electra(input_ids=gen_ids, attention_mask=mask).last_hidden_state  # [B, T, H_g]
            # [M, V]: gather the masked rows first, then the head (dense, GELU, LayerNorm, tied projection).
            logits = self.gen.generator_lm_head(self.gen.generator_predictions(hidden[masked]))
            mlm_loss = torch.nn.functional.cross_entropy(logits, ids[masked])
        with torch.no_grad():
            logits = logits.detach()
            gumbel = -torch.log(-torch.log(torch.rand_like(logits).clamp_(1e-9, 1.0)))
            sampled = (logits + gumbel).argmax(-1)
        disc_ids = ids.clone()
        disc_ids[masked] = sampled
        disc_labels = (disc_ids != ids).long()
        disc_out = self.disc(input_ids=disc_ids, attention_mask=mask, labels=disc_labels)
        return mlm_loss + 50.0 * disc_out.loss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("steps", nargs="?", type=int, default=5)
    ap.add_argument("--batch", type=int, default=8, help="sequences of 128 tokens per step (per rank under DDP)")
    ap.add_argument("--head", choices=["gathered", "full"], default="gathered",
                    help="the generator's MLM head on the masked positions only (ELECTRA) or on all (HF)")
    ap.add_argument("--json", help="write the result here (rank 0)")
    args = ap.parse_args()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(1)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    model = Electra(args.head)
    params = {id(p): (n, p) for n, p in model.named_parameters()}
    decay = [p for n, p in params.values() if not (n.endswith("bias") or "LayerNorm" in n)]
    no_decay = [p for n, p in params.values() if n.endswith("bias") or "LayerNorm" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=5e-4, betas=(0.9, 0.999), eps=1e-6)
    run = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    torch.manual_seed(1000 + rank)  # each rank its own examples and masks
    batch = args.batch

    def step():
        ids = torch.randint(1000, 30000, (batch, SEQ_LEN))
        ids[:, 0], ids[:, -1] = CLS, SEP
        mask = torch.ones_like(ids)
        # 15% of the non-special tokens (round(0.15 * 126) = 19 per sequence), 85% of them [MASK].
        k = round(0.15 * (SEQ_LEN - 2))
        scores = torch.rand(batch, SEQ_LEN)
        scores[:, 0] = scores[:, -1] = -1.0
        positions = scores.topk(k, dim=1).indices
        masked = torch.zeros_like(ids, dtype=torch.bool).scatter_(1, positions, True)
        gen_ids = torch.where(masked & (torch.rand(batch, SEQ_LEN) < 0.85), torch.full_like(ids, MASK), ids)
        labels = torch.where(masked, ids, torch.full_like(ids, -100))
        loss = run(ids, gen_ids, labels, masked, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # under DDP: the bucketed allreduce overlaps this
        torch.nn.utils.clip_grad_norm_([p for _, p in params.values()], 1.0)
        opt.step()
        return loss.item()

    step()  # warm-up
    total = 0.0
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    for i in range(1, args.steps + 1):
        t = time.perf_counter()
        loss = step()
        dt = time.perf_counter() - t
        total += dt
        if rank == 0:
            print(f"step {i}: {dt * 1e3:.0f} ms, loss {loss:.3f}", file=sys.stderr)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_ms = (usage.ru_utime + usage.ru_stime - cpu0.ru_utime - cpu0.ru_stime) / args.steps * 1e3
    peak_mib = usage.ru_maxrss / 1024.0
    tokens_per_s = world * args.steps * batch * SEQ_LEN / total  # all ranks together
    if rank == 0:
        print(f"pytorch {torch.__version__}, {args.head} MLM head: {tokens_per_s:.0f} tokens/s ({world} rank(s) x batch {batch}; "
              f"{total / args.steps * 1e3:.0f} ms/step over {args.steps} steps, {torch.get_num_threads()} threads, "
              f"{cpu_ms:.0f} CPU-ms/step), peak RSS {peak_mib:.0f} MiB")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"tokens_per_s": tokens_per_s, "ranks": world, "batch": batch, "steps": args.steps,
                           "ms_per_step": total / args.steps * 1e3, "torch": torch.__version__,
                       "head": args.head}, f)
    if world > 1:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
