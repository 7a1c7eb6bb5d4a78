"""storyml.train."""
