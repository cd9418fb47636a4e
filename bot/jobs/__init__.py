"""Scheduled jobs: reconcile (catches webhooks that never came) and the follow-ups (morning
reminders, Monday recaps). One replica runs them at a time on PostgreSQL (leader.py)."""
