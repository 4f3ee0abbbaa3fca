"""Results: the Result schema, the run directory contract and the reports written into it."""
