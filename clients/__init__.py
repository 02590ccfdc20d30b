"""Tenancy (agencies, members, invitations), clients, the client portal and billing."""
