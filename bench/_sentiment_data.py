"""Public labelled tweet sets for the sentiment model, read from fetched git snapshots.

Shared by `train_sentiment.py` and `eval_sentiment.py`. Every set is read with
`git show COMMIT:PATH` from a snapshot of its repository, so a run names exactly which
data it used and nothing is copied into this project. `dedupe_key` is the text identity
used to keep evaluation tweets out of training (case, @handles, links and spacing
ignored: TweetEval rewrote handles to "@user").
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

MIRRORS = Path("/work/.mirror")


@dataclass(frozen=True)
class Source:
    """A repository snapshot: name, pinned commit, licence as its authors state it."""

    repo: str
    commit: str
    licence: str

    def git_dir(self, root: Path = MIRRORS) -> Path:
        return root / self.repo.replace("/", "+") / "repo"


#: SemEval-2013..2016 Task 4A English data: TweetEval's sentiment train split is built from
#: these tweets, and TweetEval's own train_text.txt (over 4 MiB) is not in its snapshot.
SEMEVAL = Source(
    "cbaziotis/datastories-semeval2017-task4", "faeee5fd1c2cf38e32179a4676dff53ae01adfa8",
    "repository MIT; tweets from the SemEval-2013..2016 Task 4 releases (research use, "
    "Twitter terms)")
TWEETEVAL = Source(
    "cardiffnlp/tweeteval", "4fbd22cd78421f05b1ecdb4fc5725bc7a7bd8f66",
    "'released without any restrictions', original data sets' licences and Twitter terms "
    "apply (TweetEval README)")
XLMT = Source(
    "cardiffnlp/xlm-t", "874214d64d96599eb869a033c22ec2cc57d19256",
    "repository Apache-2.0 (LICENSE, covers data/); French tweets from DEFT-2017 "
    "(Benamara et al. 2017)")

#: CMU ARK's Brown clusters of 56 million English tweets (Owoputi et al., NAACL 2013):
#: 216,856 words in 1,000 clusters. ark-tweet-nlp ships them as
#: src/main/resources/cmu/arktweetnlp/50mpaths2 (git blob 96aa63c0…), a file its snapshot
#: leaves out (over the size limit); AffectiveTweets carried the same file gzipped at this
#: commit, and `ark_clusters` checks that it is byte-identical to ark-tweet-nlp's blob.
ARK = Source(
    "brendano/ark-tweet-nlp", "72755ccd1b29ba8e1dbbb49efe57ba9723c0013b",
    "Apache-2.0 (LICENSE.txt: the authors' own files under src/, which hold the clusters; "
    "the tagger package as a whole is GPL through its dependencies, not used here)")
ARK_CLUSTERS_BLOB = "96aa63c000d7f5f73d7db0c63c675592a2ea1350"
ARK_CLUSTERS_CARRIER = Source(
    "felipebravom/AffectiveTweets", "730dbf5d8a0b5b1eca6a020758594d3f1950f797",
    "carrier only: resources/50mpaths2.txt.gz, identical to ark-tweet-nlp's 50mpaths2")

SEMEVAL_FILES = tuple(
    f"dataset/Subtask_A/downloaded/twitter-{name}-A.tsv"
    for name in ("2013train", "2013dev", "2013test", "2014sarcasm", "2014test", "2015train",
                 "2015test", "2016train", "2016dev", "2016devtest", "2016test"))
LABELS = ("negative", "neutral", "positive")  # TweetEval / xlm-t label ids 0, 1, 2
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_HANDLE = re.compile(r"@\w+")
_LINK = re.compile(r"https?://\S+|www\.\S+")


def git_show(source: Source, path: str, root: Path = MIRRORS) -> str:
    """The file at the pinned commit; raises FileNotFoundError with the fetch to run."""
    git_dir = source.git_dir(root)
    if not git_dir.exists():
        raise FileNotFoundError(f"{git_dir}: no snapshot of {source.repo} "
                                f"(fetch github:{source.repo})")
    done = subprocess.run(["git", "--git-dir", str(git_dir), "show",
                           f"{source.commit}:{path}"], capture_output=True, check=False)
    if done.returncode:
        raise FileNotFoundError(f"{source.repo}@{source.commit[:12]}:{path}: "
                                f"{done.stderr.decode(errors='replace').strip()}")
    return done.stdout.decode("utf-8")


def dedupe_key(text: str) -> str:
    text = _LINK.sub("http", _HANDLE.sub("@user", text.lower()))
    return " ".join(text.split())


def semeval_train(root: Path = MIRRORS) -> list[tuple[str, str]]:
    """(text, label) of the SemEval-2013..2016 English releases (2017 test excluded)."""
    rows = []
    for path in SEMEVAL_FILES:
        for line in git_show(SEMEVAL, path, root).splitlines():
            parts = line.split("\t")
            if len(parts) < 3 or parts[1] not in LABELS:
                continue
            text = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), parts[2]).strip()
            if len(text) > 1 and text[0] == text[-1] == '"':
                text = text[1:-1]
            if text and text != "Not Available":
                rows.append((text, parts[1]))
    return rows


def tweeteval_val(root: Path = MIRRORS) -> list[tuple[str, str]]:
    """TweetEval sentiment validation split (drawn from the same SemEval-2013..2016 pool)."""
    return _text_labels(TWEETEVAL, "datasets/sentiment/val", root)


def ark_clusters(root: Path = MIRRORS) -> list[tuple[str, str, int]]:
    """(bit path, word, count) of CMU ARK's 50mpaths2 Brown clusters, verified to be the
    file ark-tweet-nlp ships (same git blob id)."""
    git_dir = ARK_CLUSTERS_CARRIER.git_dir(root)
    if not git_dir.exists():
        raise FileNotFoundError(f"{git_dir}: no snapshot of {ARK_CLUSTERS_CARRIER.repo} "
                                f"(fetch github:{ARK_CLUSTERS_CARRIER.repo})")
    done = subprocess.run(["git", "--git-dir", str(git_dir), "show",
                           f"{ARK_CLUSTERS_CARRIER.commit}:resources/50mpaths2.txt.gz"],
                          capture_output=True, check=True)
    raw = gzip.decompress(done.stdout)
    blob = hashlib.sha1(b"blob %d\0" % len(raw) + raw).hexdigest()
    if blob != ARK_CLUSTERS_BLOB:
        raise ValueError(f"50mpaths2 from {ARK_CLUSTERS_CARRIER.repo}: git blob {blob}, "
                         f"not ark-tweet-nlp's {ARK_CLUSTERS_BLOB}")
    rows = []
    for line in raw.decode("utf-8").split("\n"):  # not splitlines: words hold \x1c, \u2028
        if not line:
            continue
        path, word, count = line.split("\t")
        rows.append((path, word, int(count)))
    return rows


def xlmt_french(split: str, root: Path = MIRRORS) -> list[tuple[str, str]]:
    """xlm-t French (DEFT-2017) split: "train", "val" or "test"."""
    return _text_labels(XLMT, f"data/sentiment/french/{split}", root)


def _text_labels(source: Source, stem: str, root: Path) -> list[tuple[str, str]]:
    texts = git_show(source, f"{stem}_text.txt", root).split("\n")
    labels = git_show(source, f"{stem}_labels.txt", root).split()
    texts = texts[: len(labels)]
    if len(texts) != len(labels):
        raise ValueError(f"{source.repo}:{stem}: {len(texts)} texts, {len(labels)} labels")
    return [(t, LABELS[int(lab)]) for t, lab in zip(texts, labels, strict=True)]


def read_csv(path: Path) -> list[tuple[str, str]]:
    """(text, label) rows of one of the shared dev CSV files."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [(r["text"], r["label"]) for r in csv.DictReader(handle)]


def half_of(text: str) -> str:
    """"tune" or "held-out": deterministic 50/50 split on blake2b of the text (the split
    every sentiment figure of the project uses)."""
    return "tune" if hashlib.blake2b(text.encode(), digest_size=1).digest()[0] & 1 else "held-out"


def macro_f1(gold: list[str], predicted: list[str]) -> float:
    """Unweighted mean of per-class F1 over the three classes."""
    scores = []
    for cls in LABELS:
        tp = sum(1 for g, p in zip(gold, predicted, strict=True) if g == cls and p == cls)
        fp = sum(1 for g, p in zip(gold, predicted, strict=True) if g != cls and p == cls)
        fn = sum(1 for g, p in zip(gold, predicted, strict=True) if g == cls and p != cls)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0)
    return sum(scores) / len(scores)
