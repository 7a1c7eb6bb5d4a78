"""storyml.data."""
