"""Tests for the Energy Tokens integration."""
