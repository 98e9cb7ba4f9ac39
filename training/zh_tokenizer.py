"""A faithful re-implementation of Hugging Face's BertTokenizer for bert-base-chinese.

Settings match /work/shared/vocab/bert-base-chinese/tokenizer.json: BertNormalizer with
clean_text, handle_chinese_chars, no accent stripping, no lower-casing; BertPreTokenizer
(whitespace + punctuation split); WordPiece with '##' continuation, max 100 chars per word.
Every token also carries its code-point span [start, end) in the input text, which the NER
scripts need to map character-offset entities to tokens.
"""
import os
import unicodedata

DEFAULT_VOCAB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared",
                             "vocab", "bert-base-chinese", "vocab.txt")
if not os.path.exists(DEFAULT_VOCAB):
    DEFAULT_VOCAB = "/work/shared/vocab/bert-base-chinese/vocab.txt"

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIALS = (PAD, UNK, CLS, SEP, MASK)


def is_cjk(cp):
    # Same ranges as BertTokenizer._is_chinese_char.
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def _is_whitespace(ch):
    if ch in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(ch) == "Zs"


def _is_control(ch):
    if ch in ("\t", "\n", "\r"):
        return False
    # Any "Other" category (Cc, Cf, Cs, Co, Cn), as in the Rust tokenizers crate.
    return unicodedata.category(ch).startswith("C")


def _is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


class ZhTokenizer:
    def __init__(self, vocab_path=DEFAULT_VOCAB):
        with open(vocab_path, encoding="utf-8") as f:
            self.itos = [line.rstrip("\n") for line in f]
        self.vocab = {t: i for i, t in enumerate(self.itos)}
        self.pad_id, self.unk_id = self.vocab[PAD], self.vocab[UNK]
        self.cls_id, self.sep_id, self.mask_id = self.vocab[CLS], self.vocab[SEP], self.vocab[MASK]
        # Cache of single-character classification: 0 = drop, 1 = whitespace,
        # 2 = isolated token (CJK or punctuation), 3 = part of a word.
        self._kind = {}

    def _char_kind(self, ch):
        k = self._kind.get(ch)
        if k is None:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or _is_control(ch):
                k = 0
            elif _is_whitespace(ch):
                k = 1
            elif is_cjk(cp) or _is_punctuation(ch):
                k = 2
            else:
                k = 3
            self._kind[ch] = k
        return k

    def _wordpiece(self, word, pos, out_ids, out_spans):
        # pos[i] is the code-point offset of word[i]; removed control characters do not
        # split a word (BertNormalizer drops them before pre-tokenization).
        if len(word) > 100:
            out_ids.append(self.unk_id)
            out_spans.append((pos[0], pos[-1] + 1))
            return
        pieces, spans = [], []
        s = 0
        while s < len(word):
            e = len(word)
            cur = None
            while s < e:
                sub = word[s:e] if s == 0 else "##" + word[s:e]
                tid = self.vocab.get(sub)
                if tid is not None:
                    cur = tid
                    break
                e -= 1
            if cur is None:
                out_ids.append(self.unk_id)
                out_spans.append((pos[0], pos[-1] + 1))
                return
            pieces.append(cur)
            spans.append((pos[s], pos[e - 1] + 1))
            s = e
        out_ids.extend(pieces)
        out_spans.extend(spans)

    def tokenize_with_spans(self, text):
        """Returns (ids, spans) without [CLS]/[SEP]; spans are code-point offsets.

        Special tokens written literally in the text ("[MASK]", ...) are matched first, as the
        Hugging Face added-token splitter does."""
        if "[" not in text:
            return self._tokenize_plain(text, 0)
        ids, spans = [], []
        pos = 0
        while True:
            hit = -1
            for tok in SPECIALS:
                j = text.find(tok, pos)
                if j >= 0 and (hit < 0 or j < hit):
                    hit, hit_tok = j, tok
            if hit < 0:
                break
            a, b = self._tokenize_plain(text[pos:hit], pos)
            ids += a
            spans += b
            ids.append(self.vocab[hit_tok])
            spans.append((hit, hit + len(hit_tok)))
            pos = hit + len(hit_tok)
        a, b = self._tokenize_plain(text[pos:], pos)
        return ids + a, spans + b

    def _tokenize_plain(self, text, base):
        ids, spans = [], []
        word, pos = [], []
        vocab_get = self.vocab.get
        for i, ch in enumerate(text):
            k = self._char_kind(ch)
            if k == 0:
                continue
            if k == 3:
                word.append(ch)
                pos.append(base + i)
                continue
            if word:
                self._wordpiece("".join(word), pos, ids, spans)
                word, pos = [], []
            if k == 2:
                ids.append(vocab_get(ch, self.unk_id))
                spans.append((base + i, base + i + 1))
        if word:
            self._wordpiece("".join(word), pos, ids, spans)
        return ids, spans

    def encode(self, text):
        return self.tokenize_with_spans(text)[0]

    def convert_ids_to_tokens(self, ids):
        return [self.itos[i] for i in ids]
