"""ELECTRA-Small pre-training steps in PyTorch + HF transformers, the reference for
train-host/benches/pretrain_step.rs: generator (ElectraForMaskedLM) and discriminator (ElectraForPreTraining)
sharing the whole embeddings module, ELECTRA's masking (15%, 85% [MASK]), Gumbel-max samples, loss
MLM + 50 * RTD, backward, global-norm clipping at 1.0, AdamW (weight decay 0.01 except biases and LayerNorm).

Usage: python pretrain_step_torch.py [STEPS]
"""
import resource
import sys
import time

import torch
from transformers import ElectraConfig, ElectraForMaskedLM, ElectraForPreTraining

BATCH, SEQ_LEN = 8, 128
CLS, SEP, MASK = 101, 102, 103


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    torch.manual_seed(1)
    common = dict(vocab_size=30522, embedding_size=128, max_position_embeddings=512, type_vocab_size=2,
                  hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    disc = ElectraForPreTraining(ElectraConfig(hidden_size=256, num_hidden_layers=12, num_attention_heads=4,
                                               intermediate_size=1024, **common))
    gen = ElectraForMaskedLM(ElectraConfig(hidden_size=64, num_hidden_layers=12, num_attention_heads=1,
                                           intermediate_size=256, **common))
    gen.electra.embeddings = disc.electra.embeddings  # the whole module, as ELECTRA shares it
    gen.generator_lm_head.weight = disc.electra.embeddings.word_embeddings.weight
    params = {id(p): (n, p) for model in (disc, gen) for n, p in model.named_parameters()}
    decay = [p for n, p in params.values() if not (n.endswith("bias") or "LayerNorm" in n)]
    no_decay = [p for n, p in params.values() if n.endswith("bias") or "LayerNorm" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=5e-4, betas=(0.9, 0.999), eps=1e-6)

    def step():
        ids = torch.randint(1000, 30000, (BATCH, SEQ_LEN))
        ids[:, 0], ids[:, -1] = CLS, SEP
        mask = torch.ones_like(ids)
        # 15% of the non-special tokens (round(0.15 * 126) = 19 per sequence), 85% of them [MASK].
        k = round(0.15 * (SEQ_LEN - 2))
        scores = torch.rand(BATCH, SEQ_LEN)
        scores[:, 0] = scores[:, -1] = -1.0
        positions = scores.topk(k, dim=1).indices
        masked = torch.zeros_like(ids, dtype=torch.bool).scatter_(1, positions, True)
        gen_ids = torch.where(masked & (torch.rand(BATCH, SEQ_LEN) < 0.85), torch.full_like(ids, MASK), ids)
        labels = torch.where(masked, ids, torch.full_like(ids, -100))
        gen_out = gen(input_ids=gen_ids, attention_mask=mask, labels=labels)
        with torch.no_grad():
            logits = gen_out.logits[masked]
            gumbel = -torch.log(-torch.log(torch.rand_like(logits).clamp_(1e-9, 1.0)))
            sampled = (logits + gumbel).argmax(-1)
        disc_ids = ids.clone()
        disc_ids[masked] = sampled
        disc_labels = (disc_ids != ids).long()
        disc_out = disc(input_ids=disc_ids, attention_mask=mask, labels=disc_labels)
        loss = gen_out.loss + 50.0 * disc_out.loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for _, p in params.values()], 1.0)
        opt.step()
        return loss.item()

    step()  # warm-up
    total = 0.0
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    for i in range(1, steps + 1):
        t = time.perf_counter()
        loss = step()
        dt = time.perf_counter() - t
        total += dt
        print(f"step {i}: {dt * 1e3:.0f} ms, loss {loss:.3f}", file=sys.stderr)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_ms = (usage.ru_utime + usage.ru_stime - cpu0.ru_utime - cpu0.ru_stime) / steps * 1e3
    peak_mib = usage.ru_maxrss / 1024.0
    print(f"pytorch {torch.__version__}: {steps * BATCH * SEQ_LEN / total:.0f} tokens/s "
          f"({total / steps * 1e3:.0f} ms/step over {steps} steps, {torch.get_num_threads()} threads, "
          f"{cpu_ms:.0f} CPU-ms/step), peak RSS {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
