"""Spec loading, validation and code generation for the storyteller ML contract.

Flow: YAML files -> `loader.load_specs` (line-tracked, pydantic-validated,
cross-checked) -> `contract.build_contract` (derived offsets, labels,
fingerprint) -> renderers (`render_python`, `render_rust`, `schema`) ->
`writer.write_tree` (atomic, deterministic).
"""
