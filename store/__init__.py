"""The CRM's follow-up store: domain model and persistence."""
