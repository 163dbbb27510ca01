"""GLUE TSV files as the benchmark scripts read them (no torch import, so numpy-only scripts can share it)."""

import csv


def read_tsv(path):
    """(texts_a, texts_b or None, labels) from SST-2 (`sentence|text`, `label`) or MRPC (GLUE columns, BOM)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows:
        raise SystemExit(f"{path}: empty file")
    header, rows = [h.strip() for h in rows[0]], [r for r in rows[1:] if r]
    try:
        if "#1 String" in header:  # MRPC
            a, b, y = header.index("#1 String"), header.index("#2 String"), header.index("Quality")
            return [r[a] for r in rows], [r[b] for r in rows], [int(r[y]) for r in rows]
        a = header.index("sentence") if "sentence" in header else header.index("text")
        y = header.index("label")
        return [r[a] for r in rows], None, [int(r[y]) for r in rows]
    except (ValueError, IndexError) as e:
        raise SystemExit(f"{path}: not a GLUE SST-2/MRPC TSV file ({e}; columns {header})")
