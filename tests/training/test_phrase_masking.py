"""training/phrase_masking.py: which spans of running text become one-character clozes (run by
ctest with Debian's python3; standard library only)."""
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "training"))
from phrase_masking import (PhraseMatcher, couplet_lines, phrase_clozes, phrase_list,  # noqa: E402
                            scan_phrases, split_sentences, used_entries)


def encode(text):
    """One id per character, as bert-base-chinese gives for CJK; 'X' stands for a word that
    is not one token a character."""
    return [ord(c) for c in text if c != "X"]


class Matcher(unittest.TestCase):
    def test_finds_phrases_left_to_right(self):
        m = PhraseMatcher(["半途而废", "床前明月光"], encode)
        row = encode("他做事总是半途而废，床前明月光")
        self.assertEqual(m.spans(row), [(5, 4), (10, 5)])

    def test_longest_phrase_wins_and_spans_do_not_overlap(self):
        m = PhraseMatcher(["一心一意", "一心一意地走"], encode)
        self.assertEqual(m.spans(encode("一心一意地走一心一意")), [(0, 6), (6, 4)])

    def test_phrase_not_one_token_a_character_is_left_out(self):
        m = PhraseMatcher(["半途X废", "A"], encode)
        self.assertEqual(len(m), 0)
        self.assertEqual(m.spans(encode("半途废")), [])

    def test_no_phrase_no_span(self):
        self.assertEqual(PhraseMatcher(["半途而废"], encode).spans(encode("半途而已")), [])

    def test_plain_text(self):
        m = PhraseMatcher(["半途而废", "床前明月光"], str)
        self.assertEqual(m.spans("他做事总是半途而废，床前明月光"), [(5, 4), (10, 5)])
        self.assertTrue(m.contains("总是半途而废。"))
        self.assertFalse(m.contains("总是半途而已。"))
        self.assertFalse(m.contains("半途而"))   # a phrase cut at the end of the row


class Clozes(unittest.TestCase):
    def test_one_position_inside_each_span(self):
        spans = [(3, 4), (20, 7)]
        for seed in range(50):
            out = phrase_clozes(spans, 1.0, random.Random(seed))
            self.assertEqual([(s, n) for s, n, _ in out], spans)
            for s, n, k in out:
                self.assertTrue(s <= k < s + n)

    def test_probability(self):
        rng = random.Random(1)
        hits = sum(len(phrase_clozes([(0, 4)], 0.3, rng)) for _ in range(10000))
        self.assertAlmostEqual(hits / 10000, 0.3, delta=0.02)
        self.assertEqual(phrase_clozes([(0, 4)], 0.0, rng), [])


class Phrases(unittest.TestCase):
    def test_four_character_headwords_and_both_verse_lines(self):
        self.assertEqual(phrase_list(["安乐窝", "半途而废", "哀莫大于心死"], ["床前明月光，疑是地上霜。"]),
                         ["半途而废", "床前明月光", "疑是地上霜"])


class UsedEntries(unittest.TestCase):
    HEADWORDS = ["半途而废", "画蛇添足", "守株待兔"]
    VERSES = ["床前明月光，疑是地上霜。", "白日依山尽，黄河入海流。"]

    def uses(self, sources):
        phrases = phrase_list(self.HEADWORDS, self.VERSES)
        return scan_phrases(sources, phrases)[1]

    def test_uses_count_lines_not_occurrences(self):
        uses = scan_phrases({"news": ["半途而废，半途而废。", "不要半途而废", "画蛇添"]},
                            ["半途而废", "画蛇添足"])[1]
        self.assertEqual(uses, {"news": {"半途而废": 2}})

    def test_entries_kept_by_uses_outside_their_own_source(self):
        uses = self.uses({
            # the dictionary and the anthology name their own entries: not counted for them
            "dict": ["半途而废：做事不能坚持到底。", "画蛇添足：多此一举。", "守株待兔：死守经验。"],
            "poetry": ["床前明月光，疑是地上霜。", "白日依山尽，黄河入海流。"] * 3,
            "news": ["他做事总是半途而废。", "半途而废不可取", "不要画蛇添足", "他念床前明月光"],
            "novels": ["半途而废的人", "举头望明月：床前明月光", "黄河入海流"],
        })
        self.assertEqual(used_entries(self.HEADWORDS, self.VERSES, uses, [2, 2], "dict", "poetry"),
                         (["半途而废"], ["床前明月光，疑是地上霜。"]))
        self.assertEqual(used_entries(self.HEADWORDS, self.VERSES, uses, [1, 1], "dict", "poetry"),
                         (["半途而废", "画蛇添足"], self.VERSES))
        self.assertEqual(used_entries(self.HEADWORDS, self.VERSES, uses, [0, 0], "dict", "poetry"),
                         (self.HEADWORDS, self.VERSES))
        self.assertEqual(used_entries(self.HEADWORDS, self.VERSES, uses, [4, 9], "dict", "poetry"),
                         ([], []))

    def test_couplet_lines(self):
        self.assertEqual(couplet_lines("床前明月光，疑是地上霜。"), ["床前明月光", "疑是地上霜"])


class Sentences(unittest.TestCase):
    PHRASES = ["半途而废", "床前明月光", "疑是地上霜"]

    def test_sentences_with_a_phrase_each_once_in_source_name_order(self):
        sources = {"b": ["他做事总是半途而废。今天天气真好！", "李白写道：床前明月光，疑是地上霜。"],
                   "a": ["不要半途而废！不要半途而废！", "没有成语。"]}
        self.assertEqual(scan_phrases(sources, self.PHRASES)[0],
                         ["不要半途而废！", "他做事总是半途而废。", "李白写道：床前明月光，疑是地上霜。"])

    def test_same_as_cutting_every_line(self):
        # the scan cuts only lines with a span into sentences; cutting every line must agree
        lines = ["甲半途而废；乙不", "途而废。半途", "而废", "床前明月光", "总是半途而", "废！"] * 2
        matcher = PhraseMatcher(self.PHRASES, str)
        every = []
        for line in lines:
            every += [t for t in split_sentences(line) if matcher.contains(t) and t not in every]
        self.assertEqual(scan_phrases({"x": lines}, self.PHRASES)[0], every)
        self.assertEqual(every, ["甲半途而废；", "床前明月光"])


if __name__ == "__main__":
    unittest.main()
