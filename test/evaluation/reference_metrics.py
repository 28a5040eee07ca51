#!/usr/bin/env python3
"""Independent reference for tslate's IR metrics (plain Python 3, no packages).

Written from the trec_eval / ranx definitions, not from the TypeScript code:
ranking = sort by score descending, ties by document id descending (trec_eval);
relevant = judged relevance >= rel_level; a query with no relevant document scores 0;
the mean is over every query of the qrels (ranx make_comparable=True).
nDCG uses linear gain (ranx `ndcg`, trec_eval `ndcg_cut`), ndcg_burges 2^rel - 1.

Usage: reference_metrics.py RUN QRELS METRIC [METRIC ...]  -> JSON on stdout
"""
import json
import math
import sys


def read_run(path):
    run = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            qid, _, doc, _, score, _ = parts
            run.setdefault(qid, {})[doc] = float(score)
    return run


def read_qrels(path):
    qrels = {}
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.read().replace("\r\n", "\n").split("\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        cols = line.split("\t")
        if i == 0 and cols[0] == "query-id":
            continue
        qid, doc, rel = cols
        qrels.setdefault(qid, {})[doc] = int(rel)
    return qrels


def ranking(results):
    # Two stable sorts: first by id descending, then by score descending.
    docs = sorted(results.keys(), reverse=True)
    return sorted(docs, key=lambda d: -results[d])


def one(name, k, level, ranked, judged):
    rel = {d: r for d, r in judged.items() if r >= level}
    if not rel:
        return 0.0
    top = ranked if k == 0 else ranked[:k]
    flags = [d in rel for d in top]
    if name == "hits":
        return float(sum(flags))
    if name == "hit_rate":
        return 1.0 if any(flags) else 0.0
    if name == "precision":
        n = len(ranked) if k == 0 else k
        return sum(flags) / n if n else 0.0
    if name == "recall":
        return sum(flags) / len(rel)
    if name == "mrr":
        return next((1.0 / (i + 1) for i, f in enumerate(flags) if f), 0.0)
    if name == "map":
        total, found = 0.0, 0
        for i, f in enumerate(flags):
            if f:
                found += 1
                total += found / (i + 1)
        return total / len(rel)
    if name in ("ndcg", "ndcg_burges"):
        gain = (lambda r: r) if name == "ndcg" else (lambda r: 2.0 ** r - 1)
        dcg = sum(gain(rel[d]) / math.log2(i + 2) for i, d in enumerate(top) if d in rel)
        ideal = sorted(rel.values(), reverse=True)
        if k:
            ideal = ideal[:k]
        idcg = sum(gain(r) / math.log2(i + 2) for i, r in enumerate(ideal))
        return dcg / idcg if idcg else 0.0
    raise SystemExit("unknown metric " + name)


def parse(metric):
    level = 1
    if "-l" in metric:
        metric, lv = metric.split("-l")
        level = int(lv)
    name, _, k = metric.partition("@")
    return name, int(k) if k else 0, level


def main():
    run, qrels, metrics = read_run(sys.argv[1]), read_qrels(sys.argv[2]), sys.argv[3:]
    out = {"queries": len(qrels), "mean": {}, "perQuery": {}}
    for m in metrics:
        name, k, level = parse(m)
        values = {q: one(name, k, level, ranking(run.get(q, {})), qrels[q]) for q in qrels}
        out["mean"][m] = sum(values.values()) / len(values)
        out["perQuery"][m] = values
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
