"""The table of spec file kinds: the `kind:` key of a file picks its model.

To add a kind of spec file, write its pydantic model and add a row here; the
loader, `storyml check` and `storyml schema` pick it up from this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pydantic import BaseModel

from codegen.spec import (
    build,
    composition,
    corpus,
    coverage,
    export,
    matrix,
    models,
    prose,
    templates,
    training,
    versioning,
)
from codegen.spec.errors import SpecProblem
from codegen.spec.specset import SpecSet


@dataclass(frozen=True)
class Kind:
    model: type[BaseModel]
    singleton: bool  # exactly one file of this kind in a specs directory
    contract: bool  # part of the engine contract (and of CONTRACT_FINGERPRINT)
    codegen: bool = False  # read by `storyml gen`; the other kinds feed data and training


KINDS: dict[str, Kind] = {
    "enums": Kind(models.EnumsFile, singleton=True, contract=True, codegen=True),
    "feature_layout": Kind(models.FeatureLayoutFile, singleton=False, contract=True, codegen=True),
    "output_heads": Kind(models.OutputHeadsFile, singleton=False, contract=True, codegen=True),
    "text_labels": Kind(models.TextLabelsFile, singleton=True, contract=True, codegen=True),
    "artifacts": Kind(models.ArtifactsFile, singleton=True, contract=True, codegen=True),
    "mlp_model": Kind(models.MlpModelFile, singleton=True, contract=False, codegen=True),
    # The contract's version: rendered into the generated code, not part of the fingerprint.
    "contract_version": Kind(
        versioning.ContractVersionFile, singleton=True, contract=False, codegen=True
    ),
    # The character training matrix (storyml data characters); codegen.spec.matrix checks them together.
    "personality_axes": Kind(matrix.PersonalityAxesFile, singleton=False, contract=False),
    "archetypes": Kind(matrix.ArchetypesFile, singleton=False, contract=False),
    "relational_dynamics": Kind(matrix.RelationalDynamicsFile, singleton=False, contract=False),
    "scene_profiles": Kind(matrix.SceneProfilesFile, singleton=False, contract=False),
    "labelling_rules": Kind(matrix.LabellingRulesFile, singleton=False, contract=False),
    "character_matrix": Kind(matrix.CharacterMatrixFile, singleton=False, contract=False),
    "export": Kind(export.ExportFile, singleton=True, contract=False),
    "build": Kind(build.BuildFile, singleton=True, contract=False),
    "vocabulary": Kind(templates.VocabularyFile, singleton=False, contract=False),
    "templates": Kind(templates.TemplatesFile, singleton=False, contract=False),
    "register_rules": Kind(templates.RegisterRulesFile, singleton=False, contract=False),
    "composition": Kind(composition.CompositionFile, singleton=True, contract=False),
    "encoders": Kind(training.EncodersFile, singleton=True, contract=False),
    "text_training": Kind(training.TextTrainingFile, singleton=True, contract=False),
    # Opt-in silver-labelled real text (storyml data silver; needs the `silver` extra).
    "corpus": Kind(corpus.CorpusFile, singleton=False, contract=False),
    # Hand-written, hand-annotated training sentences (build profile `prose`).
    "annotated_prose": Kind(prose.AnnotatedProseFile, singleton=False, contract=False),
}

# Cross-file checks of kinds added after the contract (templates, vocabulary, ...):
# each takes the loaded SpecSet and returns a list of SpecProblem.
EXTRA_CHECKS: list[Callable[[SpecSet], list[SpecProblem]]] = [
    matrix.check_matrix,
    templates.check_templates,
    composition.check_composition,
    training.check_training_specs,
    coverage.check_coverage,
    export.check_export,
    build.check_build,
    corpus.check_corpus,
    prose.check_prose,
]
