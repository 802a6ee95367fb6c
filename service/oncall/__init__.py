"""On-call schedules: rotations and overrides, who is on call (pure), use cases and iCal."""
