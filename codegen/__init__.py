"""The specs and their generators: two packages, imported in one direction.

- `codegen.spec`: everything about reading specs. YAML source with line tracking and
  located errors (`source`, `errors`), one pydantic model per spec kind (`models`,
  `templates`, `matrix`, ...) listed in the `kinds` table, the loader, cross-file checks,
  derived layouts, the contract and its compatibility rules.
- `codegen.generators`: everything written from a contract. One renderer per language
  (`python`, `rust`), the golden vectors, the JSON Schemas, the Jinja templates and the
  atomic tree writer.

Flow: YAML -> `spec.loader.load_specs` -> `spec.contract.build_contract` ->
`generators.generate.render_all` -> `generators.writer.write_tree`. The generators import
the spec package; the spec package never imports the generators.
"""
