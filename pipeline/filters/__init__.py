"""Per-document filter stages: each one a plain function on one document and a recipe stage."""
