"""Human evaluation: studies, invites, task assignment, attention checks, votes and exclusions."""
