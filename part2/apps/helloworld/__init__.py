"""A minimal Django project: one view, no database."""
