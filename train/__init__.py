"""Trainer that consumes packed token shards. Not built yet."""
