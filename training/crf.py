"""Linear-chain CRF over per-token emissions, laid out as tanzhen and pytorch-crf read it:
transitions[i, j] scores tag i followed by tag j; start/end score the first/last tag.

Zero-initialised, so a CRF put on a trained softmax classifier starts out decoding exactly
what the classifier's argmax would, and only learns what tag-to-tag scores add.
"""
import torch
from torch import nn


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
    def decode(self, emissions, mask):
        """Best tag path per sequence (Viterbi), as lists cut to each sequence's length."""
        B, T, _ = emissions.shape
        score = self.start_transitions + emissions[:, 0]
        history = []
        for t in range(1, T):
            cand = score.unsqueeze(2) + self.transitions           # (B, from, to)
            best, idx = cand.max(dim=1)
            nxt = best + emissions[:, t]
            keep = mask[:, t].unsqueeze(1)
            score = torch.where(keep, nxt, score)
            # Past a sequence's end the pointer is the identity, so backtracking passes through.
            ident = torch.arange(score.shape[1], device=score.device).expand_as(idx)
            history.append(torch.where(keep, idx, ident))
        score = score + self.end_transitions
        cur = score.argmax(1)
        path = [cur]
        for idx in reversed(history):
            cur = idx.gather(1, cur.unsqueeze(1)).squeeze(1)
            path.append(cur)
        path = torch.stack(path[::-1], dim=1)
        lengths = mask.sum(1).tolist()
        return [path[b, :lengths[b]].tolist() for b in range(B)]
