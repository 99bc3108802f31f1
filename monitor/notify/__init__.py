"""Notifying observatories: alert policy, e-mail composition, quicklooks and senders."""
