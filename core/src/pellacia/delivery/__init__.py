"""Delivery: intake of posts, the fallback-chain executor, the manual queue."""
