"""One shared encoder with two heads: event kinds per sentence and BIO tags per token.

`forward(input_ids, attention_mask)` returns both logits (`event_logits` [b, NUM_EVENT_KINDS],
`ner_logits` [b, seq, NUM_BIO_LABELS]); given `event_labels` and `ner_labels` it also returns
loss = event loss + NER loss (sigmoid BCE; cross-entropy weighted per BIO label). The sequence
head reads the first token's state ([CLS]), as the encoders' own classification heads do.

Chosen by `multi_task: true` in specs/text/training.yaml. Saved as `encoder/` (save_pretrained
of the shared encoder) plus `heads.safetensors` and `multitask.json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from storyml_contract.text import IGNORE_INDEX
from torch import nn
from transformers import AutoModel, PreTrainedModel
from transformers.utils import ModelOutput

from storyml.fsutil import atomic_write_text

HEADS_FILE = "heads.safetensors"
CONFIG_FILE = "multitask.json"
ENCODER_DIR = "encoder"
# Encoder config attributes that hold the dropout a classification head should use, by family.
HEAD_DROPOUT_ATTRIBUTES = (
    "classifier_dropout",
    "seq_classif_dropout",
    "hidden_dropout_prob",
    "dropout",
)


@dataclass
class MultiTaskOutput(ModelOutput):
    loss: torch.Tensor | None = None
    event_logits: torch.Tensor | None = None
    ner_logits: torch.Tensor | None = None


def head_dropout(config) -> float:
    for name in HEAD_DROPOUT_ATTRIBUTES:
        value = getattr(config, name, None)
        if isinstance(value, (int, float)):
            return float(value)
    return 0.0


class MultiTaskTextModel(nn.Module):
    ner_class_weights: torch.Tensor  # a buffer (register_buffer below): moves with the model

    def __init__(
        self,
        encoder: PreTrainedModel,
        num_event_labels: int,
        num_bio_labels: int,
        ner_class_weights: torch.Tensor | None = None,
    ):
        super().__init__()
        self.encoder = encoder
        self.config = encoder.config
        width = encoder.config.hidden_size
        self.dropout = nn.Dropout(head_dropout(encoder.config))
        self.event_head = nn.Linear(width, num_event_labels)
        self.ner_head = nn.Linear(width, num_bio_labels)
        weights = ner_class_weights if ner_class_weights is not None else torch.ones(num_bio_labels)
        # Not persistent: the weights are a property of one training set, not of the model.
        self.register_buffer("ner_class_weights", weights.float(), persistent=False)
        for head in (self.event_head, self.ner_head):
            nn.init.normal_(head.weight, std=getattr(encoder.config, "initializer_range", 0.02))
            nn.init.zeros_(head.bias)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        event_labels: torch.Tensor | None = None,
        ner_labels: torch.Tensor | None = None,
    ) -> MultiTaskOutput:
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        states = self.dropout(states)
        event_logits = self.event_head(states[:, 0])
        ner_logits = self.ner_head(states)
        loss = None
        if event_labels is not None and ner_labels is not None:
            loss = event_loss(event_logits, event_labels.float()) + weighted_token_loss(
                ner_logits, ner_labels, self.ner_class_weights
            )
        return MultiTaskOutput(loss=loss, event_logits=event_logits, ner_logits=ner_logits)

    def save_pretrained(self, directory: str | Path) -> None:
        directory = Path(directory)
        self.encoder.save_pretrained(directory / ENCODER_DIR)
        heads = {
            k: v.detach().contiguous().cpu()
            for k, v in self.state_dict().items()
            if not k.startswith("encoder.")
        }
        save_file(heads, str(directory / HEADS_FILE))
        shape = {
            "num_event_labels": self.event_head.out_features,
            "num_bio_labels": self.ner_head.out_features,
        }
        atomic_write_text(directory / CONFIG_FILE, json.dumps(shape, sort_keys=True) + "\n")

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> MultiTaskTextModel:
        directory = Path(directory)
        shape = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
        encoder = AutoModel.from_pretrained(directory / ENCODER_DIR, local_files_only=True)
        model = cls(encoder, shape["num_event_labels"], shape["num_bio_labels"])
        missing, unexpected = model.load_state_dict(
            load_file(str(directory / HEADS_FILE)), strict=False
        )
        if unexpected or any(not k.startswith("encoder.") for k in missing):
            raise ValueError(
                f"{directory / HEADS_FILE}: missing {missing}, unexpected {unexpected}"
            )
        return model


def event_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean sigmoid BCE over the rows with event labels; rows of -1 (silver records) are left out."""
    known = labels[:, 0] >= 0
    if bool(known.all()):
        return nn.functional.binary_cross_entropy_with_logits(logits, labels)
    if not bool(known.any()):
        return logits.sum() * 0.0
    return nn.functional.binary_cross_entropy_with_logits(logits[known], labels[known])


def weighted_token_loss(
    logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy over labelled tokens, each label weighted (special tokens/padding ignored)."""
    return nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        labels.reshape(-1),
        weight=weights.to(logits.dtype),
        ignore_index=IGNORE_INDEX,
    )
