"""A definition's ``schedule``: ``every``/``cron`` as Temporal Schedules (``schedules``),
``after`` as a loop workflow (``repeat``), ``on`` through the task queue's event router
(``triggers``)."""
