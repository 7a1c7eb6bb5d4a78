"""storyml.evaluate."""
