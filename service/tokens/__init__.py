"""API tokens: random secrets of which only a hash is kept."""
