"""winnow trainer."""
