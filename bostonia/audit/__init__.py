"""The audit log: who did what to whom (admin actions, admin reads of private conversations)."""
