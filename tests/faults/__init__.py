"""Fault suite (issue step 10): real processes and servers, hostile inputs."""
