"""The `storyml` command: a small set of verbs that read like the workflow.

    check -> gen -> data -> build (train, export, quantize, evaluate) -> predict

Each verb lives in its own module with `add_arguments(parser)` and
`run(args) -> int`; this table is the only place that lists them. Modules are
imported lazily so `storyml check` works even when the runtime's heavy
dependencies (torch, onnxruntime) or the generated package are broken.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from codegen.spec.errors import SpecError
from storyml.errors import UserError

# verb -> (module, one-line help). Modules define add_arguments() and run().
VERBS: dict[str, tuple[str, str]] = {
    "check": ("storyml.cli.check", "validate the specs and report every problem"),
    "gen": ("storyml.cli.gen", "generate the Python and Rust contract from the specs"),
    "schema": ("storyml.cli.schema", "write the JSON Schema of every spec file kind"),
    "diff": ("storyml.cli.diff", "compare the contract with an earlier git revision"),
    "data": ("storyml.cli.data", "generate training data (events, characters) from the specs"),
    "build": ("storyml.cli.build", "check, generate, make data, train, export, quantize, evaluate"),
    "evaluate": ("storyml.cli.evaluate", "evaluate trained models and write reports"),
    "predict": ("storyml.cli.predict", "run the exported ONNX models on text"),
    "vocab": ("storyml.cli.vocab", "import vocabulary lists from lexical sources (WordNet, faker)"),
}

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="storyml", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    argv_verb = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    for verb, (module, help_text) in VERBS.items():
        p = sub.add_parser(verb, help=help_text, description=help_text)
        # Only the chosen verb's module is imported; the others just list their help.
        if verb == argv_verb:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:])
    if args.verb is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    module = importlib.import_module(VERBS[args.verb][0])
    try:
        return int(module.run(args) or 0)
    except SpecError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        n = len(exc.problems)
        print(f"{n} problem{'s' if n != 1 else ''} in the specs", file=sys.stderr)
        return EXIT_BAD_INPUT
    except UserError as exc:
        print(f"storyml {args.verb}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (
        OSError
    ) as exc:  # a file-system error no verb foresaw: one line naming the path, not a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"storyml {args.verb}: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
