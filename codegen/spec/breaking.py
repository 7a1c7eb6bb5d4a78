"""The compatibility rules `storyml diff` checks, each with an id and a category (as buf's are).

A finding of `storyml diff` names the rule it was judged by. A breaking rule's finding fails the
gate unless the contract's major version went up or `specs/contract.yaml` acknowledges that rule
for the new version; a compatible rule's finding is reported and passes.

Categories say what a change breaks:
  INDEX     a position in an input, output or label vector: a model or engine built before reads
            the wrong float or label
  MEANING   the same positions, another meaning: a decode rule, threshold or default
  BINDING   a name the engine binds: a file, an ONNX input or output, a metadata key, a layout
  TRAINING  nothing an existing model relies on; new entries need a retrained model to be used
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Category = Literal["INDEX", "MEANING", "BINDING", "TRAINING"]


@dataclass(frozen=True)
class Rule:
    id: str
    category: Category
    breaking: bool
    text: str  # what the rule keeps

    @property
    def severity(self) -> str:
        return "BREAKING" if self.breaking else "compatible"


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        # enums (specs/enums.yaml): one-hot positions
        Rule("ENUM_NO_DELETE", "BINDING", True, "an enum is never removed"),
        Rule("ENUM_ADDED", "TRAINING", False, "a new enum"),
        Rule(
            "ENUM_VARIANTS_APPEND_ONLY",
            "INDEX",
            True,
            "a variant keeps its one-hot index: variants are only appended",
        ),
        Rule("ENUM_VARIANTS_APPENDED", "TRAINING", False, "variants appended after the last"),
        Rule(
            "ENUM_DEFAULT_SAME",
            "MEANING",
            True,
            "a missing value keeps counting as the same variant",
        ),
        # text models (specs/text/labels.yaml): label positions and decoding
        Rule(
            "EVENT_KINDS_APPEND_ONLY",
            "INDEX",
            True,
            "an event kind keeps its label index: kinds are only appended",
        ),
        Rule("EVENT_KINDS_APPENDED", "TRAINING", False, "event kinds appended after the last"),
        Rule(
            "EVENT_THRESHOLD_SAME",
            "MEANING",
            True,
            "an event kind is predicted above the same threshold",
        ),
        Rule(
            "EVENT_MULTI_LABEL_SAME",
            "MEANING",
            True,
            "event kinds stay multi-label, or single-label",
        ),
        Rule(
            "EVENT_AT_LEAST_ONE_SAME",
            "MEANING",
            True,
            "a sentence with no kind above the threshold keeps getting its most likely kind, or none",
        ),
        Rule(
            "BIO_LABELS_APPEND_ONLY",
            "INDEX",
            True,
            "a BIO label keeps its index: categories are only appended",
        ),
        Rule("BIO_LABELS_APPENDED", "TRAINING", False, "BIO labels appended after the last"),
        Rule(
            "ENTITY_ROLES_APPEND_ONLY",
            "INDEX",
            True,
            "an entity role keeps its index: roles are only appended",
        ),
        Rule("ENTITY_ROLES_APPENDED", "TRAINING", False, "entity roles appended after the last"),
        Rule(
            "REGISTERS_APPEND_ONLY",
            "INDEX",
            True,
            "a register keeps its index: registers are only appended",
        ),
        Rule("REGISTERS_APPENDED", "TRAINING", False, "registers appended after the last"),
        Rule("MAX_SEQ_LENGTH_CHANGED", "TRAINING", False, "the text models' window length"),
        Rule("IGNORE_INDEX_CHANGED", "TRAINING", False, "the label index training ignores"),
        # feature and output vectors (specs/character/)
        Rule("FEATURES_NO_DELETE", "BINDING", True, "a feature layout is never removed"),
        Rule("FEATURES_ADDED", "TRAINING", False, "a new feature layout"),
        Rule(
            "FEATURES_APPEND_ONLY",
            "INDEX",
            True,
            "a feature keeps its offset: features are only appended",
        ),
        Rule("FEATURES_APPENDED", "TRAINING", False, "features appended after the last"),
        Rule("OUTPUTS_NO_DELETE", "BINDING", True, "an output layout is never removed"),
        Rule("OUTPUTS_ADDED", "TRAINING", False, "a new output layout"),
        Rule(
            "OUTPUTS_APPEND_ONLY",
            "INDEX",
            True,
            "an output keeps its offset: outputs are only appended",
        ),
        Rule("OUTPUTS_APPENDED", "TRAINING", False, "outputs appended after the last"),
        Rule(
            "HEADS_APPEND_ONLY",
            "BINDING",
            True,
            "a head keeps its place and name: heads are only appended",
        ),
        Rule("HEADS_APPENDED", "TRAINING", False, "heads appended after the last"),
        Rule(
            "DECODE_SAME", "MEANING", True, "an output field decodes by the same rule and numbers"
        ),
        Rule("LOSS_CHANGED", "TRAINING", False, "an output field's training loss"),
        Rule("LOSS_WEIGHT_CHANGED", "TRAINING", False, "a head's loss weight"),
        # artifacts (specs/artifacts.yaml, specs/contract.yaml): what the engine loads and binds
        Rule("ARTIFACT_NO_DELETE", "BINDING", True, "a model artifact is never removed"),
        Rule("ARTIFACT_ADDED", "TRAINING", False, "a new model artifact"),
        Rule("ARTIFACT_FILE_SAME", "BINDING", True, "a model keeps its file name"),
        Rule(
            "ARTIFACT_INPUTS_APPEND_ONLY",
            "BINDING",
            True,
            "a model's ONNX inputs keep their names and order",
        ),
        Rule("ARTIFACT_INPUTS_APPENDED", "TRAINING", False, "ONNX inputs appended after the last"),
        Rule(
            "ARTIFACT_OUTPUTS_APPEND_ONLY",
            "BINDING",
            True,
            "a model's ONNX outputs keep their names and order",
        ),
        Rule(
            "ARTIFACT_OUTPUTS_APPENDED", "TRAINING", False, "ONNX outputs appended after the last"
        ),
        Rule("TOKENIZER_FILE_SAME", "BINDING", True, "the tokenizer keeps its file name"),
        Rule("OPSET_CHANGED", "TRAINING", False, "the ONNX opset models are exported with"),
        Rule(
            "METADATA_KEYS_SAME",
            "BINDING",
            True,
            "the ONNX metadata keys an engine checks keep their names",
        ),
    )
}

BREAKING_RULES = tuple(r.id for r in RULES.values() if r.breaking)


def rule(rule_id: str) -> Rule:
    """The rule of that id; an id not in the table is a bug (KeyError), never a silent default."""
    return RULES[rule_id]
