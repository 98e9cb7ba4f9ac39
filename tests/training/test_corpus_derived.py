"""training/corpus.py: the derived sources idiom_headwords and quoted_verses, and the packer's
bare line endings and lone lines (run by ctest with Debian's python3; standard library only)."""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "training"))
from corpus import Packer, bare_ending, idiom_headwords, quoted_verses  # noqa: E402


class IdiomHeadwords(unittest.TestCase):
    def test_headword_before_the_full_width_colon(self):
        self.assertEqual(idiom_headwords(["半途而废：废：停止。指做事不能坚持到底。"]), ["半途而废"])

    def test_three_to_eight_cjk_characters_only(self):
        lines = ["安乐窝：泛指安静舒适的住处。",          # 3: kept
                 "哀莫大于心死：指最可悲哀的事。",        # 6: kept
                 "爱之欲其生，恶之欲其死：喜爱他时。",    # punctuation: a saying, not a headword
                 "好：太短。",                            # 1 character
                 "一二三四五六七八九：太长。",            # 9 characters
                 "ABCD：latin letters",
                 "外甥打灯笼——照舅（旧）"]                # xiehouyu: no colon
        self.assertEqual(idiom_headwords(lines), ["安乐窝", "哀莫大于心死"])

    def test_each_once_in_corpus_order(self):
        lines = ["有始无终：有开始没有结尾。", "半途而废：中途停顿。", "有始无终：又一条。"]
        self.assertEqual(idiom_headwords(lines), ["有始无终", "半途而废"])

    def test_ascii_colon_is_not_a_headword_separator(self):
        self.assertEqual(idiom_headwords(["半途而废:废"]), [])



POEM = "床前明月光，疑是地上霜。举头望明月，低头思故乡。"
QUOTES = ["床前明月光，是谁写的", "他念起举头望明月，低头思故乡。", "“低头思故乡”"]


class QuotedVerses(unittest.TestCase):
    def test_couplets_with_a_line_quoted_three_times(self):
        # Lines are counted as whole clauses: 低头思故乡 is in the poem and three other lines,
        # 床前明月光 in the poem and one other, 疑是地上霜 only in the poem.
        self.assertEqual(quoted_verses([POEM], [POEM] + QUOTES), ["举头望明月，低头思故乡。"])
        self.assertEqual(quoted_verses([POEM], [POEM] + QUOTES, min_quotes=2),
                         ["床前明月光，疑是地上霜。", "举头望明月，低头思故乡。"])

    def test_counts_lines_not_occurrences(self):
        once = "低头思故乡，低头思故乡，低头思故乡"
        self.assertEqual(quoted_verses([POEM], [POEM, once]), [])

    def test_only_regular_couplets_of_five_or_seven(self):
        lines = ["白日依山尽，黄河入海流，欲穷千里目。",   # three lines: not a couplet
                 "春眠不觉晓，处处闻啼鸟啊。",             # 5 + 6
                 "一二三四，五六七八。",                  # 4 + 4
                 "千山鸟飞绝！万径人踪灭！"]               # ends at ！: two sentences of one line
        everywhere = lines * 3
        self.assertEqual(quoted_verses(lines, everywhere, min_quotes=1), [])

    def test_each_once_and_not_what_a_heldout_line_holds(self):
        poems = [POEM, POEM.replace("。", "？", 1)]
        self.assertEqual(quoted_verses(poems, poems, min_quotes=1),
                         ["床前明月光，疑是地上霜。", "举头望明月，低头思故乡。",
                          "床前明月光，疑是地上霜？"])
        self.assertEqual(quoted_verses([POEM], [POEM], ["诗云：举头望明月，低头思故乡"],
                                       min_quotes=1), ["床前明月光，疑是地上霜。"])


class BareEnding(unittest.TestCase):
    def test_trailing_sentence_final_marks_go(self):
        self.assertEqual(bare_ending("床前明月光，疑是地上霜。"), "床前明月光，疑是地上霜")
        self.assertEqual(bare_ending("真的吗？！"), "真的吗")
        self.assertEqual(bare_ending("Really?!"), "Really")

    def test_inner_marks_and_other_endings_stay(self):
        self.assertEqual(bare_ending("他来了。我走了"), "他来了。我走了")
        self.assertEqual(bare_ending("他说：“好。”"), "他说：“好。”")
        self.assertEqual(bare_ending("半途而废"), "半途而废")

    def test_a_line_of_marks_only_stays(self):
        self.assertEqual(bare_ending("。。。"), "。。。")


class CharTokenizer:
    """One id per character; [PAD] = 0, [CLS] = 1, [SEP] = 2."""
    pad_id, cls_id, sep_id = 0, 1, 2

    def encode(self, text):
        return [ord(c) for c in text]


def packed_text(packer, n):
    """n sequences as text, [CLS] and [SEP] left out (a line cut at a sequence's end goes on in
    the next one, so the lines read whole)."""
    return ["".join(chr(t) for t in packer.next_sequence() if t > 2) for _ in range(n)]


class PackerBareEnd(unittest.TestCase):
    LINES = {"a": [f"第{i}句话。" for i in range(40)]}

    def test_share_zero_keeps_every_line(self):
        text = "".join(packed_text(Packer(self.LINES, CharTokenizer(), 16, seed=3), 20))
        self.assertGreater(text.count("话。"), 20)
        self.assertEqual(re.findall("话(?=[^。])", text), [])   # (the last line may be cut)

    def test_share_one_drops_every_final_mark(self):
        text = "".join(packed_text(Packer(self.LINES, CharTokenizer(), 16, seed=3, bare_end=1.0), 20))
        self.assertGreater(text.count("话"), 20)
        self.assertEqual(text.count("。"), 0)

    def test_a_share_between_and_a_resume_repeats_it(self):
        first = Packer(self.LINES, CharTokenizer(), 16, seed=3, bare_end=0.5)
        packed_text(first, 7)
        state = first.state_dict()
        after = packed_text(first, 30)
        resumed = Packer(self.LINES, CharTokenizer(), 16, seed=3, bare_end=0.5)
        resumed.load_state_dict(state)
        self.assertEqual(packed_text(resumed, 30), after)
        text = "".join(after)
        bare = len(re.findall("话(?=[^。])", text))
        self.assertTrue(0.25 < bare / text.count("话") < 0.75, (bare, text.count("话")))


class PackerLoneLines(unittest.TestCase):
    LINES = {"a": [f"第{i}句话。" for i in range(40)], "b": ["很长的一行" * 10]}

    def test_one_whole_line_then_padding(self):
        packer = Packer({"a": self.LINES["a"]}, CharTokenizer(), 16, seed=3)
        seq = packer.next_lone_line()
        self.assertEqual(len(seq), 16)
        text = "".join(chr(t) for t in seq if t > 2)
        self.assertRegex(text, r"^第\d+句话。$")
        self.assertEqual(seq[0], 1)
        self.assertEqual(seq[len(text) + 1:], [2] + [0] * (14 - len(text)))

    def test_a_long_line_is_cut_to_fit(self):
        seq = Packer({"b": self.LINES["b"]}, CharTokenizer(), 16, seed=3).next_lone_line()
        self.assertEqual(len(seq), 16)
        self.assertEqual((seq[0], seq[-1]), (1, 2))
        self.assertEqual("".join(chr(t) for t in seq[1:-1]), ("很长的一行" * 10)[:14])

    def test_the_rest_of_a_cut_line_is_skipped(self):
        packer = Packer({"a": self.LINES["a"]}, CharTokenizer(), 10, seed=3)
        packed = "".join(chr(t) for t in packer.next_sequence() if t > 2)
        lone = "".join(chr(t) for t in packer.next_lone_line() if t > 2)
        self.assertFalse(packed.endswith("。"), packed)    # 10 tokens end inside a line
        self.assertRegex(lone, r"^第\d+句话。$")
        self.assertNotIn(lone, packed)

    def test_bare_endings_apply_and_a_resume_repeats_lone_lines(self):
        first = Packer(self.LINES, CharTokenizer(), 16, seed=3, bare_end=1.0)
        first.next_sequence()
        state = first.state_dict()
        after = [first.next_lone_line() for _ in range(10)]
        resumed = Packer(self.LINES, CharTokenizer(), 16, seed=3, bare_end=1.0)
        resumed.load_state_dict(state)
        self.assertEqual([resumed.next_lone_line() for _ in range(10)], after)
        self.assertNotIn(ord("。"), sum(after, []))


if __name__ == "__main__":
    unittest.main()
