"""Case records and their timeline: the models, migrations and the store."""
