"""`storyml build`: specs in, deployable and evaluated models out.

`stages` holds the pipeline (one method per stage), `cache` the stage stamps that let an
unchanged stage be skipped, `report` the BUILD.md summary.
"""
