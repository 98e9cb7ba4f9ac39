"""training/anchor.py: which masked positions a stage with --anchor pulls towards its starting
model (run by ctest with Debian's python3; standard library only)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "training"))
from anchor import anchored_indices, cloze_positions  # noqa: E402


class Anchored(unittest.TestCase):
    def test_everything_anchored_without_lists_or_clozes(self):
        self.assertEqual(anchored_indices([3, 9, 17], 8), [0, 1, 2])

    def test_list_rows_are_free(self):
        # seq_len 8: flat 3 is row 0, 9 and 12 row 1, 17 row 2
        self.assertEqual(anchored_indices([3, 9, 12, 17], 8, free_rows=[1]), [0, 3])

    def test_clozes_are_free_but_not_the_rest_of_their_row(self):
        clozes = [(2, 0, 4, 1), (0, 4, 4, 6)]      # (row, start, length, k)
        free = cloze_positions(clozes, 8)
        self.assertEqual(free, [17, 6])
        self.assertEqual(anchored_indices([3, 6, 9, 17, 20], 8, free_positions=free), [0, 2, 4])

    def test_empty_batch(self):
        self.assertEqual(anchored_indices([], 8, [0], [1]), [])


if __name__ == "__main__":
    unittest.main()
