"""winnow pipeline."""
