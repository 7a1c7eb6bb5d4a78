"""storyml: the storyteller ML pipeline driven from declarative specs."""

__version__ = "0.1.0"
