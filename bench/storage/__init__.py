"""Issue 15's upload benchmark: a 100 MB request body streamed into ``Storage``."""
