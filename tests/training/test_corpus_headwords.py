"""training/corpus.py: the derived idiom_headwords source (run by ctest with Debian's python3;
standard library only)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "training"))
from corpus import idiom_headwords  # noqa: E402


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


if __name__ == "__main__":
    unittest.main()
