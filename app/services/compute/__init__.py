"""Automatic metrics' plumbing: worker jobs and the feature cache."""
