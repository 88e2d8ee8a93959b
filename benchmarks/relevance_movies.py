"""A real relevance run: every method on the ERASER Movie Reviews validation documents.

Chefer, Gur & Wolf (2021) score relevance on Movie Reviews by token-F1 against human
rationales (top-k words, k = 10 ... 80) and by perturbation. Offline, this run follows
the guide's version of that experiment (papers.md section 6):

1. The embedded all-MiniLM-L6-v2 gets a sentiment head, trained briefly on SST-2
   (``--train-size`` sentences, 1 epoch; cached in ``--cache`` and reused).
2. Every method explains the *true* class of each validation review (a word scores
   its highest word piece, as the authors' benchmark code does), documents cut to ``--max-length`` tokens as the paper
   cut BERT's input at 512 (explicitly: ``overflow="truncate"``, which warns).
3. Token-F1 (ERASER instance-macro) of the top-k words against the human rationale
   words at k = 10 ... 80, and positive/negative perturbation curves (tokens removed in
   steps of 10%, accuracy against the true label) with their AUC.

Prints a table and, as its last line, a JSON object. Run::

    PYTHONUNBUFFERED=1 .venv/bin/python benchmarks/relevance_movies.py            # all 200 documents
    PYTHONUNBUFFERED=1 .venv/bin/python benchmarks/relevance_movies.py --docs 20  # a quick look
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from geometry_data import data_dir  # noqa: E402

import lensnb  # noqa: E402
from lensnb.data import read_eraser_movies, read_sst2  # noqa: E402
from lensnb.fine_tune import classify, fine_tune_classifier  # noqa: E402
from lensnb.relevance import (  # noqa: E402
    AttentionRollout,
    AttnLRP,
    FullLRP,
    GradCAMAttention,
    InputXGradient,
    IntegratedGradients,
    PartialLRP,
    RawAttention,
    TransformerAttribution,
)
from lensnb.relevance.faithfulness import perturbation_curve  # noqa: E402
from lensnb.relevance.rationales import rationale_token_f1  # noqa: E402

K = (10, 20, 30, 40, 50, 60, 70, 80)


def sentiment_model(cache: Path, train_size: int, seed: int):
    """The embedded MiniLM with a sentiment head, trained once on SST-2 and cached."""
    if (cache / "config.json").is_file():
        print(f"sentiment head: reusing {cache}")
        return lensnb.load_model(cache, task="sequence-classification")
    torch.manual_seed(seed)
    model = lensnb.load_model(task="sequence-classification", num_labels=2)
    train = read_sst2(data_dir() / "sst2" / "alps_train.tsv")
    picked = np.random.default_rng(seed).permutation(len(train))[:train_size]
    texts = [train[i].resolved_text() for i in picked]
    labels = [int(train[i].meta["label"]) for i in picked]
    start = time.perf_counter()
    fine_tune_classifier(model, texts, labels, epochs=1, learning_rate=5e-5, batch_size=32, max_length=64,
                         seed=seed, checkpoint=cache / "checkpoint")  # fmt: skip
    print(f"sentiment head: trained on {len(texts)} SST-2 sentences in {time.perf_counter() - start:.0f} s")
    model.model.save_pretrained(cache)
    model.tokenizer.save_pretrained(cache)
    return model


def methods(model, batch_size: int, max_length: int, ig_steps: int) -> dict:
    common = dict(batch_size=batch_size, max_length=max_length, overflow="truncate", progress=False)
    return {
        "transformer_attribution (start_layer=0)": TransformerAttribution(model, start_layer=0, **common),
        "transformer_attribution (start_layer=-1)": TransformerAttribution(model, start_layer=-1, **common),
        "attention_rollout": AttentionRollout(model, **common),
        "raw_attention": RawAttention(model, **common),
        "gradcam_attention": GradCAMAttention(model, **common),
        "partial_lrp": PartialLRP(model, **common),
        "full_lrp": FullLRP(model, **common),
        "input_x_gradient": InputXGradient(model, **common),
        "attnlrp": AttnLRP(model, **common),
        f"integrated_gradients ({ig_steps} steps)": IntegratedGradients(model, n_steps=ig_steps, **common),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=200, help="validation documents (200 = all)")
    parser.add_argument("--train-size", type=int, default=20000)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--ig-steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "lensnb" / "minilm-sst2-head")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    model = sentiment_model(args.cache, args.train_size, args.seed)

    dev = read_sst2(data_dir() / "sst2" / "alps_dev.tsv")
    dev_accuracy = float(np.mean(
        classify(model, [e.resolved_text() for e in dev]).argmax(-1) == np.array([e.meta["label"] for e in dev])
    ))  # fmt: skip
    docs = read_eraser_movies(data_dir() / "eraser_movies", "val")[: args.docs]
    labels = np.array([1 if d.meta["label"] == "POS" else 0 for d in docs])
    # every rationale word of the whole review, also those past the cut (they lower recall)
    rationales = [np.asarray(d.labels["rationale"]) for d in docs]
    print(f"SST-2 dev accuracy {dev_accuracy:.3f}; {len(docs)} Movie Reviews validation documents")

    rows, results = [], {}
    for name, method in methods(model, args.batch_size, args.max_length, args.ig_steps).items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # truncation (counted below) and GradCAM's flat cams
            relevance = method.attribute(docs, target=labels)
        seconds = time.perf_counter() - start
        f1 = rationale_token_f1(relevance, rationales, k=K, aggregate="max")
        positive = perturbation_curve(model, relevance, labels=labels, order="positive", progress=False)
        negative = perturbation_curve(model, relevance, labels=labels, order="negative", progress=False)
        if not results:
            kept = relevance.texts["n_tokens"].to_numpy()
            accuracy = float(np.mean(relevance.segments["predicted"].to_numpy() == labels))
            print(f"documents cut to {args.max_length} tokens: {int((kept >= args.max_length).sum())} of {len(docs)}; "
                  f"classifier accuracy on the (cut) documents {accuracy:.3f}")  # fmt: skip
        results[name] = {
            "token_f1": dict(zip(map(int, f1.k), map(float, f1.f1))),
            "positive_auc": float(positive.auc_percent),
            "negative_auc": float(negative.auc_percent),
            "seconds": round(seconds, 1),
        }
        rows.append(name)
        print(f"{name:42s} F1@10 {f1.f1[0]:.3f} F1@80 {f1.f1[-1]:.3f} "
              f"pos AUC {positive.auc_percent:5.1f} neg AUC {negative.auc_percent:5.1f}  ({seconds:.0f} s)", flush=True)  # fmt: skip

    print("\ntoken-F1 by k (ERASER instance-macro):")
    print(f"{'method':42s} " + " ".join(f"k={k:<4d}" for k in K))
    for name in rows:
        print(f"{name:42s} " + " ".join(f"{results[name]['token_f1'][k]:.3f} " for k in K))
    chefer = results["transformer_attribution (start_layer=0)"]["token_f1"]
    beats = {
        other: all(chefer[k] > results[other]["token_f1"][k] for k in K)
        for other in ("attention_rollout", "raw_attention", "gradcam_attention", "partial_lrp", "full_lrp")
    }
    print(f"\ntransformer attribution (start_layer=0) above the baseline at every k: {beats}")
    summary = {
        "documents": len(docs), "sst2_dev_accuracy": round(dev_accuracy, 4), "max_length": args.max_length,
        "methods": results, "chefer_beats_at_every_k": beats,
    }  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
