"""Retries with backoff and jitter (notebook 03): the policies and retry loop (`policies`), and Marc
Brooker's backoff simulator (`simulator`). The herd measured on real Redis is a lab scenario."""
