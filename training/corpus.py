"""Pretraining corpus: loading, the held-out rule, and a resumable mixed-source packer.

Held-out rule (shared with eval_fill_mask.py): in every corpus file, line i (0-based) with
i % HELDOUT_EVERY == 0 is never used for pretraining. In addition, lines of
ner_train_text.txt that share a 12-character window with the MSRA dev split used by
finetune_ner.py are dropped, so the NER dev sentences are unseen even as raw text.

Two sources are derived rather than read (only when a run asks for them): idiom_headwords, the
idioms that head the dictionary entries of idioms_xiehouyu's training lines, one a line; and
quoted_verses, the couplets of poetry's training lines that the rest of the corpus quotes.
"""
import collections
import glob
import json
import lzma
import os
import random
import re
import zlib

from phrase_masking import couplet_lines
from zh_tokenizer import is_cjk

HELDOUT_EVERY = 200
NER_DEV_EVERY = 20   # finetune_ner.py: MSRA train line_no % 20 == 0 -> dev
WINDOW = 12

# ../shared beside the repository (as CI lays it out), or TANZHEN_SHARED_DIR.
SHARED = os.environ.get("TANZHEN_SHARED_DIR", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared"))
CORPUS_GLOB = os.path.join(SHARED, "corpus", "*.txt.xz")
MSRA_TRAIN = os.path.join(SHARED, "data", "msra", "train.jsonl")


def read_lines(path):
    with lzma.open(path, "rt", encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def msra_dev_texts():
    out = []
    with open(MSRA_TRAIN, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i % NER_DEV_EVERY == 0:
                out.append(json.loads(line)["text"])
    return out


def _dev_filter():
    texts = msra_dev_texts()
    windows, whole = set(), set()
    for t in texts:
        if len(t) < WINDOW:
            whole.add(t)
        for j in range(len(t) - WINDOW + 1):
            windows.add(t[j:j + WINDOW])

    def overlaps(line):
        if line in whole:
            return True
        return any(line[j:j + WINDOW] in windows for j in range(len(line) - WINDOW + 1))
    return overlaps


def _cjk_only(text):
    return all(is_cjk(ord(c)) for c in text)


# The derived source: "半途而废：废：停止。指做事不能坚持到底…" -> "半途而废".
HEADWORDS = "idiom_headwords"
HEADWORD_CHARS = (3, 8)


def idiom_headwords(idiom_lines):
    """The headwords of the dictionary entries among idiom_lines: the text before the first
    full-width colon when it is 3-8 CJK characters (the xiehouyu riddles and the longer sayings,
    which hold punctuation, are left out), each once, in corpus order. A 4-layer model does not
    learn idioms from their scattered occurrences (training/README.md, item 19m): as a list they
    cost 5 tokens an idiom, against ~100 for a whole dictionary entry."""
    seen, out = set(), []
    for line in idiom_lines:
        head, colon, _ = line.partition("\uff1a")
        if (colon and HEADWORD_CHARS[0] <= len(head) <= HEADWORD_CHARS[1]
                and _cjk_only(head) and head not in seen):
            seen.add(head)
            out.append(head)
    return out


# The derived source: "床前明月光，疑是地上霜。举头望明月，低头思故乡。" -> its two couplets, when
# one of their lines is quoted in at least VERSE_MIN_QUOTES training lines of the corpus.
VERSES = "quoted_verses"
VERSE_MIN_QUOTES = 3
_CLAUSE_SPLIT = re.compile(r"[\s\uff0c\u3002\uff1f\uff01\uff1b\u3001\uff1a\u201c\u201d\u2018\u2019\u300a\u300b\uff08\uff09,.?!;:]+")
_SENTENCE = re.compile(r"[^\u3002\uff1f\uff01\uff1b]+[\u3002\uff1f\uff01\uff1b]?")


def _verse_line(clause):
    return len(clause) in (5, 7) and _cjk_only(clause)


def quoted_verses(poetry_lines, all_training_lines, heldout_lines=(), min_quotes=VERSE_MIN_QUOTES):
    """The regular couplets ("5 or 7 characters，the same。") of poetry_lines of which one line
    occurs, as a whole clause between punctuation marks, in at least min_quotes distinct lines
    of all_training_lines (anthologies, novels and questions quoting it: the verses people know
    and test a model on), each once, in corpus order, without those that a held-out line holds
    verbatim. A 4-layer model sees each poem a few times in a pass over 92 M characters and does
    not keep it (training/README.md item 19n); the 2,706 quoted couplets cost ~40 k tokens a
    pass."""
    candidates = []
    for line in poetry_lines:
        for sent in _SENTENCE.findall(line):
            parts = couplet_lines(sent)
            if len(parts) == 2 and len(parts[0]) == len(parts[1]) and _verse_line(parts[0]) \
                    and _verse_line(parts[1]):
                candidates.append((sent, parts))
    wanted = {p for _, parts in candidates for p in parts}
    quotes = collections.Counter()
    for line in all_training_lines:
        for clause in set(_CLAUSE_SPLIT.split(line)) & wanted:
            quotes[clause] += 1
    heldout = "\n".join(heldout_lines)
    seen, out = set(), []
    for sent, parts in candidates:
        if sent in seen or max(quotes[p] for p in parts) < min_quotes:
            continue
        seen.add(sent)
        if "\uff0c".join(parts) not in heldout:
            out.append(sent)
    return out


# Sources that are lists of short entries rather than running text.
LIST_SOURCES = (HEADWORDS, VERSES)


def load_sources(heldout=False, headwords=False, verses=False, names=None):
    """{name: [lines]} for training (heldout=False) or the held-out slice (heldout=True); with
    headwords (training only), also the derived source HEADWORDS from idioms_xiehouyu's training
    lines, so no held-out entry's idiom is in it; with verses (training only, all files read),
    also the derived source VERSES. names: read only these files (all if None)."""
    overlaps = None
    sources, held = {}, []   # held: every file's held-out slice, which quoted_verses leaves out
    for path in sorted(glob.glob(CORPUS_GLOB)):
        name = os.path.basename(path)[:-len(".txt.xz")]
        if names is not None and name not in names:
            continue
        lines = read_lines(path)
        if heldout:
            sources[name] = lines[::HELDOUT_EVERY]
            continue
        if verses:
            held += lines[::HELDOUT_EVERY]
        keep = [l for i, l in enumerate(lines) if i % HELDOUT_EVERY != 0]
        if name == "ner_train_text":
            overlaps = overlaps or _dev_filter()
            keep = [l for l in keep if not overlaps(l)]
        sources[name] = keep
    derived = {}
    if verses and not heldout:
        derived[VERSES] = quoted_verses(sources["poetry"],
                                        (l for ls in sources.values() for l in ls), held)
    if headwords and not heldout:
        derived[HEADWORDS] = idiom_headwords(sources["idioms_xiehouyu"])
    sources.update(derived)
    return sources


# Marks that end a sentence; bare_ending drops a run of them at the end of a line. Wider than
# phrase_masking._SENTENCE_END, which cuts lines *inside* into sentences: there "." may be a
# decimal point and "…" a pause, but at the very end of a line both close it (stage mlm29-bare
# was trained with this set, so it stays as it is).
SENTENCE_FINAL = "\u3002\uff01\uff1f\uff1b\u2026.!?;"


def bare_ending(line):
    """line without its trailing sentence-final marks ("床前明月光，疑是地上霜。" -> "...地上霜"),
    unchanged if nothing else would be left. Why (training/README.md, item 19w): in the corpus
    nearly every line, and every list couplet, ends in 。 before its [SEP], while the texts people
    type into fill-mask (床前明月光，疑是地[MASK]霜) usually end without one; the models that knew
    the verse answered 上 with the 。 and 下 without it."""
    bare = line.rstrip(SENTENCE_FINAL)
    return bare if bare else line


def _drawn(key, share):
    """True for a fixed share of keys: a pure function of key, so a resumed run repeats it."""
    return zlib.crc32(key.encode()) < share * 2 ** 32


class Packer:
    """Packs consecutive lines of one source into fixed-length sequences
    [CLS] a [SEP] b [SEP] ... (always exactly seq_len tokens, no padding; a line cut at the end
    continues in that source's next sequence). The source of each sequence is drawn with
    probability proportional to chars**alpha, times boost[name] for the sources named in boost
    (a stage that emphasises one domain). With bare_end > 0, that share of the lines lose their
    sentence-final marks (bare_ending). All state is in state_dict() for exact resume."""

    def __init__(self, sources, tokenizer, seq_len, seed=1234, alpha=0.7, boost=None,
                 bare_end=0.0):
        self.tok = tokenizer
        self.seq_len = seq_len
        self.names = sorted(sources)
        self.lines = [sources[n] for n in self.names]
        sizes = [sum(len(l) for l in ls) for ls in self.lines]
        boost = dict(boost or {})
        unknown = sorted(set(boost) - set(self.names))
        if unknown:
            raise ValueError(f"no corpus source named {', '.join(unknown)}")
        w = [s ** alpha * boost.get(n, 1.0) for n, s in zip(self.names, sizes)]
        self.weights = [x / sum(w) for x in w]
        self.seed = seed
        self.bare_end = bare_end
        self.last_name = None   # the source of the row next_sequence / next_lone_line returned last
        self.rng = random.Random(seed)
        self.epoch = [0] * len(self.names)
        self.ptr = [0] * len(self.names)
        self.offset = [0] * len(self.names)   # token offset inside the current line
        self.orders = [self._order(i) for i in range(len(self.names))]
        self._cache = {}

    def _order(self, i):
        order = list(range(len(self.lines[i])))
        random.Random(f"{self.seed}-{self.names[i]}-{self.epoch[i]}").shuffle(order)
        return order

    def _line_tokens(self, i):
        key = (i, self.epoch[i], self.ptr[i])
        ids = self._cache.get(key)
        if ids is None:
            if len(self._cache) > 4096:
                self._cache.clear()
            line = self.lines[i][self.orders[i][self.ptr[i]]]
            if self.bare_end > 0 and _drawn(f"{self.seed}-{key}", self.bare_end):
                line = bare_ending(line)
            ids = self.tok.encode(line)
            self._cache[key] = ids
        return ids

    def _advance(self, i):
        self.ptr[i] += 1
        self.offset[i] = 0
        if self.ptr[i] >= len(self.orders[i]):
            self.epoch[i] += 1
            self.ptr[i] = 0
            self.orders[i] = self._order(i)

    def _draw_source(self):
        """The index of the next row's source, drawn by weight; its name becomes last_name."""
        i = self.rng.choices(range(len(self.names)), weights=self.weights)[0]
        self.last_name = self.names[i]
        return i

    def next_sequence(self):
        i = self._draw_source()
        seq = [self.tok.cls_id]
        while len(seq) < self.seq_len:
            ids = self._line_tokens(i)
            room = self.seq_len - len(seq)
            rest = ids[self.offset[i]:]
            if not rest:
                self._advance(i)
                continue
            if len(rest) + 1 <= room:
                seq.extend(rest)
                seq.append(self.tok.sep_id)
                self._advance(i)
            else:
                seq.extend(rest[:room])
                self.offset[i] += room
        return seq

    def next_lone_line(self):
        """One line on its own: [CLS] line [SEP], then [PAD] up to seq_len (the line cut to fit),
        from a source drawn as in next_sequence. A text typed into fill-mask is one short line
        with nothing around it, while a packed sequence gives every line neighbours from the
        same source that tell the model what kind of text it is in. The rest of a line that a
        packed sequence cut is skipped, so every lone line starts where its line starts."""
        i = self._draw_source()
        if self.offset[i]:
            self._advance(i)
        seq = [self.tok.cls_id] + self._line_tokens(i)[:self.seq_len - 2] + [self.tok.sep_id]
        self._advance(i)
        return seq + [self.tok.pad_id] * (self.seq_len - len(seq))

    def state_dict(self):
        return {"rng": self.rng.getstate(), "epoch": list(self.epoch), "ptr": list(self.ptr),
                "offset": list(self.offset), "names": self.names}

    def load_state_dict(self, st):
        assert st["names"] == self.names, "corpus files changed since the checkpoint"
        self.rng.setstate(st["rng"])
        self.epoch, self.ptr, self.offset = list(st["epoch"]), list(st["ptr"]), list(st["offset"])
        self.orders = [self._order(i) for i in range(len(self.names))]
