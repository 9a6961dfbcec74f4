"""Order reports: figures computed from the order tables (``selectors``), stored per day and
ISO week as ``OrderReport`` rows (``services``), shown on the admin dashboard."""
