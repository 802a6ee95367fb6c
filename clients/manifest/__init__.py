"""Config as code: the manifest file, the plan of what it changes, and applying or exporting it."""
