"""Does PyTorch eager also gain from smaller batches? (bench/encode.ts runs tslate's batches of
32 in onnxruntime chunks of 8 rows; this checks that the PyTorch baseline is not handicapped by
being run at batch 32.) Seconds per 180-token document at batch sizes 4, 8, 16 and 32, through
the same bench/torch/torch_bert.py worker and weights as bench/encode.ts:
    /usr/bin/python3 bench/torch/torch_batch_size.py [model_dir] [threads]
(model_dir defaults to the checkpoint bench/encode.ts caches in $TMPDIR.)
"""
import json
import os
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
model_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(tempfile.gettempdir(), "tslate-bench-bert-base")
threads = sys.argv[2] if len(sys.argv) > 2 else "2"
worker = subprocess.Popen(
    [sys.executable, os.path.join(here, "torch_bert.py"), model_dir, threads],
    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=here,
)
print(worker.stdout.readline().strip())


def run(batch, length=180):
    ids = [[1000 + (i * 7919 + r) % 29000 for i in range(length)] for r in range(batch)]
    worker.stdin.write(json.dumps({"input_ids": ids, "attention_mask": [[1] * length] * batch}) + "\n")
    worker.stdin.flush()
    return json.loads(worker.stdout.readline())["seconds"]


run(8)  # warm-up
docs = 64
totals = {}
# Interleaved twice, so that load from other processes hits every size alike.
for _ in range(2):
    for batch in (4, 8, 16, 32):
        totals[batch] = totals.get(batch, 0.0) + sum(run(batch) for _ in range(docs // batch))
for batch, seconds in totals.items():
    print(f"batch {batch:2d}: {seconds / (2 * docs):.3f} s per document")
worker.stdin.close()
worker.wait()
