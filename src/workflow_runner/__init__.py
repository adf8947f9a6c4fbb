"""workflow-runner: Serverless Workflow DSL 1.0 on Temporal with claim-check offloading."""

__version__ = "0.1.0"
