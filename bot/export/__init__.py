"""Exports of a party's discussion log, streamed from the store."""
