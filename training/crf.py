"""Linear-chain CRF over per-token emissions, laid out as tanzhen and pytorch-crf read it:
transitions[i, j] scores tag i followed by tag j; start/end score the first/last tag.

Zero-initialised, so a CRF put on a trained softmax classifier starts out decoding exactly
what the classifier's argmax would, and only learns what tag-to-tag scores add.
"""
import torch
from torch import nn


def scheme_constraints(labels):
    """Which transitions the labels' tag scheme allows, as tanzhen's forbid_invalid_transitions
    reads them (BIO or BIOES labels "X-TYPE" and "O"): (transitions[i, j], start[j], end[j]) bool
    masks. I-T / E-T never come first and only follow B-T / I-T; with E/S tags (BIOES) B-T / I-T
    must go on with I-T / E-T and cannot end the sentence."""
    n = len(labels)
    prefix = [l[0] if l != "O" else "O" for l in labels]
    kind = [l[2:] for l in labels]
    closing = any(p in "ES" for p in prefix)
    cont = [p in "IE" for p in prefix]
    still_open = [closing and p in "BI" for p in prefix]
    trans = torch.ones(n, n, dtype=torch.bool)
    for i in range(n):
        for j in range(n):
            inside = prefix[i] in "BI" and kind[i] == kind[j]
            trans[i, j] = inside if cont[j] else not still_open[i]
    return trans, ~torch.tensor(cont), ~torch.tensor(still_open)


class CRF(nn.Module):
    def __init__(self, num_tags):
        super().__init__()
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))
        self.start_transitions = nn.Parameter(torch.zeros(num_tags))
        self.end_transitions = nn.Parameter(torch.zeros(num_tags))

    def nll(self, emissions, tags, mask):
        """Sum over the batch of -log p(tags | emissions). emissions (B, T, L) float,
        tags (B, T) long, mask (B, T) bool with every sequence's valid steps first and
        mask[:, 0] all true."""
        B, T, _ = emissions.shape
        tags = tags.masked_fill(~mask, 0)
        rows = torch.arange(B, device=emissions.device)
        # Score of the gold path.
        gold = self.start_transitions[tags[:, 0]] + emissions[rows, 0, tags[:, 0]]
        for t in range(1, T):
            step = self.transitions[tags[:, t - 1], tags[:, t]] + emissions[rows, t, tags[:, t]]
            gold = gold + step * mask[:, t]
        last = tags[rows, mask.sum(1) - 1]
        gold = gold + self.end_transitions[last]
        # Log partition by the forward algorithm.
        alpha = self.start_transitions + emissions[:, 0]
        for t in range(1, T):
            nxt = torch.logsumexp(alpha.unsqueeze(2) + self.transitions + emissions[:, t].unsqueeze(1),
                                  dim=1)
            alpha = torch.where(mask[:, t].unsqueeze(1), nxt, alpha)
        log_z = torch.logsumexp(alpha + self.end_transitions, dim=1)
        return (log_z - gold).sum()

    @torch.no_grad()
    def decode(self, emissions, mask, allowed=None):
        """Best tag path per sequence (Viterbi), as lists cut to each sequence's length. With
        `allowed` (scheme_constraints' masks) the best path among the valid ones."""
        B, T, _ = emissions.shape
        transitions, start, end = self.transitions, self.start_transitions, self.end_transitions
        if allowed is not None:
            never = float("-inf")
            transitions = transitions.masked_fill(~allowed[0], never)
            start, end = start.masked_fill(~allowed[1], never), end.masked_fill(~allowed[2], never)
        score = start + emissions[:, 0]
        history = []
        for t in range(1, T):
            cand = score.unsqueeze(2) + transitions                # (B, from, to)
            best, idx = cand.max(dim=1)
            nxt = best + emissions[:, t]
            keep = mask[:, t].unsqueeze(1)
            score = torch.where(keep, nxt, score)
            # Past a sequence's end the pointer is the identity, so backtracking passes through.
            ident = torch.arange(score.shape[1], device=score.device).expand_as(idx)
            history.append(torch.where(keep, idx, ident))
        score = score + end
        cur = score.argmax(1)
        path = [cur]
        for idx in reversed(history):
            cur = idx.gather(1, cur.unsqueeze(1)).squeeze(1)
            path.append(cur)
        path = torch.stack(path[::-1], dim=1)
        lengths = mask.sum(1).tolist()
        return [path[b, :lengths[b]].tolist() for b in range(B)]
