#!/usr/bin/env python3
"""Build the differential-test corpus for engine/src/metrics/ptb/ (deterministic, >= 120,000 lines).

Sources: the shipped annotation utterances, GoEmotions comments, EmoBank sentences, the AIC painting
descriptions (HTML stripped, one sentence-ish chunk per line) and generated stress lines for every
section of docs/ptb-tokenizer.md. Characters that the jar treats as line breaks (which would shift
its line alignment) are replaced by spaces. The corpus is not committed; write it to /tmp:

    python3 tools/golden/ptb_corpus.py /tmp/ptb_corpus.txt
    ARTEMO_PTB_DIFF=/tmp/ptb_corpus.txt ARTEMO_PTB_JAR=.../stanford-corenlp-3.4.1.jar \
        cargo test -p artemo-engine --release ptb::tests::differential_against_jar -- --ignored --nocapture
"""
import csv
import glob
import html
import itertools
import os
import random
import re
import sys

ROOT = os.environ.get("ARTEMO_ROOT", "/work/main")
SHARED = os.environ.get("ARTEMO_SHARED", "/work/shared")
LINE_BREAKS = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\u2028\u2029]")


def clean(s):
    return LINE_BREAKS.sub(" ", s)


def shipped():
    out = []
    for f in sorted(glob.glob(os.path.join(ROOT, "assets/annotations/*.csv"))):
        with open(f, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row.get("utterance"):
                    out.append(row["utterance"])
    for f in sorted(glob.glob(os.path.join(SHARED, "data/text/goemotions/*.tsv"))):
        with open(f, encoding="utf-8") as fh:
            for line in fh:
                out.append(line.rstrip("\n").split("\t")[0])
    for f in sorted(glob.glob(os.path.join(SHARED, "data/text/emobank/*.csv"))):
        with open(f, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                out.append(row["text"])
    with open(os.path.join(ROOT, "assets/paintings/aic/paintings.csv"), newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            text = html.unescape(re.sub(r"<[^>]+>", " ", row.get("description") or ""))
            text = re.sub(r"\s+", " ", text).strip()
            if text:
                out.append(text)
                out.extend(s for s in re.split(r"(?<=[.!?])\s+", text) if s)
    return out


STRESS = [
    # contractions and clitics
    "I can't, won't, don't, isn't; it's they're we've you'll he'd I'm", "CAN'T WON'T Cannot GONNA wanna gotta lemme gimme",
    "'Twas 'tis 'em 'cause rock 'n' roll y'all y'know ol' ma'am o'clock O'Neil's", "dogs' toys the '90s '80 1990's ain't shan't",
    # quotes
    "He said \"hello\" and 'bye' to \"them\".", "x\"y\"z \"\"double\"\" ``a'' `b` 'a' 'a b", "\u201csmart\u201d \u2018single\u2019 it\u2019s \u00abg\u00bb \u201elow\u201c",
    "\"(x \"$5 \"'x \". \"1 \"\u00e9", "&quot;x&quot; &amp; &AMP; &lt;b&gt; &nbsp; &apos; &#39; &foo;",
    # dashes, ellipses, punctuation
    "a--b a---b a----b a-----b - x- -x \u2013 \u2014 \u2015 \u2012", "hmm... and.... . . . \u2026 a..b a...b a....b ..",
    "?! !? ?? !!! ?!? a*b a+b a=b a^b a~b a|b a\\b a/b and/or 24/7", "50% \u00a73 \u00a92020 \u00b0C x\u00b3 \u2606 \u2665",
    # abbreviations
    "The U.S. is big. I live in the U.S. The end.", "Mr. Smith met Dr. Jones at 5 p.m. Then they left.", "e.g. i.e. etc. et al. cf. vs. a.m.",
    "Apple Inc. The end. Apple Inc. the end. Jan. 5 Feb. The", "plan B. The plan B. Smith I. M. Pei J. Smith", "a.b.c. The U.K. Foo U.S.A. It",
    # numbers, currency
    "$3.50 \u00a34 \u20ac5 \u00a56 1,000 100,000.00 .5 5. 3.5% -5 +5 10:30 12:30pm", "1 1/2 cups 2\u00a03/4 \u00bd \u00bc 1\u00bd", "#1 #tag @user $100 US$5",
    # urls, emails, tags
    "see http://example.com/a?b=c. or https://x.org/p.html, www.site.com.", "mail me@example.org or a.b+c@mail.co.uk.", "<b>bold</b> <3 </3 <x",
    # brackets and emoticons
    "(hi) [hi] {hi} :) :-) :( ;) :D :p =) :o) 8) (: ): ^_^ o_O -_-", "AT&T Q&A R&D at&t a&b M&Ms AT&T's",
    # unicode
    "caf\u00e9 na\u00efve \u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac \u65e5\u672c\u8a9e emoji \U0001F600 ok", "a\u00a0b a\u2003b a\u3000b a\u200bb soft\u00adhyphen a\ufeffb a\ufffdb x\u0085y",
]

WORDS = ["painting", "It", "The", "sky", "Mr.", "U.S.", "Inc.", "etc.", "can't", "it's", "\"", "'", "(", ")", "--", "...", "3.50",
         "$", "A.", "B.", "she", "He", "They", "colors", "!", "?", ",", ";", ":", "-", "&", "x.y", "e.g.", "'s", "don't", "Jan.", "1/2",
         "www.x.com", "me@x.org", ":)", "\u2019", "\u201c", "\u201d", "\u2014", "I", "This", "In", "gonna", "cannot", "5", "1,000"]


def generated(n, seed=20261205):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(2, 14)
        parts = [rng.choice(WORDS) for _ in range(k)]
        sep = [rng.choice([" ", " ", " ", ""]) for _ in range(k)]
        out.append("".join(p + s for p, s in zip(parts, sep)).strip())
    return out


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "/tmp/ptb_corpus.txt"
    lines = [clean(s) for s in shipped()]
    lines += [clean(s) for s in STRESS] * 20
    need = max(0, 120_000 - len(lines)) + 10_000
    lines += generated(need)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    print(f"{path}: {len(lines)} lines")


if __name__ == "__main__":
    main()
