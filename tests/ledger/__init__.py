"""Tests of the ledger package, which runs without Home Assistant."""
