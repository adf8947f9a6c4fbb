"""Where runs execute: the embedded dev server (local mode) or a cluster (cloud mode),
with the blob store and an in-process worker (``services.py``), and local housekeeping."""
