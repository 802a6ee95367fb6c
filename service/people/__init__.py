"""People: users, their contact methods and notification rules, and where webhook pages may go."""
