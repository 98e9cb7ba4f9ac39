"""training/phrase_masking.py: which spans of running text become one-character clozes (run by
ctest with Debian's python3; standard library only)."""
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "training"))
from phrase_masking import PhraseMatcher, phrase_clozes, phrase_list  # noqa: E402


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


if __name__ == "__main__":
    unittest.main()
