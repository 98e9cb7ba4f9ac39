"""Anchoring a continued masked-LM stage to the model it starts from (training/README.md,
item 19u).

Stages that draw the idiom and couplet lists teach them, but every one of them also moved the
model's answers on ordinary text (今天天气真[MASK]啊: 好 fell behind 的 / 正). With an anchor, the
masked positions of ordinary text are also pulled towards the frozen starting model's
distribution (KL(anchor || model), as in "learning without forgetting"), while the positions
that carry the new knowledge -- every position of a list row, each phrase cloze -- learn from
their targets alone. Standard library only, so that ctest can run it without torch.
"""


def anchored_indices(positions, seq_len, free_rows=(), free_positions=()):
    """Indices i into `positions` (flat indices into a [batch, seq_len] batch, as mask_batch
    returns them) whose prediction is anchored: those whose row is not in free_rows (the rows
    packed from a list source) and which are not themselves in free_positions (the flat
    indices of phrase clozes)."""
    free_rows, free_positions = set(free_rows), set(free_positions)
    return [i for i, p in enumerate(positions)
            if p // seq_len not in free_rows and p not in free_positions]


def cloze_positions(clozes, seq_len):
    """Flat indices of the cloze characters of phrase_clozes' (row, start, length, k)."""
    return [r * seq_len + k for r, _start, _length, k in clozes]
