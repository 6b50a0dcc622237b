"""Writes the golden values of the caption metrics tested in engine/src/metrics/.

Reads tests/fixtures/golden/text_cases.json (one hypothesis and its references per item),
runs pycocoevalcap 1.2 exactly as its COCOEvalCap does (PTB tokenisation of the
references, then of the hypotheses; Bleu(4), METEOR, ROUGE-L, CIDEr-D), also runs the
bundled METEOR 1.5 jar restricted to the exact and stem modules (what Artemo's port
implements), and writes tests/fixtures/golden/text_expected.json with the tokenised
captions, the corpus scores and the per-item scores.

Requires: pip install -r tools/golden/requirements.txt, and java on the PATH.
Usage: python tools/golden/text_metrics.py [--cases CASES.json] [--out EXPECTED.json]
"""
import argparse
import json
import os
import subprocess
import sys

import pycocoevalcap
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
METEOR_DIR = os.path.join(list(pycocoevalcap.__path__)[0], "meteor")


class MeteorExactStem(Meteor):
    """pycocoevalcap's METEOR wrapper with the jar restricted to exact + stem."""

    def __init__(self):  # noqa: D401 - same protocol, other modules
        import threading

        self.meteor_cmd = ["java", "-jar", "-Xmx2G", "meteor-1.5.jar", "-", "-", "-stdio",
                           "-l", "en", "-norm", "-m", "exact stem", "-w", "1.0 0.6"]
        self.meteor_p = subprocess.Popen(self.meteor_cmd, cwd=METEOR_DIR,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE)
        self.lock = threading.Lock()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default=os.path.join(ROOT, "tests/fixtures/golden/text_cases.json"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests/fixtures/golden/text_expected.json"))
    args = ap.parse_args()
    with open(args.cases, encoding="utf-8") as f:
        cases = json.load(f)["cases"]
    ids = [c["id"] for c in cases]
    gts = {c["id"]: [{"caption": r} for r in c["references"]] for c in cases}
    res = {c["id"]: [{"caption": c["hypothesis"]}] for c in cases}
    tok = PTBTokenizer()
    gts = tok.tokenize(gts)
    res = tok.tokenize(res)

    corpus, per_item = {}, {}
    b, bs = Bleu(4).compute_score(gts, res, verbose=0)
    for k in range(4):
        corpus[f"Bleu_{k + 1}"] = float(b[k])
        per_item[f"Bleu_{k + 1}"] = [float(x) for x in bs[k]]
    for name, scorer in [("ROUGE_L", Rouge()), ("CIDEr", Cider())]:
        s, ss = scorer.compute_score(gts, res)
        corpus[name] = float(s)
        per_item[name] = [float(x) for x in ss]
    for name, cls in [("METEOR", Meteor), ("METEOR_exact_stem", MeteorExactStem)]:
        try:
            m = cls()
            s, ss = m.compute_score(gts, res)
            corpus[name] = float(s)
            per_item[name] = [float(x) for x in ss]
        except Exception as e:  # java or the jar missing: leave METEOR out
            print(f"{name} not computed: {e}", file=sys.stderr)

    out = {
        "generator": "tools/golden/text_metrics.py (pycocoevalcap 1.2)",
        "cases": os.path.relpath(args.cases, ROOT) if args.cases.startswith(ROOT) else args.cases,
        "ids": ids,
        "tokenized": [{"hypothesis": res[i][0], "references": gts[i]} for i in ids],
        "corpus": corpus,
        "per_item": per_item,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(json.dumps(corpus, indent=1))


if __name__ == "__main__":
    main()
