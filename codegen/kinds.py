"""The table of spec file kinds: the `kind:` key of a file picks its model.

To add a kind of spec file, write its pydantic model and add a row here; the
loader, `storyml check` and `storyml schema` pick it up from this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pydantic import BaseModel

from . import spec, spec_build, spec_export, spec_matrix, spec_templates, spec_training


@dataclass(frozen=True)
class Kind:
    model: type[BaseModel]
    singleton: bool  # exactly one file of this kind in a specs directory
    contract: bool  # part of the engine contract (and of CONTRACT_FINGERPRINT)
    codegen: bool = False  # read by `storyml gen`; the other kinds feed data and training


KINDS: dict[str, Kind] = {
    "enums": Kind(spec.EnumsFile, singleton=True, contract=True, codegen=True),
    "feature_layout": Kind(spec.FeatureLayoutFile, singleton=False, contract=True, codegen=True),
    "output_heads": Kind(spec.OutputHeadsFile, singleton=False, contract=True, codegen=True),
    "text_labels": Kind(spec.TextLabelsFile, singleton=True, contract=True, codegen=True),
    "artifacts": Kind(spec.ArtifactsFile, singleton=True, contract=True, codegen=True),
    "mlp_model": Kind(spec.MlpModelFile, singleton=True, contract=False, codegen=True),
    # The character training matrix (storyml data characters); spec_matrix checks them together.
    "personality_axes": Kind(spec_matrix.PersonalityAxesFile, singleton=False, contract=False),
    "archetypes": Kind(spec_matrix.ArchetypesFile, singleton=False, contract=False),
    "relational_dynamics": Kind(spec_matrix.RelationalDynamicsFile, singleton=False, contract=False),
    "scene_profiles": Kind(spec_matrix.SceneProfilesFile, singleton=False, contract=False),
    "labelling_rules": Kind(spec_matrix.LabellingRulesFile, singleton=False, contract=False),
    "character_matrix": Kind(spec_matrix.CharacterMatrixFile, singleton=False, contract=False),
    "export": Kind(spec_export.ExportFile, singleton=True, contract=False),
    "build": Kind(spec_build.BuildFile, singleton=True, contract=False),
    "vocabulary": Kind(spec_templates.VocabularyFile, singleton=False, contract=False),
    "templates": Kind(spec_templates.TemplatesFile, singleton=False, contract=False),
    "register_rules": Kind(spec_templates.RegisterRulesFile, singleton=False, contract=False),
    "encoders": Kind(spec_training.EncodersFile, singleton=True, contract=False),
    "text_training": Kind(spec_training.TextTrainingFile, singleton=True, contract=False),
}

# Cross-file checks of kinds added after the contract (templates, vocabulary, ...):
# each takes the loaded SpecSet and returns a list of SpecProblem.
EXTRA_CHECKS: list[Callable] = [spec_matrix.check_matrix,
                                spec_templates.check_templates, spec_training.check_training_specs,
                                spec_export.check_export, spec_build.check_build]
