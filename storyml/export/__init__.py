"""storyml.export."""
