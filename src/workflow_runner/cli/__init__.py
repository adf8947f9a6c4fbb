"""The ``workflow-runner`` command line."""
