"""Spec names that would break the generated code are refused by the checker, located at the name."""

from __future__ import annotations

import ast
import re

import pytest
from spec_helpers import GENERATED, copy_specs, edit, storyml

from codegen.spec.errors import SpecError
from codegen.spec.loader import load_specs
from codegen.spec.models import ArtifactsFile, EnumsFile, MlpModelFile
from codegen.spec.names import GENERATED_ENUM_MEMBERS, GENERATED_NAMES, RUST_PRELUDE

FEATURES, OUTPUTS, ENUMS, LABELS, ARTIFACTS = (
    "character/features.yaml",
    "character/outputs.yaml",
    "enums.yaml",
    "text/labels.yaml",
    "artifacts.yaml",
)

# (id, file, old text, new text, file of the problem, its key, fragment of its message)
CASES = [
    (
        "enum named Option",
        ENUMS,
        "  SceneType:",
        "  Option:\n    variants: [A, B]\n  SceneType:",
        ENUMS,
        "enums.Option",
        "enum 'Option' is a name of Rust's prelude",
    ),
    (
        "enum named Result",
        ENUMS,
        "  SceneType:",
        "  Result:\n    variants: [A, B]\n  SceneType:",
        ENUMS,
        "enums.Result",
        "Rust's prelude",
    ),
    (
        "enum named like a builtin",
        ENUMS,
        "  SceneType:",
        "  ValueError:\n    variants: [A]\n  SceneType:",
        ENUMS,
        "enums.ValueError",
        "a Python builtin",
    ),
    (
        "variant ALL",
        ENUMS,
        "[Whisper, Conversational, Declamatory, Internal]",
        "[Whisper, Conversational, Declamatory, Internal, ALL]",
        ENUMS,
        "enums.SpeechRegister.variants[4]",
        "becomes the member 'ALL', which the generated code defines itself",
    ),
    (
        "variant COUNT",
        ENUMS,
        "[Whisper, Conversational, Declamatory, Internal]",
        "[COUNT, Whisper, Conversational, Declamatory, Internal]",
        ENUMS,
        "enums.SpeechRegister.variants[0]",
        "defines itself",
    ),
    (
        "type named like a region's record",
        FEATURES,
        "  HistoryTurn:",
        "  SelfEdge:\n    fields: [{name: x}]\n  HistoryTurn:",
        FEATURES,
        "regions[2].name",
        "becomes the record type 'SelfEdge', as type 'SelfEdge' does",
    ),
    (
        "type named like an enum",
        FEATURES,
        "  HistoryTurn:",
        "  TemporalLayer:\n    fields: [{name: x}]\n  HistoryTurn:",
        FEATURES,
        "types.TemporalLayer",
        "becomes the record type 'TemporalLayer', as enum 'TemporalLayer' (",
    ),
    (
        "type named like a generated type",
        FEATURES,
        "  HistoryTurn:",
        "  TokenSpan:\n    fields: [{name: x}]\n  HistoryTurn:",
        FEATURES,
        "types.TokenSpan",
        "defines itself",
    ),
    (
        "region whose record is a prelude name",
        FEATURES,
        "  - name: self_edge\n",
        "  - name: option\n",
        FEATURES,
        "regions[2].name",
        "region 'option' becomes the record type 'Option', which is a name of Rust",
    ),
    (
        "region named field",
        FEATURES,
        "  - name: self_edge\n",
        "  - name: field\n",
        FEATURES,
        "regions[2].name",
        "its own body",
    ),
    (
        "head constants collide",
        OUTPUTS,
        "  - name: speech\n    weight: 0.20",
        "  - name: action_confidence\n    weight: 0.20",
        OUTPUTS,
        "heads[1].name",
        "becomes the constant 'ACTION_CONFIDENCE_OFFSET', as field 'confidence' of head 'action' does",
    ),
    (
        "layout named like a generated module",
        FEATURES,
        "name: character_features",
        "name: text",
        FEATURES,
        "name",
        "becomes the module 'text', which the generated code defines itself",
    ),
    (
        "event kind renders as ALL",
        LABELS,
        "    - SpeechAct",
        "    - SpeechAct\n    - aLL",
        LABELS,
        "event_kinds.labels[6]",
        "becomes the EventKind variant 'ALL'",
    ),
    (
        "two labels render alike",
        LABELS,
        "    - SpeechAct",
        "    - SpeechAct\n    - Speech act",
        LABELS,
        "event_kinds.labels[6]",
        "becomes the EventKind variant 'SpeechAct', as 'SpeechAct' does",
    ),
    (
        "one-hot field named like a writer parameter",
        FEATURES,
        "{name: action, onehot: ActionType",
        "{name: out, onehot: ActionType",
        FEATURES,
        "types.HistoryTurn.fields[0].name",
        "becomes a local variable of the generated writer of HistoryTurn",
    ),
    (
        "one-hot field named like a builtin the writer calls",
        FEATURES,
        "{name: scene_type, onehot: SceneType",
        "{name: float, onehot: SceneType",
        FEATURES,
        "regions[4].fields[0].name",
        "where 'float' is taken",
    ),
    (
        "model constants collide",
        ARTIFACTS,
        "  ner_classifier:\n",
        "  event_classifier_int8:\n",
        ARTIFACTS,
        "models.event_classifier_int8",
        "becomes the constant 'EVENT_CLASSIFIER_INT8_FILE', as model 'event_classifier' does",
    ),
]


def _problems(tmp_path, rel, old, new):
    specs = copy_specs(tmp_path)
    edit(specs / rel, old, new)
    with pytest.raises(SpecError) as err:
        load_specs(specs, codegen_only=True)
    return err.value.problems


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_a_name_that_breaks_generated_code_is_refused_at_its_key(tmp_path, case):
    _, rel, old, new, where, key, fragment = case
    problems = _problems(tmp_path, rel, old, new)
    hits = [p for p in problems if fragment in p.message]
    assert hits, "\n".join(map(str, problems))
    assert hits[0].file.endswith(where) and hits[0].key == key and hits[0].line > 1, hits[0]


@pytest.mark.parametrize("item, variable", [("Slot", "slot"), ("Try", "try"), ("Lambda", "lambda")])
def test_a_slot_item_type_named_like_an_encoder_variable_is_refused(tmp_path, item, variable):
    """The Python encoder binds each slot region's items to a variable named after their type:
    it must not shadow one of the encoder's own names, nor be a keyword (found by the random-spec
    property test: an item type `Try` generated `for slot, try in ...`)."""
    specs = copy_specs(tmp_path)
    edit(specs / FEATURES, "  HistoryTurn:\n", f"  {item}:\n")
    edit(specs / FEATURES, "    item: HistoryTurn", f"    item: {item}")
    with pytest.raises(SpecError) as err:
        load_specs(specs, codegen_only=True)
    hits = [p for p in err.value.problems if f"becomes the loop variable {variable!r}" in p.message]
    assert hits and hits[0].key == "regions[6].item" and hits[0].file.endswith(FEATURES), (
        err.value.problems
    )


def test_the_cli_reports_it_with_exit_2_and_writes_nothing(tmp_path):
    specs = copy_specs(tmp_path)
    edit(specs / ENUMS, "  SceneType:", "  Option:\n    variants: [A, B]\n  SceneType:")
    out = tmp_path / "generated"
    result = storyml("gen", "--specs", str(specs), "--out", str(out))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "enums.yaml:20: enums.Option: enum 'Option' is a name of Rust's prelude" in result.stderr
    assert not out.exists()


def _python_module_names(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            found.add(node.name)
        elif isinstance(node, ast.Assign):
            found |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            found.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
    return found


_RUST_ITEM = re.compile(
    r"^(?:pub(?:\([^)]*\))? )?(?:const fn|const|fn|struct|enum|mod|static|type|trait) (\w+)", re.M
)
_RUST_MEMBER = re.compile(r"^    (?:pub )?(?:const fn|const|fn) (\w+)", re.M)


def _rust_module_names(path) -> set[str]:
    """Items a Rust file declares at its top level, and the names its `use` declarations bring in."""
    text = path.read_text(encoding="utf-8")
    found = set(_RUST_ITEM.findall(text))
    for use in re.findall(r"^(?:pub )?use ([^;]+);", text, re.M):
        found |= {part.strip().split("::")[-1] for part in re.split(r"[{},]", use) if part.strip()}
    return found - {""}


def test_the_reserved_lists_cover_what_the_generated_python_and_rust_define():
    """Every module-level name of the committed package and crate is either rendered from a spec name
    (and then checked by the checker) or listed in GENERATED_NAMES: a template that adds a fixed name
    must list it."""
    from codegen.spec import names as N
    from codegen.spec.loader import load_specs as load

    specs = load(GENERATED.parent / "specs", codegen_only=True)
    from_specs = set(specs.one(EnumsFile).enums)
    for e in specs.of_kind("feature_layout"):
        m = e.model
        from_specs |= {m.name, N.top_type(m.name)} | set(m.types)
        for r in m.regions:
            from_specs |= set(N.region_constants(r.name, r.slots is not None).values())
            if r.fields is not None:
                from_specs |= {N.record_type(r.name)}
        records = [(t, spec.fields) for t, spec in m.types.items()]
        records += [(N.record_type(r.name), r.fields) for r in m.regions if r.fields is not None]
        for rec, fields in records:
            from_specs |= {N.record_width_constant(rec), "_" + N.writer(rec), N.writer(rec)}
            from_specs |= {N.record_field_constant(rec, f.name) for f in fields}
    for e in specs.of_kind("output_heads"):
        m = e.model
        from_specs |= {m.name, N.top_type(m.name)}
        for h in m.heads:
            from_specs |= {N.head_type(h.name), *N.head_constants(h.name).values()}
            from_specs |= {N.head_field_constant(h.name, f.name) for f in h.fields}
    mlp = specs.one(MlpModelFile)
    from_specs |= {
        N.role_constant(m.labels, mlp.output) for m in specs.one(ArtifactsFile).models.values()
    }
    for model in specs.one(ArtifactsFile).models:
        from_specs |= set(N.model_constants(model).values())
    package = GENERATED / "python" / "storyml_contract"
    defined = set().union(*(_python_module_names(p) for p in package.glob("*.py")))
    private = {n for n in defined if n.startswith("_")} - from_specs
    assert defined - from_specs - private <= GENERATED_NAMES, sorted(
        defined - from_specs - private - GENERATED_NAMES
    )
    crate = GENERATED / "rust" / "src"
    in_rust = set().union(*(_rust_module_names(p) for p in crate.glob("*.rs"))) - {
        "crate",
        "std",
        "self",
    }
    assert in_rust - from_specs <= GENERATED_NAMES, sorted(in_rust - from_specs - GENERATED_NAMES)
    enum_members = {
        n
        for n in vars(__import__("storyml_contract").enums.ENUMS["TemporalLayer"])
        if not n.startswith("_")
    } - set(specs.one(EnumsFile).enums["TemporalLayer"].variants)
    assert enum_members <= GENERATED_ENUM_MEMBERS | set(dir(int)), sorted(
        enum_members - GENERATED_ENUM_MEMBERS
    )
    rust_members = set(_RUST_MEMBER.findall((crate / "enums.rs").read_text(encoding="utf-8")))
    assert rust_members <= GENERATED_ENUM_MEMBERS, sorted(rust_members - GENERATED_ENUM_MEMBERS)
    assert "Option" in RUST_PRELUDE
