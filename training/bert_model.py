"""A small BERT in plain PyTorch whose parameter names are Hugging Face's, so that
export_hf.py can write state_dict() keys unchanged (bert.embeddings.word_embeddings.weight,
bert.encoder.layer.0.attention.self.query.weight, cls.predictions.*, classifier.*, crf.*).

Semantics follow transformers' BertModel: post-LayerNorm blocks, exact (erf) GELU,
LayerNorm eps 1e-12, absolute position embeddings, token type 0 everywhere.
"""
import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F

from crf import CRF


@dataclass
class BertConfig:
    vocab_size: int = 21128
    hidden_size: int = 256
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 1024
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    layer_norm_eps: float = 1e-12
    initializer_range: float = 0.02

    def to_dict(self):
        return asdict(self)


class Embeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=0)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.word_embeddings(ids) + self.position_embeddings(pos)[None] \
            + self.token_type_embeddings.weight[0]
        return self.dropout(self.LayerNorm(x))


class SelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.h = c.num_attention_heads
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)
        self.dropout = nn.Dropout(c.attention_probs_dropout_prob)

    def forward(self, x, bias):
        b, t, d = x.shape
        dh = d // self.h

        def split(y):
            return y.view(b, t, self.h, dh).transpose(1, 2)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(dh)
        if bias is not None:
            scores = scores + bias
        p = self.dropout(torch.softmax(scores, dim=-1))
        return torch.matmul(p, v).transpose(1, 2).reshape(b, t, d)


class DenseNorm(nn.Module):
    """The 'output' sub-module of HF: dense -> dropout -> LayerNorm(residual + .)."""

    def __init__(self, c, d_in):
        super().__init__()
        self.dense = nn.Linear(d_in, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, h, residual):
        return self.LayerNorm(residual.float() + self.dropout(self.dense(h)).float())


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = SelfAttention(c)
        self.output = DenseNorm(c, c.hidden_size)

    def forward(self, x, bias):
        return self.output(self.self(x, bias), x)


class Intermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)

    def forward(self, x):
        return F.gelu(self.dense(x))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = Attention(c)
        self.intermediate = Intermediate(c)
        self.output = DenseNorm(c, c.intermediate_size)

    def forward(self, x, bias):
        a = self.attention(x, bias)
        return self.output(self.intermediate(a), a)


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([Layer(c) for _ in range(c.num_hidden_layers)])

    def forward(self, x, bias):
        for layer in self.layer:
            x = layer(x, bias)
        return x


class BertModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = Embeddings(c)
        self.encoder = Encoder(c)

    def forward(self, ids, attention_mask=None):
        bias = None
        if attention_mask is not None:
            # Additive mask over keys: 0 for real tokens, large negative for padding.
            bias = (1.0 - attention_mask[:, None, None, :].float()) * -10000.0
        return self.encoder(self.embeddings(ids), bias)


def init_weights(module, std):
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, std)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, std)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class PredictionTransform(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, x):
        # .float(): torch 1.13's CPU LayerNorm rejects bf16 input under autocast.
        return self.LayerNorm(F.gelu(self.dense(x)).float())


class LMPredictionHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.transform = PredictionTransform(c)
        self.bias = nn.Parameter(torch.zeros(c.vocab_size))


class MLMHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.predictions = LMPredictionHead(c)


class BertForMaskedLM(nn.Module):
    """Decoder weight tied to the word embeddings (so it is not a separate parameter)."""

    def __init__(self, c):
        super().__init__()
        self.config = c
        self.bert = BertModel(c)
        self.cls = MLMHead(c)
        init_weights(self, c.initializer_range)

    def logits_at(self, ids, positions, attention_mask=None):
        """Vocabulary logits only at the flat `positions` of ids (saves the 21128-wide GEMM
        for the ~85% of tokens that are not predicted); attention_mask (1 = token, 0 =
        padding) for rows padded after their [SEP]."""
        h = self.bert(ids, attention_mask)
        h = h.reshape(-1, h.shape[-1])[positions]
        h = self.cls.predictions.transform(h)
        return h @ self.bert.embeddings.word_embeddings.weight.t() + self.cls.predictions.bias


def load_mlm_checkpoint(path):
    """The BertForMaskedLM of a pretraining checkpoint (training/runs/*/checkpoint.pt), in eval
    mode on the CPU; every parameter must match (the --anchor of pretrain_mlm.py, the
    --checkpoint of eval_fill_mask.py)."""
    ck = torch.load(path, map_location="cpu")
    model = BertForMaskedLM(BertConfig(**ck["config"]))
    model.load_state_dict(ck["model"])
    return model.eval()


class BertForTokenClassification(nn.Module):
    """Per-token tag scores; with crf=True they are the emissions of a CRF (crf.py) that
    scores whole tag paths, as in DAMO's RaNER (tanzhen reads crf.* the same way)."""

    def __init__(self, c, num_labels, classifier_dropout=0.1, crf=False):
        super().__init__()
        self.config = c
        self.bert = BertModel(c)
        self.dropout = nn.Dropout(classifier_dropout)
        self.classifier = nn.Linear(c.hidden_size, num_labels)
        init_weights(self, c.initializer_range)
        self.crf = CRF(num_labels) if crf else None

    def forward(self, ids, attention_mask):
        return self.classifier(self.dropout(self.bert(ids, attention_mask)))
