"""Rendering of questions, claims, derivations, statuses and rubrics as Markdown for the site."""
