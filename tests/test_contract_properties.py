"""Property tests: any valid spec generates Python that agrees with the spec.

Random specs are drawn with hypothesis, written as YAML, loaded, rendered and
the rendered package imported. A small interpreter below encodes records by
walking the spec itself; the generated straight-line code must agree with it.
"""

from __future__ import annotations

import copy
import keyword
import math
import random
import struct
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from codegen.generators.golden import load_generated_python
from codegen.spec.contract import build_contract
from codegen.spec.errors import SpecError
from codegen.spec.kinds import KINDS
from codegen.spec.layout import compute_feature_layout, compute_output_layout, count_mlp_parameters
from codegen.spec.loader import load_specs
from codegen.spec.models import FeatureLayoutFile, MlpModelFile, OutputHeadsFile
from codegen.spec.names import RESERVED, pascal_identifier, taken_by_language

SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Names the identifier checker accepts (a type named `Eq` or `Box` would be refused, by design).
pascal = st.from_regex(r"[A-Z][a-z]{1,6}[0-9]?", fullmatch=True).filter(
    lambda s: taken_by_language(s) is None
)
# A snake name may also become a type (region "eq" -> record type `Eq`), so its Pascal form must
# be free in both languages too.
snake = st.from_regex(r"[a-z][a-z_]{1,8}[0-9]?", fullmatch=True).filter(
    lambda s: (
        s not in RESERVED
        and not keyword.iskeyword(s)
        and taken_by_language(pascal_identifier(s)) is None
    )
)
# Any text a label may hold, quotes, backslashes, newlines and non-ASCII included.
label_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12).filter(
    str.strip
)


def _f32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


@st.composite
def enum_specs(draw):
    names = draw(st.lists(pascal, min_size=1, max_size=3, unique=True))
    return {
        n: {"variants": draw(st.lists(pascal, min_size=1, max_size=5, unique=True))} for n in names
    }


@st.composite
def feature_specs(draw, enums):
    enum_names = sorted(enums)
    types: dict = {}
    for tname in draw(st.lists(pascal, max_size=3, unique=True)):
        fields = []
        for fname in draw(st.lists(snake, min_size=1, max_size=4, unique=True)):
            shape = draw(
                st.sampled_from(["scalar", "onehot", "type"] if types else ["scalar", "onehot"])
            )
            if shape == "onehot":
                fields.append({"name": fname, "onehot": draw(st.sampled_from(enum_names))})
            elif shape == "type":  # only earlier types: no cycles
                fields.append({"name": fname, "type": draw(st.sampled_from(sorted(types)))})
            else:
                fields.append({"name": fname})
        types[tname] = {"fields": fields}
    regions = []
    for rname in draw(st.lists(snake, min_size=1, max_size=4, unique=True)):
        if types and draw(st.booleans()):
            slots = draw(
                st.sampled_from(
                    [
                        {"count": draw(st.integers(1, 4))},
                        {"count": draw(st.integers(1, 4)), "keyed": "sorted"},
                        {"per": draw(st.sampled_from(enum_names))},
                    ]
                )
            )
            regions.append(
                {"name": rname, "slots": slots, "item": draw(st.sampled_from(sorted(types)))}
            )
        else:
            fnames = draw(st.lists(snake, min_size=1, max_size=4, unique=True))
            regions.append(
                {
                    "name": rname,
                    "fields": [
                        {
                            "name": f,
                            **(
                                {"onehot": draw(st.sampled_from(enum_names))}
                                if draw(st.booleans())
                                else {}
                            ),
                        }
                        for f in fnames
                    ],
                }
            )
    # Region records are named after their region; keep them apart from type names.
    assume(not {pascal_identifier(r["name"]) for r in regions} & set(types))
    return {
        "kind": "feature_layout",
        "name": "features_x",
        "total": 1,
        "types": types,
        "regions": regions,
    }


OUTPUT_SHAPES = [
    ("categorical", "cross_entropy", "argmax", True),
    ("flag", "bce_with_logits", {"rule": "sigmoid_threshold", "threshold": 0.5}, False),
    ("flag", "bce_with_logits", {"rule": "sigmoid_threshold", "threshold": 0.6}, False),
    ("flags", "bce_with_logits", {"rule": "sigmoid_threshold", "threshold": 0.7}, True),
    ("scalar", "mse", "identity", False),
    ("scalar", "mse", {"rule": "abs_cutoff", "cutoff": 0.01}, False),
    ("scalar", "mse", {"rule": "round_or_none", "none_below": 0}, False),
    ("scalar", "mse", {"rule": "round_or_none", "none_below": 3}, False),
    ("scalar", "mse", {"rule": "round_or_none", "none_below": -2}, False),
    ("scalars", "mse", {"rule": "abs_cutoff", "cutoff": 0.25}, True),
    ("scalars", "mse", "identity", True),
    ("index", "mse", "round_clamp", True),
]


@st.composite
def output_specs(draw, enums):
    heads = []
    # `a_` and `a__` are distinct names but both heads would be `AHead`: `check` refuses that
    for hname in draw(st.lists(snake, min_size=1, max_size=3, unique_by=pascal_identifier)):
        fields = []
        for fname in draw(st.lists(snake, min_size=1, max_size=4, unique=True)):
            kind, loss, decode, needs_enum = draw(st.sampled_from(OUTPUT_SHAPES))
            field = {"name": fname, "kind": kind, "loss": loss, "decode": decode}
            if needs_enum:
                field["enum"] = draw(st.sampled_from(sorted(enums)))
            fields.append(field)
        heads.append(
            {"name": hname, "weight": draw(st.sampled_from([0.1, 0.25, 1.0])), "fields": fields}
        )
    return {"kind": "output_heads", "name": "outputs_x", "total": 1, "heads": heads}


@st.composite
def whole_specs(draw):
    enums = draw(enum_specs())
    features = draw(feature_specs(enums))
    outputs = draw(output_specs(enums))
    events = draw(st.lists(label_text, min_size=1, max_size=5, unique=True))
    categories = draw(st.lists(label_text, min_size=1, max_size=4, unique=True))
    for labels in (events, categories):
        assume(len({pascal_identifier(x) for x in labels}) == len(labels))
    enum_table = {n: e["variants"] for n, e in enums.items()}
    flayout = compute_feature_layout(FeatureLayoutFile.model_validate(features), enum_table)
    olayout = compute_output_layout(OutputHeadsFile.model_validate(outputs), enum_table)
    features["total"], outputs["total"] = flayout.total, olayout.total
    mlp = {
        "kind": "mlp_model",
        "name": "mlp_x",
        "input": "features_x",
        "output": "outputs_x",
        "trunk": [{"width": 8, "dropout": 0.1}],
        "head_hidden": 4,
        "activation": "relu",
        "parameters": 1,
        "training": {
            "optimizer": "adamw",
            "learning_rate": 0.001,
            "weight_decay": 0.0,
            "max_epochs": 1,
            "batch_size": 4,
            "plateau": {"factor": 0.5, "patience": 1},
            "early_stopping_patience": 1,
            "validation_fraction": 0.2,
            "split": "by_cell",
        },
    }
    mlp["parameters"] = count_mlp_parameters(
        MlpModelFile.model_validate(mlp), flayout.total, [h.width for h in olayout.heads]
    )
    return {
        "enums.yaml": {"kind": "enums", "enums": enums},
        "features.yaml": features,
        "outputs.yaml": outputs,
        "mlp.yaml": mlp,
        "labels.yaml": {
            "kind": "text_labels",
            "event_kinds": {"multi_label": True, "threshold": 0.5, "labels": events},
            "entity_categories": {"scheme": "BIO", "categories": categories},
            "entity_roles": ["Actor"],
            "registers": ["player"],
            "max_seq_length": 16,
            "ignore_index": -100,
        },
        "artifacts.yaml": {
            "kind": "artifacts",
            "tokenizer": "tokenizer.json",
            "opset": 18,
            "metadata": {"fingerprint": "x.fingerprint", "labels": "x.labels"},
            "models": {
                "events": {
                    "file": "e.onnx",
                    "inputs": ["input_ids"],
                    "outputs": ["logits"],
                    "labels": "event_kinds",
                },
                "mlp": {"file": "m.onnx", "inputs": ["features"], "labels": "outputs_x"},
            },
        },
        "contract.yaml": {
            "kind": "contract_version",
            "version": "1.0.0",
            "metadata_key": "x.version",
        },
    }


def write_specs(root: Path, files: dict) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
        assume(yaml.safe_load(text) == data)  # YAML itself cannot carry every string
        (root / name).write_text(text, encoding="utf-8")
    return root


# ---------------------------------------------------------------- an interpreter of the spec


class TooManyItems(Exception):
    """The reference's answer for a slot region given more items than it has slots."""


def reference_encode(layout, enums, record) -> list[float]:
    """Encode by walking the spec: slow and obvious, to check the generated fast path."""
    out = [0.0] * layout.total

    def write(shape, base, x):
        for f in shape.fields:
            value = getattr(x, f.name)
            if f.onehot is not None:
                if value is not None:
                    out[base + f.offset + int(value)] = 1.0
            elif f.type is not None:
                if value is not None:
                    write(layout.types[f.type], base + f.offset, value)
            else:
                out[base + f.offset] = float(value)

    for r in layout.regions:
        value = getattr(record, r.name)
        if r.record is not None:
            write(r.record, r.offset, value)
        elif r.slot_enum is not None:
            for variant, item in value.items():
                write(layout.types[r.item], r.offset + r.slot_width * int(variant), item)
        elif len(value) > r.slot_count:
            raise TooManyItems(r.name)
        elif r.keyed:
            for slot, key in enumerate(sorted(value)):
                write(layout.types[r.item], r.offset + r.slot_width * slot, value[key])
        else:
            for slot, item in enumerate(value):
                if item is not None:
                    write(layout.types[r.item], r.offset + r.slot_width * slot, item)
    return out


def random_record(rng, layout, mod, enums_mod, enums):
    def rec(cls_name, shape):
        kwargs = {}
        for f in shape.fields:
            if f.onehot is not None:
                kwargs[f.name] = (
                    None
                    if rng.random() < 0.3
                    else getattr(enums_mod, f.onehot)(rng.randrange(len(enums[f.onehot])))
                )
            elif f.type is not None:
                kwargs[f.name] = None if rng.random() < 0.3 else rec(f.type, layout.types[f.type])
            else:
                kwargs[f.name] = _f32(rng.uniform(-10, 10))
        return getattr(mod, cls_name)(**kwargs)

    kwargs = {}
    for r in layout.regions:
        if r.record is not None:
            kwargs[r.name] = rec(pascal_identifier(r.name), r.record)
        elif r.slot_enum is not None:
            kwargs[r.name] = {
                getattr(enums_mod, r.slot_enum)(i): rec(r.item, layout.types[r.item])
                for i in range(len(enums[r.slot_enum]))
                if rng.random() < 0.6
            }
        elif r.keyed:
            kwargs[r.name] = {
                f"k{rng.randrange(1000)}": rec(r.item, layout.types[r.item])
                for _ in range(rng.randrange(r.slot_count + 3))
            }
        else:
            kwargs[r.name] = [
                None if rng.random() < 0.3 else rec(r.item, layout.types[r.item])
                for _ in range(rng.randrange(r.slot_count + 3))
            ]
    return getattr(mod, pascal_identifier(layout.name))(**kwargs)


def _accepted_contract(root):
    """The contract of a drawn spec set. The strategies draw names independently, so two may render
    to one identifier ("aa" region, "Aa" enum), which the checker refuses on purpose: such a draw is
    set aside; any other refusal fails the test."""
    try:
        return build_contract(load_specs(root, codegen_only=True))
    except SpecError as exc:
        # Refused with a located reason a user can act on: two names collide, or a slot item
        # type would become a keyword or one of the encoder's own variables.
        assume(
            not all(
                ("rename one" in p.message or "rename the type" in p.message) for p in exc.problems
            )
        )
        raise


@SETTINGS
@given(files=whole_specs(), seed=st.integers(0, 2**32 - 1))
def test_random_specs_generate_python_that_agrees_with_the_spec(tmp_path_factory, files, seed):
    contract = _accepted_contract(write_specs(tmp_path_factory.mktemp("specs"), files))
    mods = load_generated_python(contract)
    text = mods["text"]
    # label order and content survive rendering
    assert list(text.EVENT_KIND_LABELS) == files["labels.yaml"]["event_kinds"]["labels"]
    cats = files["labels.yaml"]["entity_categories"]["categories"]
    assert list(text.ENTITY_CATEGORIES) == cats
    assert list(text.BIO_LABELS) == ["O"] + [f"{t}-{c}" for c in cats for t in "BI"]
    for c in cats:
        assert text.bio_label_to_category("B-" + c) == c and text.is_begin_tag("B-" + c)
    # offsets: contiguous, non-overlapping, adding up to the total
    layout = contract.features["features_x"]
    fmod = mods["features_x"]
    assert fmod.TOTAL == layout.total == len(fmod.FEATURE_NAMES) == len(set(fmod.FEATURE_NAMES))
    end = 0
    for r in layout.regions:
        from codegen.spec.names import screaming

        assert getattr(fmod, f"{screaming(r.name)}_OFFSET") == end
        end += getattr(fmod, f"{screaming(r.name)}_SIZE")
    assert end == fmod.TOTAL
    # the generated encoder agrees with the spec walked by hand, refusals included
    rng = random.Random(seed)
    for _ in range(3):
        record = random_record(rng, layout, fmod, mods["enums"], contract.enums)
        try:
            expected = reference_encode(layout, contract.enums, record)
        except TooManyItems as exc:
            with pytest.raises(fmod.EncodeError, match=f"^{exc}: "):
                fmod.encode_features(record)
            continue
        assert fmod.encode_features(record) == expected
    # output heads tile the output vector
    omod = mods["outputs_x"]
    offsets = [(f.offset, f.width) for f in omod.OUTPUT_FIELDS]
    assert offsets[0][0] == 0 and all(a + w == b for (a, w), (b, _) in zip(offsets, offsets[1:]))
    assert offsets[-1][0] + offsets[-1][1] == omod.TOTAL == len(omod.OUTPUT_NAMES)


def _random_targets(rng, contract, omod, enums_mod):
    layout = contract.outputs["outputs_x"]
    heads = {}
    for h in layout.heads:
        kwargs = {}
        for f in h.fields:
            s = f.spec
            n = len(contract.enums[s.enum]) if s.enum else 1
            if s.kind in ("categorical", "index"):
                kwargs[f.name] = getattr(enums_mod, s.enum)(rng.randrange(n))
            elif s.kind == "flag":
                kwargs[f.name] = rng.random() < 0.5
            elif s.kind == "flags":
                kwargs[f.name] = tuple(rng.random() < 0.5 for _ in range(n))
            elif s.decode.rule == "round_or_none":
                below = s.decode.none_below  # values below it decode as None
                kwargs[f.name] = None if rng.random() < 0.3 else rng.randrange(below, below + 20)
            else:
                cutoff = getattr(s.decode, "cutoff", 0.0)

                def draw(cutoff: float = cutoff) -> float:
                    return (
                        0.0
                        if rng.random() < 0.2
                        else _f32(math.copysign(rng.uniform(cutoff + 0.01, 5), rng.random() - 0.5))
                    )

                kwargs[f.name] = tuple(draw() for _ in range(n)) if s.kind == "scalars" else draw()
        heads[h.name] = getattr(omod, pascal_identifier(h.name) + "Head")(**kwargs)
    return getattr(omod, pascal_identifier(layout.name))(**heads)


@SETTINGS
@given(files=whole_specs(), seed=st.integers(0, 2**32 - 1))
def test_encode_then_decode_returns_the_targets(tmp_path_factory, files, seed):
    contract = _accepted_contract(write_specs(tmp_path_factory.mktemp("specs"), files))
    mods = load_generated_python(contract)
    omod = mods["outputs_x"]
    rng = random.Random(seed)
    for _ in range(5):
        target = _random_targets(rng, contract, omod, mods["enums"])
        assert omod.decode_outputs(omod.encode_labels(target)) == target


# ---------------------------------------------------------------- mutations never crash


def _mutate(data, rng):
    """One random edit somewhere in a nested spec: drop, retype, rename, duplicate, or add a key."""
    containers = []

    def walk(node):
        if isinstance(node, (dict, list)) and node:
            containers.append(node)
            for v in node.values() if isinstance(node, dict) else node:
                walk(v)

    walk(data)
    if not containers:  # an earlier edit left nothing nested to edit
        return
    target = rng.choice(containers)
    keys = list(target.keys()) if isinstance(target, dict) else list(range(len(target)))
    key = rng.choice(keys)
    action = rng.choice(["drop", "retype", "rename", "duplicate", "extra", "empty"])
    junk = rng.choice([None, 7, -1, 0.5, "x y", "Zoë", [], {}, True, "SpeechAct", "TemporalLayer"])
    if action == "drop":
        del target[key]
    elif action == "retype" or action == "rename" and isinstance(target, list):
        target[key] = junk
    elif action == "rename":
        target[rng.choice(["bogus", "Name", "kind", "fields"])] = target.pop(key)
    elif action == "duplicate" and isinstance(target, list):
        target.append(target[key])
    elif action == "extra" and isinstance(target, dict):
        target["unexpected_key"] = junk
    elif action == "empty":
        target[key] = type(target[key])() if isinstance(target[key], (list, dict, str)) else junk


REAL_SPECS = Path(__file__).resolve().parents[1] / "specs"
CODEGEN_KINDS = {name for name, kind in KINDS.items() if kind.codegen}


def _codegen_spec_data() -> dict[str, dict]:
    found = {}
    for p in sorted(REAL_SPECS.rglob("*.yaml")):
        text = p.read_text(encoding="utf-8")
        if any(f"kind: {k}\n" in text for k in CODEGEN_KINDS):
            found[p.relative_to(REAL_SPECS).as_posix().replace("/", "_")] = yaml.safe_load(text)
    return found


SPEC_DATA = _codegen_spec_data()


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32 - 1), edits=st.integers(1, 3))
def test_random_mutations_give_a_clean_error_never_a_crash(tmp_path_factory, seed, edits):
    rng = random.Random(seed)
    root = tmp_path_factory.mktemp("mut")
    victim = rng.choice(sorted(SPEC_DATA))
    for name, data in SPEC_DATA.items():
        data = copy.deepcopy(data)
        if name == victim:
            for _ in range(edits):
                _mutate(data, rng)
        (root / name).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    try:
        build_contract(load_specs(root, codegen_only=True))
    except SpecError as exc:
        assert exc.problems and all(p.file and p.line >= 1 and p.message for p in exc.problems)
