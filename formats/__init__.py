"""Bytes <-> typed records for every format unwind reads or writes; no policy, never imports `unwind`."""
