"""Reading specs: YAML with positions, models per kind, validation, derivation, compatibility.

Nothing here imports `codegen.generators` or the runtime (`storyml`): the spec package is the
bottom layer that everything else reads from.
"""
