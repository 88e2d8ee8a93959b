"""A real probing run on the embedded model: POS, NER and relations over all 7 layers.

What it does
------------
- **POS**: UD English EWT (train, the first 1,500 sentences), a linear probe on each
  word's first piece predicting its UPOS tag.
- **NER**: CoNLL-2003 (train, the first 5,000 sentences with an entity), the entity type
  of each gold entity span (mean of its pieces), linear probe.
- **Relations**: SemEval-2010 Task 8 (train, all 8,000), the directed relation of each
  (e1, e2) pair, each side mean-pooled and concatenated, linear probe.

For each: accuracy per layer (mean over 3 seeds, splits by sentence 80/10/10, with the
majority baseline), then cumulative scalar-mix probing over layers 0..l (Tenney, Das &
Pavlick 2019) giving the expected layer with a bootstrap interval. Prints whether the
pipeline order POS < NER < relations holds, and as its last line a JSON object.

Run::

    PYTHONUNBUFFERED=1 .venv/bin/python benchmarks/probe_minilm.py   # about 5 minutes on 2 idle cores
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from geometry_data import data_dir  # noqa: E402

import lensnb  # noqa: E402
from lensnb.data import read_conll2003, read_conllu, read_semeval2010  # noqa: E402
from lensnb.probing.features import probing_data, span_pair_task, span_task, token_task  # noqa: E402
from lensnb.probing.scalar_mix import cumulative_probing  # noqa: E402
from lensnb.probing.sweep import probe_layers  # noqa: E402


def tasks(pos: int, ner: int, relations: int):
    root = data_dir()
    yield "POS", read_conllu(root / "ud_english_ewt" / "en_ewt-ud-train.conllu")[:pos], token_task("upos")
    sentences = [ex for ex in read_conll2003(root / "conll2003" / "train.txt") if ex.spans][:ner]
    yield "NER", sentences, span_task("label", pool="mean")
    pairs = read_semeval2010(root / "semeval2010_task8", "train")[:relations]
    yield "relations", pairs, span_pair_task("label", pool="mean")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pos-sentences", type=int, default=1500, help="UD EWT sentences (about 22 words each)")
    parser.add_argument("--ner-sentences", type=int, default=5000, help="CoNLL-2003 sentences with an entity")
    parser.add_argument("--relation-sentences", type=int, default=8000, help="SemEval sentences (one pair each)")
    parser.add_argument("--bootstrap", type=int, default=200)
    args = parser.parse_args()
    model = lensnb.load_model()
    summary: dict = {"model": model.name}
    for name, examples, task in tasks(args.pos_sentences, args.ner_sentences, args.relation_sentences):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # UD splits words like "cannot" that the tokenizer keeps whole
            acts = lensnb.extract(model, examples, progress=False)
        profile = probe_layers(acts, task, seeds=(0, 1, 2), progress=False)
        data = probing_data(acts, task)
        features = [data.features(layer) for layer in data.layers]
        cumulative = cumulative_probing(features, data.y, bootstrap=args.bootstrap, progress=False)
        seconds = time.perf_counter() - start
        majority = float(profile.details["majority_baseline"])
        interval = cumulative.details["expected_layer_interval"]
        print(
            f"\n{name}: {len(examples)} sentences, {data.n_items} items, {len(data.classes)} classes ({seconds:.0f} s)"
        )
        print("layer      " + " ".join(f"{layer:>6}" for layer in profile.layers))
        print("accuracy   " + " ".join(f"{v:6.3f}" for v in profile.values))
        print("+/-        " + " ".join(f"{e:6.3f}" for e in profile.errors))
        print(f"majority-class baseline {majority:.3f}")
        print("cumulative " + " ".join(f"{v:6.3f}" for v in cumulative.values))
        expected = float(cumulative.details["expected_layer"])
        print(f"expected layer {expected:.2f} (95% interval {interval[0]:.2f} to {interval[1]:.2f})")
        summary[name] = {
            "items": int(data.n_items),
            "classes": int(len(data.classes)),
            "accuracy": [round(float(v), 4) for v in profile.values],
            "accuracy_error": [round(float(v), 4) for v in profile.errors],
            "majority_baseline": round(majority, 4),
            "best_layer": int(profile.layers[int(np.argmax(profile.values))]),
            "cumulative": [round(float(v), 4) for v in cumulative.values],
            "expected_layer": round(expected, 3),
            "expected_layer_interval": [round(float(v), 3) for v in interval],
            "seconds": round(seconds, 1),
        }
    order = [summary[k]["expected_layer"] for k in ("POS", "NER", "relations")]
    intervals = [summary[k]["expected_layer_interval"] for k in ("POS", "NER", "relations")]
    summary["order_pos_ner_relations_holds"] = bool(order[0] < order[1] < order[2])
    summary["order_separated_by_intervals"] = bool(
        intervals[0][1] < intervals[1][0] and intervals[1][1] < intervals[2][0]
    )
    print(f"\nexpected layers POS {order[0]:.2f} < NER {order[1]:.2f} < relations {order[2]:.2f}: "
          f"{summary['order_pos_ner_relations_holds']} (intervals separate: {summary['order_separated_by_intervals']})")  # fmt: skip
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
