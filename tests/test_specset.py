"""SpecSet's typed lookups: a kind asked for by its model class is the kind the loader filed."""

from __future__ import annotations

import pytest
from spec_helpers import SPECS

from codegen.spec.build import BuildFile
from codegen.spec.kinds import KINDS
from codegen.spec.loader import load_specs
from codegen.spec.models import FeatureLayoutFile, TextLabelsFile


@pytest.fixture(scope="module")
def specs():
    return load_specs(SPECS)


def test_each_kind_has_its_own_model_class():
    """Lookups by class scan the loaded entries: unambiguous only while no two rows of the kind
    table share a model class or one row's class derives from another's."""
    models = [kind.model for kind in KINDS.values()]
    for model in models:
        assert [m for m in models if issubclass(m, model)] == [model], model.__name__


def test_a_lookup_by_class_finds_the_entries_filed_under_its_kind(specs):
    for name, kind in KINDS.items():
        assert specs.of_kind(kind.model) == specs.of_kind(name), name


def test_one_returns_the_model_of_its_class(specs):
    labels = specs.one(TextLabelsFile)
    assert isinstance(labels, TextLabelsFile)
    assert labels is specs.of_kind("text_labels")[0].model


def test_named_keys_the_files_of_a_kind_by_name(specs):
    layouts = specs.named(FeatureLayoutFile)
    assert layouts and all(layout.name == name for name, layout in layouts.items())


def test_one_of_a_kind_that_was_not_loaded_says_which():
    codegen_specs = load_specs(SPECS, codegen_only=True)  # the build spec is not read by codegen
    assert codegen_specs.of_kind(BuildFile) == []
    with pytest.raises(LookupError, match="no BuildFile spec is loaded"):
        codegen_specs.one(BuildFile)
