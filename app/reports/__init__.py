"""Programme reports: aggregate figures with their definitions, suppressed for export."""
