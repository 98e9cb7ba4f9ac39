"""Phrase masking in running text (pretrain_mlm.py --phrase-masking), after ERNIE 1.0's
phrase-level masking: where a known phrase (a 4-character idiom of corpus.idiom_headwords, a
line of corpus.quoted_verses) occurs in an ordinary sequence, exactly one of its characters is
masked and the others are left visible, so the model must recall the phrase from its other
characters and the text around it: the form of the demo 他做事总是半[MASK]而废.

Why: the derived list sources teach the phrases out of context (items 19m-19o of
training/README.md), and in context a strong neighbouring bigram (总是半 -> 半年) still wins.
Under plain 15% masking an idiom in text is a clean one-character cloze only ~37% of the times
it is seen. Torch-free, so that ctest can run its test with Debian's python3 alone.
"""
import collections


class PhraseMatcher:
    """Finds the phrases in a row: token ids (encode = the tokenizer's encode; each CJK
    character is one token of the bert-base-chinese vocabulary, and a phrase that does not
    encode to one token per character ([UNK], a Latin word) is left out), or plain text
    (encode = str). Candidates are looked up by length, only where a phrase can start."""

    def __init__(self, phrases, encode):
        self.key = str if encode is str else tuple
        self.by_len, self.firsts = {}, set()
        for p in phrases:
            ids = encode(p)
            if len(ids) == len(p) >= 2:
                self.by_len.setdefault(len(p), set()).add(self.key(ids))
                self.firsts.add(ids[0])
        self.lengths = sorted(self.by_len, reverse=True)

    def __len__(self):
        return sum(len(s) for s in self.by_len.values())

    def _length_at(self, row, j):
        """The length of the longest phrase starting at row[j], or 0."""
        if row[j] in self.firsts:
            for length in self.lengths:
                if j + length <= len(row) and self.key(row[j:j + length]) in self.by_len[length]:
                    return length
        return 0

    def spans(self, row):
        """[(start, length)] of the phrases in row, left to right, not overlapping; at one
        position the longest phrase wins."""
        out, j = [], 0
        while j < len(row):
            length = self._length_at(row, j)
            if length:
                out.append((j, length))
            j += length or 1
        return out

    def contains(self, row):
        return any(self._length_at(row, j) for j in range(len(row)))


def phrase_clozes(spans, prob, rng):
    """For each span, with probability prob: (start, length, masked position) with the masked
    position drawn uniformly inside the span."""
    out = []
    for start, length in spans:
        if rng.random() < prob:
            out.append((start, length, start + rng.randrange(length)))
    return out


def couplet_lines(couplet):
    """"床前明月光，疑是地上霜。" -> ["床前明月光", "疑是地上霜"]."""
    return couplet.rstrip("\u3002\uff1f\uff01\uff1b").split("\uff0c")


def phrase_list(headwords, verses):
    """The phrases matched in running text: the 4-character headwords (most idioms; the few
    3- and 5-8-character headwords are often ordinary words such as 安乐窝) and both lines of
    each quoted couplet."""
    out = [h for h in headwords if len(h) == 4]
    for couplet in verses:
        out.extend(couplet_lines(couplet))
    return out


def used_entries(headwords, verses, uses_by_source, min_uses, dictionary, anthology):
    """The entries of the two lists that running text uses (pretrain_mlm.py --list-min-uses):
    the headwords held by at least min_uses[0] lines of the sources other than dictionary (the
    idiom dictionary names each of its idioms at least once), and the couplets of which a line
    is held by at least min_uses[1] lines of the sources other than anthology (poetry, whose
    anthologies repeat poems). uses_by_source: scan_phrases' per-source uses. Why: drawn
    whole, the lists cost the general text (items 19n-19r of training/README.md); the idioms
    and verses people use get the passes that memorising needs for a fraction of the draws."""
    def uses_outside(skip):
        total = collections.Counter()
        for name, uses in uses_by_source.items():
            if name != skip:
                total.update(uses)
        return total
    idiom_uses, verse_uses = uses_outside(dictionary), uses_outside(anthology)
    return ([h for h in headwords if idiom_uses[h] >= min_uses[0]],
            [v for v in verses if max(verse_uses[p] for p in couplet_lines(v)) >= min_uses[1]])


# The derived source of --source-weight phrase_sentences=FACTOR (pretrain_mlm.py).
PHRASE_SENTENCES = "phrase_sentences"
_SENTENCE_END = "\u3002\uff01\uff1f\uff1b!?;\n"


def split_sentences(line):
    """line cut after each sentence-final mark (。！？； and their ASCII forms)."""
    out, start = [], 0
    for j, c in enumerate(line):
        if c in _SENTENCE_END:
            if j + 1 > start:
                out.append(line[start:j + 1])
            start = j + 1
    if start < len(line):
        out.append(line[start:])
    return out


def scan_phrases(sources, phrases):
    """One pass over the lines of sources ({name: lines}, taken in name order) gives both:
    - the sentences that hold one of phrases, each once, in order: the derived source
      phrase_sentences. Running text with an idiom or a quoted verse in it, packed as a source
      of its own, gives the phrase clozes of --phrase-masking several times as often as the
      ordinary mix (~0.15 idioms in 128 characters) while staying ordinary prose, unlike the
      lists;
    - {name: Counter phrase -> how many of its lines hold it}, for used_entries.
    A line where the matcher finds no phrase holds no sentence that does, so only lines with
    a span are cut into sentences. (Two separate scans took ~70 s more of pretrain_mlm.py's
    start-up.)"""
    matcher = PhraseMatcher(phrases, str)
    seen, sentences, uses_by_source = set(), [], {}
    for name in sorted(sources):
        uses = collections.Counter()
        for line in sources[name]:
            spans = matcher.spans(line)
            if not spans:
                continue
            uses.update({line[s:s + n] for s, n in spans})
            for sent in split_sentences(line):
                if sent not in seen and matcher.contains(sent):
                    seen.add(sent)
                    sentences.append(sent)
        uses_by_source[name] = uses
    return sentences, uses_by_source
