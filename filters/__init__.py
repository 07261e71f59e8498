"""winnow filters."""
